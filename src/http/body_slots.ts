// Bounds how many large request bodies are read and worked on at once. A body
// costs its size several times over while it is read, decoded, parsed and used,
// so without a bound eight bodies near max_body_bytes cost eight times that.

/** Bodies above this many bytes need a slot; smaller ones never wait. */
export const LARGE_BODY_BYTES = 1024 * 1024;
/** How many large bodies are in work at once. */
export const LARGE_BODY_SLOTS = 2;
/** How long a large body waits for a slot before it is answered 503. */
export const LARGE_BODY_WAIT_MS = 5000;

/** Gives a slot back; calling it again does nothing. */
export type Release = () => void;

export class BodySlots {
  private free: number;
  private readonly waiting: ((release: Release) => void)[] = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  /** Resolves with the slot's release, or null when none came free within `waitMs`. */
  acquire(waitMs: number): Promise<Release | null> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const take = (release: Release) => {
        clearTimeout(timer);
        resolve(release);
      };
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(take);
        if (at >= 0) this.waiting.splice(at, 1);
        resolve(null);
      }, waitMs);
      this.waiting.push(take);
    });
  }

  /** Slots in use, for tests and logs. */
  get busy(): number {
    return this.size - this.free;
  }

  private releaser(): Release {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // The body's text, parsed values and reply are garbage now, tens of MiB outside the small-object heap that
      // JavaScriptCore sizes its collections by; collect them before the next large body makes more.
      Bun.gc(true);
      // The slot passes straight to the first waiter, so a stream of small requests cannot overtake it.
      const next = this.waiting.shift();
      if (next) next(this.releaser());
      else this.free++;
    };
  }
}
