// Runs searches on worker threads (search_worker.ts) so the server's event loop
// stays free: at most MAX_RUNNING at once (more wait their turn, inside their
// own budget), a few idle workers kept for the next call. A search is stopped
// through a shared stop word at its time budget or on cancel, and answers with
// what it found; one that does not answer soon after is ended outright.
import { dirname } from "node:path";
import { STOP_CANCEL, STOP_TIME, type SearchAnswer, type SearchJob, type SearchRequest, type StopReason } from "./search_engine.ts";

/** Searches running at once; the rest queue. Two cores' worth plus room, so healthz and other calls keep a core. */
export const MAX_RUNNING = 4;
const MAX_IDLE = 2;
const IDLE_MS = 60_000;
/** How long a stopped search gets to answer with its findings before its thread is ended (a hung filesystem call). */
export const STOP_GRACE_MS = 2_000;

/**
 * In the compiled binary the worker is an extra entrypoint, embedded beside main under /$bunfs/root
 * with its path below src/ (build/build.ts); import.meta.url there still names the source file, so it cannot be used.
 */
function workerSpecifier(): string {
  if (Bun.main.startsWith("/$bunfs/")) return `${dirname(Bun.main)}/tools/search_worker.js`;
  return new URL("./search_worker.ts", import.meta.url).href;
}

/** How a pooled search ended: its worker's answer, or stopped with no answer (queued past its budget, or its thread had to be ended). */
export type PoolResult = { answer: SearchAnswer } | { unanswered: StopReason };

interface IdleWorker {
  worker: Worker;
  timer: ReturnType<typeof setTimeout>;
}

const idle: IdleWorker[] = [];
const queue: (() => void)[] = [];
let running = 0;
let started = 0;

/** For tests: searches running, workers idle, workers ever started. */
export function searchPoolStats(): { running: number; idle: number; started: number } {
  return { running, idle: idle.length, started };
}

function takeWorker(): Worker {
  const kept = idle.pop();
  if (kept) {
    clearTimeout(kept.timer);
    kept.worker.ref();
    return kept.worker;
  }
  started++;
  return new Worker(workerSpecifier());
}

function keepWorker(worker: Worker): void {
  if (idle.length >= MAX_IDLE) {
    worker.terminate();
    return;
  }
  worker.unref(); // an idle worker must not keep the process alive
  const entry: IdleWorker = {
    worker,
    timer: setTimeout(() => {
      const i = idle.indexOf(entry);
      if (i >= 0) idle.splice(i, 1);
      worker.terminate();
    }, IDLE_MS),
  };
  entry.timer.unref();
  idle.push(entry);
}

function releaseSlot(): void {
  running--;
  queue.shift()?.();
}

/** Waits for a free slot: undefined once it has one, or why it stopped waiting (budget spent, call cancelled). */
async function acquireSlot(deadline: number, signal: AbortSignal): Promise<StopReason | undefined> {
  if (running < MAX_RUNNING) {
    running++;
    return undefined;
  }
  return new Promise((resolve) => {
    const done = (why: StopReason | undefined) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      const i = queue.indexOf(grant);
      if (i >= 0) queue.splice(i, 1);
      resolve(why);
    };
    const grant = () => {
      running++;
      done(undefined);
    };
    const onAbort = () => done("cancelled");
    const timer = setTimeout(() => done("time_budget"), Math.max(0, deadline - performance.now()));
    signal.addEventListener("abort", onAbort, { once: true });
    queue.push(grant);
  });
}

/** Runs `request` on a worker thread for at most `budgetMs` (then it is told to stop), or until `signal` aborts. */
export async function runPooledSearch(request: SearchRequest, budgetMs: number, signal: AbortSignal): Promise<PoolResult> {
  const deadline = performance.now() + budgetMs;
  if (signal.aborted) return { unanswered: "cancelled" };
  const queued = await acquireSlot(deadline, signal);
  if (queued) return { unanswered: queued };
  const worker = takeWorker();
  const stop = new SharedArrayBuffer(4);
  const word = new Int32Array(stop);
  return new Promise<PoolResult>((resolve) => {
    let grace: ReturnType<typeof setTimeout> | undefined;
    const finish = (result: PoolResult, reusable: boolean) => {
      clearTimeout(budget);
      clearTimeout(grace);
      signal.removeEventListener("abort", onAbort);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
      if (reusable) keepWorker(worker);
      else worker.terminate();
      releaseSlot();
      resolve(result);
    };
    const stopWith = (code: number, why: StopReason) => {
      if (Atomics.load(word, 0) !== 0) return;
      Atomics.store(word, 0, code);
      grace = setTimeout(() => finish({ unanswered: why }, false), STOP_GRACE_MS);
    };
    const onMessage = (event: MessageEvent<SearchAnswer>) => finish({ answer: event.data }, true);
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      finish({ answer: { error: `internal error in search_files: its worker failed: ${event.message} (a bug in lmcp; please report it)` } }, false);
    };
    const onAbort = () => stopWith(STOP_CANCEL, "cancelled");
    const budget = setTimeout(() => stopWith(STOP_TIME, "time_budget"), Math.max(0, deadline - performance.now()));
    signal.addEventListener("abort", onAbort, { once: true });
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    const job: SearchJob = { request, stop };
    worker.postMessage(job);
  });
}
