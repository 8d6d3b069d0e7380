// OpenTelemetry traces: one span per tools/call, exported over OTLP/HTTP (JSON),
// off unless an endpoint is configured. The SDK is imported only then (dynamic
// import, as src/metrics/metrics.ts loads prom-client), so a server with tracing
// off loads none of it; this module's top level imports no OTel package.
import type { Span, Tracer } from "@opentelemetry/api";
import { ConfigError } from "../config/file.ts";
import { logEvent } from "../http/log.ts";

/** A span of one tool call; `traceparent` names it, for what the call passes on (the hub to its backend). */
export interface CallSpan {
  readonly traceparent: string;
  end(result: CallEnd): void;
}

export interface CallEnd {
  /** ok, error, denied, cancelled, asked, invalid (as the metrics count them). */
  outcome: string;
  exitCode: number | null | undefined;
  /** The call's `host` argument (the hub's tools); the server's own name when absent. */
  host: string | undefined;
  /** The token's name (never the token). */
  token: string;
  durationMs: number;
}

/** What src/mcp/server.ts calls: a span per tools/call, child of the caller's W3C traceparent when it sent one. */
export interface CallTracer {
  start(tool: string, parent: string | undefined): CallSpan;
  /** Sends what is queued and stops; bounded, so a collector that is down cannot hold up an exit. */
  shutdown(): Promise<void>;
}

export interface TracingSettings {
  /** The OTLP/HTTP traces URL spans are POSTed to (…/v1/traces). */
  url: string;
  /** Where the URL came from, for messages. */
  source: string;
  serviceName: string;
  /** The server's name: the lmcp.host of calls without a `host`, and service.instance.id. */
  instance: string;
  /** How long spans wait to be sent in one batch (OTEL_BSP_SCHEDULE_DELAY), in ms. */
  scheduledDelayMs: number;
  /** Spans queued beyond this are dropped (OTEL_BSP_MAX_QUEUE_SIZE): a dead collector cannot grow memory. */
  maxQueueSize: number;
}

type Env = Record<string, string | undefined>;

const TRACES_PATH = "v1/traces";
/** How long a shutdown waits for the last batch. */
const SHUTDOWN_WAIT_MS = 5000;

function checkedUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ConfigError(`${source}: "${value}" is not a URL; give the collector's OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${source}: "${value}" is not an http(s) URL; lmcp exports OTLP over HTTP (JSON), e.g. http://127.0.0.1:4318`);
  }
  return url.href;
}

/** A base endpoint with `v1/traces` appended, as the OTel spec says for OTEL_EXPORTER_OTLP_ENDPOINT (left alone when already there). */
function withTracesPath(base: string): string {
  const url = new URL(base);
  if (url.pathname.replace(/\/+$/, "").endsWith(`/${TRACES_PATH}`)) return url.href;
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${TRACES_PATH}`;
  return url.href;
}

function positiveIntEnv(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${name}="${raw}" is not a positive whole number`);
  return n;
}

/**
 * Whether to trace, and where to: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) > OTEL_EXPORTER_OTLP_ENDPOINT
 * (+ /v1/traces) > `otlp_endpoint` in the config (likewise); none of them: off. OTEL_SDK_DISABLED=true, or an
 * OTEL_TRACES_EXPORTER that does not name otlp, turns it off whatever the rest says (the OTel env spec).
 */
export function resolveTracing(role: "serve" | "hub", instance: string, configEndpoint: string | undefined, env: Env = process.env): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return undefined;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "otlp").split(",").map((e) => e.trim().toLowerCase()).filter(Boolean);
  if (!exporters.includes("otlp")) return undefined;
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const general = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  let url: string;
  let source: string;
  if (specific) {
    source = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    url = checkedUrl(specific, source);
  } else if (general) {
    source = "OTEL_EXPORTER_OTLP_ENDPOINT";
    url = withTracesPath(checkedUrl(general, source));
  } else if (configEndpoint?.trim()) {
    source = 'config key "otlp_endpoint"';
    url = withTracesPath(checkedUrl(configEndpoint, source));
  } else {
    return undefined;
  }
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL)?.trim();
  if (protocol && protocol !== "http/json") logEvent(`note: lmcp exports traces as OTLP/HTTP with JSON; the protocol "${protocol}" asked for in the environment is not used`);
  return {
    url,
    source,
    serviceName: env.OTEL_SERVICE_NAME?.trim() || `lmcp-${role}`,
    instance,
    scheduledDelayMs: positiveIntEnv(env, "OTEL_BSP_SCHEDULE_DELAY", 5000),
    maxQueueSize: positiveIntEnv(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048),
  };
}

/** The URL without user, password or query (which may carry credentials): what a log line may say. */
export function printableUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C traceparent of a span context (version 00). */
function traceparentOf(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, "0")}`;
}

/** Outcomes that are the call failing (a shell that exits 1 is a call that worked). */
const FAILED = new Set(["error", "denied", "invalid"]);

/** Starts the SDK: loads the OTel packages now, so only a server with tracing on pays for them. */
export async function startTracing(settings: TracingSettings, version: string): Promise<CallTracer> {
  const [api, sdk, { OTLPTraceExporter }, resources] = await Promise.all([
    import("@opentelemetry/api"),
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
  ]);
  // The exporter reports failures (a collector down, a 4xx) through OTel's diag logger: one line a minute at most.
  let lastNote = 0;
  const note = (message: unknown) => {
    const now = Date.now();
    if (now - lastNote < 60_000) return;
    lastNote = now;
    logEvent(`warning: OpenTelemetry: ${String(message).slice(0, 300)} (traces to ${printableUrl(settings.url)}; spans may be lost)`);
  };
  api.diag.setLogger({ error: note, warn: note, info() {}, debug() {}, verbose() {} }, api.DiagLogLevel.WARN);
  const resource = resources.resourceFromAttributes({ "service.name": settings.serviceName, "service.version": version, "service.instance.id": settings.instance });
  // No headers here: OTEL_EXPORTER_OTLP_HEADERS (and the _TRACES_ form, timeouts, certificates) are read by the exporter itself.
  const exporter = new OTLPTraceExporter({ url: settings.url });
  const provider = new sdk.TracerProvider({
    resource,
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: settings.scheduledDelayMs, maxQueueSize: settings.maxQueueSize, maxExportBatchSize: Math.min(512, settings.maxQueueSize) })],
  });
  const tracer: Tracer = provider.getTracer("lmcp", version);
  logEvent(`OpenTelemetry: a span per tool call to ${printableUrl(settings.url)} (from ${settings.source}), service ${settings.serviceName}`);

  return {
    start(tool, parent) {
      const m = parent ? TRACEPARENT.exec(parent) : null;
      // A malformed or all-zero parent (or version ff) starts a new trace, as the W3C spec says.
      const parentContext =
        m && m[1] !== "ff" && api.isValidTraceId(m[2]!) && api.isValidSpanId(m[3]!)
          ? api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId: m[2]!, spanId: m[3]!, traceFlags: Number.parseInt(m[4]!, 16) & 1, isRemote: true })
          : api.ROOT_CONTEXT;
      const span: Span = tracer.startSpan(
        `tools/call ${tool}`,
        { kind: api.SpanKind.SERVER, attributes: { "mcp.method.name": "tools/call", "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "lmcp.tool": tool } },
        parentContext,
      );
      const sc = span.spanContext();
      return {
        traceparent: traceparentOf(sc.traceId, sc.spanId, sc.traceFlags),
        end(r) {
          span.setAttributes({
            "lmcp.host": r.host ?? settings.instance,
            "lmcp.token": r.token,
            "lmcp.outcome": r.outcome,
            "lmcp.duration_ms": Math.round(r.durationMs),
            ...(typeof r.exitCode === "number" ? { "process.exit.code": r.exitCode } : {}),
          });
          if (FAILED.has(r.outcome)) span.setStatus({ code: api.SpanStatusCode.ERROR, message: r.outcome });
          span.end();
        },
      };
    },
    async shutdown() {
      await Promise.race([provider.shutdown().catch(() => {}), Bun.sleep(SHUTDOWN_WAIT_MS)]);
    },
  };
}

/** A running server whose shutdown also sends the last spans (after its calls in flight have ended). */
export function flushingOnShutdown<T extends { shutdown(reason: string): Promise<void> }>(running: T, tracer: CallTracer | undefined): T {
  if (!tracer) return running;
  return { ...running, shutdown: (reason: string) => running.shutdown(reason).then(() => tracer.shutdown()) };
}
