// GET /ui/events: the feed as Server-Sent Events, one `call` event per tool call
// (a ready table row) and a `state` event when agents are stopped or resumed.
// Bounded per browser: a stream whose queue is full is dropped, never buffered
// further; the browser reconnects with Last-Event-ID and gets what it missed.
import { type Activity, type CallEvent, type FeedFilter, matches } from "./activity.ts";
import type { EmergencyStop } from "./pause.ts";
import { feedRow, securityHeaders } from "./views.ts";

/** Events waiting for one slow browser before it is dropped (a row is about half a kilobyte). */
export const QUEUE_LIMIT = 256;
/** Below Bun's idle timeout (30 s), so a quiet feed is not cut; also when a logged-out stream ends. */
const HEARTBEAT_MS = 15_000;
/** What a (re)connecting browser is sent of the past: enough to close a gap, not the whole ring. */
const REPLAY_LIMIT = 200;

const encoder = new TextEncoder();

/** One SSE event; every line break in the data starts a new `data:` line, as the format requires. */
export function sseEvent(event: string, data: string, id?: number): string {
  return `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\n${data
    .split(/\r\n|\r|\n/)
    .map((l) => `data: ${l}`)
    .join("\n")}\n\n`;
}

export interface EventStreamOptions {
  activity: Activity;
  stop: EmergencyStop;
  filter: FeedFilter;
  /** The last event the browser has (Last-Event-ID, or the page's newest row). */
  after: number;
  /** False once the session has ended (logout, expiry, a removed token): the stream then ends. */
  alive: () => boolean;
  /** Tracks open streams, so shutdown can end them; returns the function that forgets this one. */
  track: (end: () => void) => () => void;
}

export function eventStream(opts: EventStreamOptions): Response {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let ended = false;
  const cleanups: (() => void)[] = [];
  const finish = (how: "close" | "drop") => {
    if (ended) return;
    ended = true;
    for (const c of cleanups) c();
    try {
      // A dropped stream's queue is thrown away at once (error), a closed one is delivered first.
      if (how === "drop") controller?.error(new Error("slow consumer dropped"));
      else controller?.close();
    } catch {
      // already closed by the other side
    }
  };
  const send = (text: string) => {
    if (ended || !controller) return;
    if ((controller.desiredSize ?? 0) <= 0) {
      finish("drop");
      return;
    }
    controller.enqueue(encoder.encode(text));
  };
  // A row is rendered once per event for every stream that shows it, not once per stream.
  let lastRendered: { seq: number; text: string } | undefined;
  const onCall = (e: CallEvent) => {
    if (!matches(e, opts.filter)) return;
    if (lastRendered?.seq !== e.seq) lastRendered = { seq: e.seq, text: sseEvent("call", feedRow(e, true), e.seq) };
    send(lastRendered.text);
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        c.enqueue(encoder.encode("retry: 2000\n\n"));
        for (const e of opts.activity.recent(opts.filter, REPLAY_LIMIT, opts.after).reverse()) c.enqueue(encoder.encode(sseEvent("call", feedRow(e), e.seq)));
        cleanups.push(opts.activity.subscribe(onCall));
        cleanups.push(opts.stop.onChange((paused) => send(sseEvent("state", paused ? "paused" : "running"))));
        const beat = setInterval(() => {
          if (!opts.alive()) {
            send(sseEvent("logout", "the session ended"));
            finish("close");
          } else send(": keep-alive\n\n");
        }, HEARTBEAT_MS);
        cleanups.push(() => clearInterval(beat));
        // Shutdown must not wait for a browser that stopped reading: drop.
        cleanups.push(opts.track(() => finish("drop")));
      },
      cancel() {
        finish("close");
      },
    },
    { highWaterMark: QUEUE_LIMIT },
  );
  return new Response(body, {
    headers: { ...securityHeaders, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
  });
}
