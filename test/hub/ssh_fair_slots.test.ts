// The SSH queue's arithmetic: a cap in all, a cap per host, and per-host
// queues served round-robin (case 10), without ssh.
import { describe, expect, test } from "bun:test";
import { FairSlots } from "../../src/hub/ssh/fair_slots.ts";

/** Acquires for `host` and records when the slot is granted. */
function ask(slots: FairSlots, host: string, log: string[], label: string, signal?: AbortSignal): Promise<boolean> {
  return slots.acquire(host, signal).then((got) => {
    if (got) log.push(label);
    return got;
  });
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("fair ssh slots", () => {
  test("hosts take turns: calls queued for one host do not go before another host's", async () => {
    const slots = new FairSlots(1, 1);
    const log: string[] = [];
    await ask(slots, "a", log, "a0");
    for (const l of ["a1", "a2", "a3"]) void ask(slots, "a", log, l);
    void ask(slots, "b", log, "b1");
    void ask(slots, "c", log, "c1");
    void ask(slots, "b", log, "b2");
    for (let i = 0; i < 6; i++) {
      slots.release(log.at(-1)![0]!);
      await settle();
    }
    expect(log).toEqual(["a0", "a1", "b1", "c1", "a2", "b2", "a3"]);
    expect(slots.queued).toBe(0);
  });

  test("one host holds at most its share, so another host starts at once while it has 64 waiting", async () => {
    const slots = new FairSlots(4, 2);
    const log: string[] = [];
    const slow = Array.from({ length: 66 }, (_, i) => ask(slots, "slow", log, `slow${i}`));
    await settle();
    expect(slots.runningFor("slow")).toBe(2);
    expect(slots.queued).toBe(64);
    expect(await slots.acquire("other")).toBe(true);
    expect(slots.active).toBe(3);
    slots.release("other");
    for (let i = 0; i < 66; i++) {
      slots.release("slow");
      await settle();
    }
    expect(await Promise.all(slow)).toEqual(Array(66).fill(true));
    expect(slots.active).toBe(0);
  });

  test("an aborted waiter leaves its queue and never gets a slot", async () => {
    const slots = new FairSlots(1, 1);
    const log: string[] = [];
    await ask(slots, "a", log, "a0");
    const ac = new AbortController();
    const gone = ask(slots, "b", log, "b1", ac.signal);
    void ask(slots, "c", log, "c1");
    ac.abort();
    expect(await gone).toBe(false);
    slots.release("a");
    await settle();
    expect(log).toEqual(["a0", "c1"]);
    expect(slots.queued).toBe(0);
  });
});
