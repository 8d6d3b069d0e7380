// Who runs ssh next: a cap on ssh processes in all, a smaller cap per host,
// and one queue per host served round-robin, so calls piled up for one slow
// host cannot make another host's call wait behind them. No I/O here.

interface Waiter {
  grant: () => void;
}

export class FairSlots {
  private taken = 0;
  private readonly running = new Map<string, number>();
  /** Hosts with waiting calls, in the order they are served; a host goes to the back once served. */
  private readonly queues = new Map<string, Waiter[]>();

  constructor(
    readonly total: number,
    readonly perHost: number,
  ) {}

  /** Slots in use now. */
  get active(): number {
    return this.taken;
  }

  /** Calls waiting for a slot, over all hosts. */
  get queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  runningFor(host: string): number {
    return this.running.get(host) ?? 0;
  }

  private canRun(host: string): boolean {
    return this.taken < this.total && this.runningFor(host) < this.perHost;
  }

  private take(host: string): void {
    this.taken++;
    this.running.set(host, this.runningFor(host) + 1);
  }

  /** Waits for a slot for `host`; false when `signal` aborts first (the call then leaves its queue). */
  acquire(host: string, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (!this.queues.has(host) && this.canRun(host)) {
      this.take(host);
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(true);
        },
      };
      const onAbort = () => {
        const q = this.queues.get(host);
        const i = q?.indexOf(waiter) ?? -1;
        if (q && i >= 0) {
          q.splice(i, 1);
          if (q.length === 0) this.queues.delete(host);
        }
        resolve(false);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const q = this.queues.get(host);
      if (q) q.push(waiter);
      else this.queues.set(host, [waiter]);
    });
  }

  /** Frees `host`'s slot and hands free slots to the next hosts in turn. */
  release(host: string): void {
    this.taken--;
    const n = this.runningFor(host) - 1;
    if (n > 0) this.running.set(host, n);
    else this.running.delete(host);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.taken < this.total) {
      let served = false;
      // Map order is the round-robin order: the served host is moved to the back.
      for (const [host, q] of this.queues) {
        if (!this.canRun(host)) continue;
        const next = q.shift()!;
        this.queues.delete(host);
        if (q.length > 0) this.queues.set(host, q);
        this.take(host);
        next.grant();
        served = true;
        break;
      }
      if (!served) return;
    }
  }
}
