// The spike's two tools, defined once and served by both era instances.
import { z } from "zod";
import { readFileSync } from "node:fs";

export interface ToolCtx { signal: AbortSignal; progress: (message: string, progress: number, total?: number) => Promise<void>; progressWanted: boolean }
export interface ToolDef { name: string; description: string; input: z.ZodType; readOnly: boolean; run: (args: any, ctx: ToolCtx) => Promise<{ ok: true; text: string; data: Record<string, unknown> } | { ok: false; error: string }> }

export const tools: ToolDef[] = [
  {
    name: "read_file",
    description: "Read a UTF-8 text file",
    readOnly: true,
    input: z.object({ path: z.string().min(1), max_bytes: z.number().int().positive().optional() }).strict(),
    async run({ path, max_bytes }) {
      try {
        let text = readFileSync(path, "utf8");
        if (max_bytes && text.length > max_bytes) text = text.slice(0, max_bytes);
        return { ok: true, text, data: { path, bytes: text.length } };
      } catch (err) {
        return { ok: false, error: `cannot read ${path}: ${(err as Error).message}` };
      }
    },
  },
  {
    name: "count",
    description: "Counts to n, sending a progress notification per step",
    readOnly: false,
    input: z.object({ n: z.number().int().min(1).max(50), delay_ms: z.number().int().min(0).max(1000).default(10) }).strict(),
    async run({ n, delay_ms }, ctx) {
      for (let i = 1; i <= n; i++) {
        if (ctx.signal.aborted) return { ok: false, error: "cancelled" };
        await new Promise((r) => setTimeout(r, delay_ms));
        await ctx.progress(`step ${i}`, i, n);
      }
      return { ok: true, text: `counted to ${n}`, data: { n } };
    },
  },
];
