// Prometheus metrics for serve and hub, on prom-client, loaded only when
// metrics are on (`metrics = true`): prom-client pulls in Node's http, zlib
// and cluster modules, about 20 MB of resident memory that an idle lmcp with
// metrics off must not carry. Off, every hook is a no-op.
//
// Hot-path hooks (one call) are counters and a histogram; everything that
// needs a look around (hosts by state, SSH queue, jobs, sessions) is read at
// scrape time through collectors the composition root provides.

/** What the MCP layer and the hub report; all no-ops when metrics are off. */
export interface Metrics {
  /** A tool call ended: its tool, outcome (ok, error, denied, cancelled) and wall time. */
  toolCall(tool: string, outcome: string, seconds: number): void;
  /** A tool call started (+1) or ended (-1). */
  inFlight(delta: number): void;
  /** A probe of a backend answered (or failed) after this long. */
  probe(host: string, result: string, seconds: number): void;
}

export const noMetrics: Metrics = { toolCall() {}, inFlight() {}, probe() {} };

/** A value read at scrape time, by label set. */
export type Collector = () => { labels?: Record<string, string>; value: number }[];

export interface ScrapeSources {
  /** Gauges read at each scrape: name → help and collector. */
  gauges: Record<string, { help: string; labelNames?: string[]; collect: Collector }>;
}

export interface PromMetrics extends Metrics {
  /** The exposition text and its content type. */
  render(): Promise<{ body: string; contentType: string }>;
}

/** Latency buckets from 0.1 ms (a cached read) to 10 min (a long shell), in seconds. */
const CALL_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 600];
const PROBE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 3, 10];

/** Builds the metrics of one role; loads prom-client now (so only a server with metrics on pays for it). */
export async function createMetrics(role: "serve" | "hub", sources: ScrapeSources): Promise<PromMetrics> {
  const prom = await import("prom-client");
  const registry = new prom.Registry();
  registry.setDefaultLabels({ role });
  // Not prom-client's default set: its nodejs_* gauges named *_total fail `promtool check metrics`, and most
  // describe Node internals that Bun does not have. Memory and start time are what an operator watches.
  new prom.Gauge({
    name: "lmcp_resident_memory_bytes",
    help: "Resident memory of this lmcp process, in bytes.",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
  new prom.Gauge({ name: "lmcp_start_time_seconds", help: "When this lmcp process started, in seconds since the epoch.", registers: [registry] }).set(
    Math.round(Date.now() / 1000 - process.uptime()),
  );
  const calls = new prom.Counter({ name: "lmcp_tool_calls_total", help: "Tool calls by tool and outcome (ok, error, denied, cancelled).", labelNames: ["tool", "outcome"], registers: [registry] });
  const latency = new prom.Histogram({ name: "lmcp_tool_call_duration_seconds", help: "Wall time of tool calls, by tool.", labelNames: ["tool"], buckets: CALL_BUCKETS, registers: [registry] });
  const inFlight = new prom.Gauge({ name: "lmcp_tool_calls_in_flight", help: "Tool calls being handled now.", registers: [registry] });
  const probes = new prom.Histogram({ name: "lmcp_hub_probe_duration_seconds", help: "Time a backend probe took, by result (up, down, auth_failed).", labelNames: ["result"], buckets: PROBE_BUCKETS, registers: [registry] });
  for (const [name, g] of Object.entries(sources.gauges)) {
    new prom.Gauge({
      name,
      help: g.help,
      labelNames: g.labelNames ?? [],
      registers: [registry],
      collect() {
        this.reset();
        for (const v of g.collect()) {
          if (v.labels) this.set(v.labels, v.value);
          else this.set(v.value);
        }
      },
    });
  }
  return {
    toolCall(tool, outcome, seconds) {
      calls.inc({ tool, outcome });
      latency.observe({ tool }, seconds);
    },
    inFlight(delta) {
      inFlight.inc(delta);
    },
    probe(_host, result, seconds) {
      probes.observe({ result }, seconds);
    },
    async render() {
      return { body: await registry.metrics(), contentType: registry.contentType };
    },
  };
}
