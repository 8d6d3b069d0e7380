// OpenTelemetry: where spans go (config key, OTel env names, off by default), and
// real servers exporting to a loopback OTLP/HTTP receiver: a direct call's span is
// the child of the client's traceparent; through the hub, the backend's span is
// the child of the hub's; an untraced hub passes the client's traceparent on as is.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/client";
import { ConfigError } from "../../src/config/file.ts";
import { resolveTracing } from "../../src/telemetry/otel.ts";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, connect, startServer, waitFor } from "../helpers/server.ts";

describe("resolveTracing", () => {
  test("off unless an endpoint is configured; OTel env names beat the config key, as the OTel spec orders them", () => {
    expect(resolveTracing("serve", "h", undefined, {})).toBeUndefined();
    expect(resolveTracing("serve", "h", "http://c:4318", {})).toMatchObject({ url: "http://c:4318/v1/traces", serviceName: "lmcp-serve", instance: "h", scheduledDelayMs: 5000 });
    expect(resolveTracing("hub", "h", "http://c:4318/v1/traces", {})?.url).toBe("http://c:4318/v1/traces");
    expect(resolveTracing("hub", "h", "http://c:4318/otlp/", {})?.url).toBe("http://c:4318/otlp/v1/traces");
    expect(resolveTracing("hub", "h", "http://file:1", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://env:2" })).toMatchObject({ url: "http://env:2/v1/traces", serviceName: "lmcp-hub" });
    // The traces-specific variable is a full URL, used as is.
    expect(resolveTracing("serve", "h", "http://file:1", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://env:2", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t:3/custom" })?.url).toBe("http://t:3/custom");
    expect(resolveTracing("serve", "h", "http://file:1", { OTEL_SERVICE_NAME: "edge-7", OTEL_BSP_SCHEDULE_DELAY: "100" })).toMatchObject({ serviceName: "edge-7", scheduledDelayMs: 100 });
  });

  test("OTEL_SDK_DISABLED=true or an OTEL_TRACES_EXPORTER without otlp turns it off; a bad URL or number is a clear error", () => {
    expect(resolveTracing("serve", "h", "http://c:4318", { OTEL_SDK_DISABLED: "true" })).toBeUndefined();
    expect(resolveTracing("serve", "h", "http://c:4318", { OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
    expect(resolveTracing("serve", "h", "http://c:4318", { OTEL_TRACES_EXPORTER: "console,otlp" })).toBeDefined();
    expect(() => resolveTracing("serve", "h", "collector:4318", {})).toThrow(ConfigError);
    expect(() => resolveTracing("serve", "h", "grpc://c:4317", {})).toThrow(/otlp_endpoint.*not an http\(s\) URL/);
    expect(() => resolveTracing("serve", "h", undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: "::" })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => resolveTracing("serve", "h", "http://c:1", { OTEL_BSP_SCHEDULE_DELAY: "soon" })).toThrow(/OTEL_BSP_SCHEDULE_DELAY/);
  });
});

/** A span as the OTLP/HTTP JSON body carries it, with its resource's service.name. */
interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: { code?: number };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
const valueOf = (v: OtlpValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
const attrs = (list: { key: string; value: OtlpValue }[] | undefined) => Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]));

const FAST = { OTEL_BSP_SCHEDULE_DELAY: "50" };
let dir: string;
let receiver: Bun.Server<undefined>;
let collector: string;
const spans: ReceivedSpan[] = [];
const contentTypes = new Set<string>();
const started: StartedServer[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lmcp-otel-"));
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (req.method !== "POST" || new URL(req.url).pathname !== "/v1/traces") return new Response("not here", { status: 404 });
      contentTypes.add(req.headers.get("content-type") ?? "");
      const body = (await req.json()) as {
        resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: (Omit<ReceivedSpan, "service" | "attributes"> & { attributes: { key: string; value: OtlpValue }[] })[] }[] }[];
      };
      for (const rs of body.resourceSpans) {
        const service = String(attrs(rs.resource.attributes)["service.name"]);
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service, attributes: attrs(s.attributes) });
      }
      return Response.json({});
    },
  });
  collector = `http://127.0.0.1:${receiver.port}`;
});

afterAll(async () => {
  for (const s of started) await s.stop();
  receiver?.stop(true);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const newTrace = () => {
  const hex = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("hex");
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
};

async function callTraced(server: StartedServer, name: string, args: Record<string, unknown>, traceparent: string): Promise<CallToolResult> {
  const client = await connect(server);
  try {
    return (await client.callTool({ name, arguments: args, _meta: { traceparent } })) as CallToolResult;
  } finally {
    await client.close();
  }
}

const spanOf = (traceId: string, service: string) => waitFor(`a ${service} span in trace ${traceId}`, () => spans.find((s) => s.traceId === traceId && s.service === service));

describe("spans exported to a loopback OTLP/HTTP receiver", () => {
  test("a direct call to serve: one span, the child of the client's traceparent, with tool, host, token, outcome and exit code", async () => {
    const agentToken = `agent-${crypto.randomUUID()}`;
    const started0 = await startServer({ env: { ...FAST, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector}/v1/traces` }, args: ["--name", "alpha"], tokenFileText: `${agentToken} name=agent\n` });
    started.push(started0);
    const serve = { ...started0, token: agentToken };
    expect(serve.logs()).toContain("OpenTelemetry: a span per tool call");
    const t = newTrace();
    const r = await callTraced(serve, "shell", { command: "exit 3" }, t.traceparent);
    expect(r.structuredContent).toMatchObject({ exit_code: 3 });
    const span = await spanOf(t.traceId, "lmcp-serve");
    expect(span).toMatchObject({ name: "tools/call shell", parentSpanId: t.spanId, kind: 2 /* SERVER */ });
    expect(span.attributes).toMatchObject({ "lmcp.tool": "shell", "lmcp.host": "alpha", "lmcp.token": "agent", "lmcp.outcome": "ok", "process.exit.code": 3 });
    expect(typeof span.attributes["lmcp.duration_ms"]).toBe("number");
    expect(span.spanId).not.toBe(t.spanId);
    expect([...contentTypes]).toEqual(["application/json"]);
    // A refused call is a span too, marked as an error.
    const ro = await callTraced(serve, "read_file", { path: join(serve.home, "token") }, newTrace().traceparent);
    expect(ro.isError).toBe(true);
    const denied = await waitFor("the refused read's span", () => spans.find((s) => s.name === "tools/call read_file" && s.attributes["lmcp.outcome"] === "denied"));
    expect(denied.status.code).toBe(2 /* ERROR */);
  });

  test("through the hub: the hub's span is the child of the client's, the backend's the child of the hub's, one trace", async () => {
    const backend = await startServer({ env: { ...FAST, OTEL_EXPORTER_OTLP_ENDPOINT: collector } });
    started.push(backend);
    const hubToml = join(dir, "hub.toml");
    writeFileSync(hubToml, `otlp_endpoint = "${collector}"\n`);
    const hub = await startHub([{ name: "beta", url: backend.url, token_file: backend.tokenFile }], { registryDir: dir, env: FAST, args: ["--config", hubToml] });
    started.push(hub);
    const t = newTrace();
    const r = await callTraced(hub, "remote_shell", { host: "beta", command: "echo traced" }, t.traceparent);
    expect(r.isError).toBeFalsy();
    const hubSpan = await spanOf(t.traceId, "lmcp-hub");
    const backendSpan = await spanOf(t.traceId, "lmcp-serve");
    expect(hubSpan).toMatchObject({ name: "tools/call remote_shell", parentSpanId: t.spanId });
    expect(hubSpan.attributes).toMatchObject({ "lmcp.host": "beta", "lmcp.outcome": "ok", "process.exit.code": 0 });
    expect(backendSpan).toMatchObject({ name: "tools/call shell", parentSpanId: hubSpan.spanId });
  });

  test("unconfigured, nothing traces: no SDK start-up, and the hub passes the client's traceparent on unchanged", async () => {
    const backend = await startServer({ env: { ...FAST, OTEL_EXPORTER_OTLP_ENDPOINT: collector } });
    started.push(backend);
    const hub = await startHub([{ name: "gamma", url: backend.url, token_file: backend.tokenFile }], { registryDir: mkdtempSync(join(dir, "plain-")), env: FAST });
    started.push(hub);
    expect(hub.logs()).not.toContain("OpenTelemetry");
    const t = newTrace();
    expect((await callTraced(hub, "remote_shell", { host: "gamma", command: "true" }, t.traceparent)).isError).toBeFalsy();
    const backendSpan = await spanOf(t.traceId, "lmcp-serve");
    // Without a hub span in between, the backend's parent is the client's own span.
    expect(backendSpan.parentSpanId).toBe(t.spanId);
    expect(spans.filter((s) => s.traceId === t.traceId).map((s) => s.service)).toEqual(["lmcp-serve"]);
  });
});
