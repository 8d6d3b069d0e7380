// A small closed-loop load generator: C connections, each sending the next
// request when the last one is answered, for a fixed duration after a warm-up.
// Prints JSON {rps, p50_ms, p99_ms, errors}. Runs in its own process.
// Usage: bun bench/load.ts URL TOKEN BODY_JSON CONNECTIONS SECONDS
export {};

const [url, token, body, connections = "8", seconds = "5"] = process.argv.slice(2);
if (!url || !token || !body) throw new Error("usage: bun bench/load.ts URL TOKEN BODY_JSON CONNECTIONS SECONDS");
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" };

async function loop(until: number, latencies: number[] | null, counter: { n: number; errors: number }) {
  while (performance.now() < until) {
    const t0 = performance.now();
    const res = await fetch(url!, { method: "POST", headers, body });
    const text = await res.text();
    if (res.status !== 200 || !text.includes('"result"')) counter.errors++;
    counter.n++;
    latencies?.push(performance.now() - t0);
  }
}

async function run(ms: number, record: boolean) {
  const counter = { n: 0, errors: 0 };
  const latencies: number[] = [];
  const until = performance.now() + ms;
  const started = performance.now();
  await Promise.all(Array.from({ length: Number(connections) }, () => loop(until, record ? latencies : null, counter)));
  return { counter, latencies, elapsed: (performance.now() - started) / 1000 };
}

await run(1000, false); // warm-up: JIT, connection pool, page cache
const { counter, latencies, elapsed } = await run(Number(seconds) * 1000, true);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
console.log(JSON.stringify({ rps: counter.n / elapsed, p50_ms: pct(0.5), p99_ms: pct(0.99), errors: counter.errors, requests: counter.n }));
