// The fuzzer's categories and how many requests each sends to serve and to hub.
import { authForms, contentLength, headerTricks, httpLevel, oversize, slowLoris } from "./fuzz_http_cases.ts";
import { badJsonRpc, batch, deepNesting, garbageJson, hugeStrings, invalidUtf8, truncatedJson, unknownMethod, valid } from "./fuzz_rpc_cases.ts";
import { hostileValues, pathTricks, wrongTypes } from "./fuzz_tool_cases.ts";
import type { Gen, Target } from "./fuzz_wire.ts";


export interface Category {
  name: string;
  /** Requests per target. */
  count: Record<Target, number>;
  gen: Gen;
}

export function categories(slowPing: (target: Target) => () => Promise<string | undefined>): Category[] {
  const c = (name: string, serve: number, hub: number, gen: Gen): Category => ({ name, count: { serve, hub }, gen });
  return [
    c("valid", 400, 300, valid),
    c("auth", 450, 350, authForms),
    c("truncated-json", 650, 450, truncatedJson),
    c("garbage-json", 550, 400, garbageJson),
    c("deep-nesting", 300, 220, deepNesting),
    c("huge-strings", 22, 14, hugeStrings),
    c("oversize-body", 6, 4, oversize),
    c("wrong-types", 900, 700, wrongTypes),
    c("hostile-values", 450, 300, hostileValues),
    c("path-tricks", 300, 220, pathTricks),
    c("batch", 250, 160, batch),
    c("unknown-method", 350, 250, unknownMethod),
    c("bad-jsonrpc", 300, 220, badJsonRpc),
    c("headers", 450, 320, headerTricks),
    c("http-level", 320, 240, httpLevel),
    c("content-length", 300, 220, contentLength),
    c("slow-loris", 10, 8, (t, rng) => slowLoris(slowPing(t.target))(t, rng)),
    c("invalid-utf8", 250, 180, invalidUtf8),
  ];
}
