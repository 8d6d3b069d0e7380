// remote_copy: a file from one host to another through the hub, a chunk at a
// time (transfer_read on the source, transfer_write on the destination, each
// through its lmcp or over SSH), so the hub holds two chunks at most whatever
// the file's size. The destination checks what it received against the
// source's sha256 of the whole file before anything lands.
import { z } from "zod";
import { randomBytes } from "../crypto.ts";
import { logEvent } from "../http/log.ts";
import { type ToolContext, type ToolDef, type ToolOutcome, defineTool, fail, ok } from "../tools/tool.ts";
import { CHUNK_MAX, modeField } from "../tools/transfer_common.ts";
import { transferRead } from "../tools/transfer_read.ts";
import { transferWrite } from "../tools/transfer_write.ts";
import type { Hub, Via } from "./hub.ts";
import { sshTransferRead, sshTransferWrite } from "./ssh/fallback_files.ts";
import type { SshFallback } from "./ssh/fallbacks.ts";

const MIN_CHUNK = 64 * 1024;
/** Bytes per chunk by default: at its peak the hub holds about 16 times a chunk (base64, JSON, request and reply, two chunks in flight). */
const DEFAULT_CHUNK = 2 * 1024 * 1024;
/**
 * A full collection after every this many bytes copied (see the loop), so the hub's peak RSS stays bounded whatever
 * the file size. Measured on a 256 MiB copy (hub from source, idle 76 MB): 2 MiB chunks and a collection after each
 * peak at 108–110 MB; every 4 MiB, 123–128 MB; 4 MiB chunks, 143–151 MB.
 */
const GC_EVERY_BYTES = 2 * 1024 * 1024;

const input = z.object({
  from_host: z.string().min(1).describe("The host to copy from, as remote_list_hosts names it."),
  from_path: z.string().min(1).describe("The file to copy on from_host (absolute, or relative to the home of the user lmcp or ssh runs as there)."),
  to_host: z.string().min(1).describe("The host to copy to (may be from_host itself)."),
  to_path: z.string().min(1).describe("Where the copy goes on to_host: a file path (an existing file is replaced atomically; a directory is refused)."),
  mode: modeField.optional().describe('Permission bits for the copy in octal, like "0644". Default: the source file\'s mode.'),
  create_dirs: z.boolean().default(true).describe("Create missing parent directories on to_host (default true)."),
  chunk_bytes: z
    .int()
    .min(MIN_CHUNK)
    .max(CHUNK_MAX)
    .optional()
    .describe(
      `Bytes per chunk, at most ${CHUNK_MAX} (4 MiB). Default: 2 MiB, or 4 MiB when the source is read over SSH (each chunk there is an ssh session). ` +
        "Smaller chunks mean more calls, larger ones more memory in the hub.",
    ),
});

const sideVia = z.string().describe('How the hub reached that host, as remote_ tools report it ("lmcp", "ssh", …), or "a+b" when it switched mid-copy (its lmcp went down, say).');
const side = z.object({ host: z.string(), path: z.string().describe("The file's absolute path on that host."), via: sideVia });

const output = z.object({
  from: side,
  to: side,
  bytes_written: z.number().describe("Bytes copied (the file's size)."),
  sha256: z.string().describe("SHA-256 of the file, the same at the source, in transit and at the destination."),
  mode: z.string().describe('The permission bits the copy got, in octal, like "0644".'),
  created: z.boolean().describe("True when to_path did not exist before."),
  duration_ms: z.number(),
  mib_per_s: z.number().describe("Throughput: MiB copied per second."),
});

type ReadData = z.output<typeof transferRead.output>;
type WriteData = z.output<typeof transferWrite.output>;

/** One side of the copy: which host, and how it was reached so far. */
class Side {
  via: string | undefined;
  constructor(
    readonly hub: Hub,
    readonly host: string,
    readonly def: ToolDef,
    readonly bySsh: SshFallback,
  ) {}

  /** One call on this host, routed as every remote_ tool is; where the router has no SSH fallback for it (or the host's lmcp predates it), over SSH here. */
  async call<T>(args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome<T>> {
    const routed = await this.hub.route(this.def, this.host, args, ctx);
    const b = this.hub.get(this.host);
    if (!b) return routed.outcome as ToolOutcome<T>;
    const older = !routed.outcome.ok && routed.via !== undefined && /refused the call: Unknown tool/.test(routed.outcome.error);
    if (routed.via !== undefined && !(older && b.ssh)) return this.note(routed.via, routed.outcome as ToolOutcome<T>);
    // `via` undefined: the router could not reach the host and had no SSH fallback of its own for the transfer tools.
    if (!b.ssh) return routed.outcome as ToolOutcome<T>;
    try {
      const outcome = await this.bySsh(this.hub.ssh, this.hub.sshTarget({ ...b, ssh: b.ssh }), args, ctx);
      return this.note("ssh", outcome as ToolOutcome<T>);
    } catch (err) {
      logEvent(`error: remote_copy over ssh to ${this.host} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return fail(`${this.host}: the SSH fallback failed (${err instanceof Error ? err.message : String(err)}); retry, or check the host with remote_list_hosts`);
    }
  }

  /** Records the path taken, and checks a reply has the tool's shape (a backend's lmcp may be of another version). */
  private note<T>(via: Via, outcome: ToolOutcome<T>): ToolOutcome<T> {
    if (this.via === undefined) this.via = via;
    else if (!this.via.split("+").includes(via)) this.via = `${this.via}+${via}`;
    if (!outcome.ok) return outcome;
    const parsed = this.def.output.safeParse(outcome.data);
    if (parsed.success) return outcome;
    return fail(`${this.host} answered ${this.def.name} via ${via} in an unexpected shape (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}); update lmcp there`);
  }
}

const mib = (n: number) => (n / 1048576).toFixed(1);

export function remoteCopyTool(hub: Hub): ToolDef {
  return defineTool({
    name: "remote_copy",
    title: "Copy a file between hosts",
    description:
      "Copies one file of any size from from_host:from_path to to_host:to_path through the hub, streaming it chunk by chunk (never whole in memory), " +
      "through each host's lmcp or over SSH when that is down. The copy lands atomically (temp file, fsync, rename) only after its sha256 matched the source's, " +
      "and keeps the source's mode unless mode is given. Progress is reported as it goes; a cancelled or failed copy leaves nothing at the destination. " +
      "Both paths follow the hosts' file policies (allowed_paths, secrets, protected files).",
    input,
    output,
    annotations: { title: "Copy a file between hosts", readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    async run(args, ctx) {
      const started = performance.now();
      for (const h of [args.from_host, args.to_host]) if (!hub.get(h)) return hub.unknownHostError(h);
      const src = new Side(hub, args.from_host, transferRead, sshTransferRead);
      const dst = new Side(hub, args.to_host, transferWrite, sshTransferWrite);
      // Each chunk's own progress is not relayed (the backend would answer as a stream); this tool reports per chunk.
      const quiet: ToolContext = { ...ctx, progress: async () => {}, progressWanted: false };
      // Chosen here, not by the destination, so a copy cancelled before its first reply can still discard its upload.
      const uploadId = randomBytes(6).toString("hex");
      let uploading = false;
      const from = `${args.from_host}:${args.from_path}`;
      const to = `${args.to_host}:${args.to_path}`;

      /** Discards the destination's upload; with a signal of its own, as the call's may be aborted. */
      const discard = async () => {
        if (!uploading) return;
        const r = await dst.call<WriteData>({ path: args.to_path, upload_id: uploadId, cancel: true }, { ...quiet, signal: AbortSignal.timeout(30_000) });
        if (!r.ok) logEvent(`hub: remote_copy could not discard upload ${uploadId} at ${to}: ${r.error}`);
      };
      const failed = async (message: string) => {
        await discard();
        return fail(ctx.signal.aborted ? `remote_copy ${from} → ${to} was cancelled; nothing was left at the destination` : message);
      };
      let size = 0;
      // Reading over SSH, each chunk costs an ssh session (a few hundred ms), so larger chunks pay off. Writing over SSH
      // they do not (bash reads the script byte by byte, so the cost is per byte), and the script holds the chunk in
      // many copies: a 64 MiB copy to an SSH host peaked the hub at 173 MB with 4 MiB chunks, 126 MB with 2 MiB.
      const chunkBytes = () => args.chunk_bytes ?? (src.via?.includes("ssh") && !dst.via?.includes("ssh") ? CHUNK_MAX : DEFAULT_CHUNK);
      const readChunk = (offset: number) => {
        const length = chunkBytes();
        // The source hashes the whole file on its last chunk (for free when it read every chunk in order), never before.
        return src.call<ReadData>({ path: args.from_path, offset, length, ...(offset > 0 && offset + length < size ? { sha256: false } : {}) }, quiet);
      };

      let r: ToolOutcome<ReadData> = await readChunk(0);
      if (!r.ok) return fail(`cannot read ${from}: ${r.error}`);
      size = r.data.size;
      const fromPath = r.data.path;
      const mode = args.mode ?? r.data.mode;
      let offset = 0;
      for (let chunks = 0; ; chunks++) {
        if (ctx.signal.aborted) return failed("cancelled");
        const chunk: ReadData = r.data;
        if (chunk.offset !== offset || chunk.size !== size) return failed(`${from} changed while it was being copied (its size went from ${size} to ${chunk.size} bytes); nothing was left at ${to}. Copy it again once it is stable`);
        // The next chunk is read while this one is written: two chunks in the hub at most.
        const next: Promise<ToolOutcome<ReadData>> | undefined = chunk.eof ? undefined : readChunk(chunk.next_offset);
        let final: { sha256: string; mode: string } | undefined;
        if (chunk.eof) {
          // The source's hash of the whole file, checked by the destination against every byte it received: a file
          // changed mid-copy or a byte damaged on the way fails the final call, and nothing lands.
          if (chunk.sha256 === undefined) return failed(`${args.from_host} sent no sha256 with the last chunk of ${args.from_path}, so the copy cannot be verified; update lmcp there`);
          final = { sha256: chunk.sha256, mode };
        }
        uploading = true;
        const w = await dst.call<WriteData>(
          { path: args.to_path, upload_id: uploadId, offset, data_base64: chunk.data_base64, create_dirs: args.create_dirs, ...(final ? { final } : {}) },
          quiet,
        );
        if (!w.ok) {
          await next;
          const changed = final && /sha256 mismatch/.test(w.error) ? ` (${from} probably changed while it was being copied; copy it again once it is stable)` : "";
          return failed(`cannot write ${to}: ${w.error}${changed}`);
        }
        offset += chunk.bytes;
        // Each chunk leaves tens of MB of strings (JSON, base64) outside the small-object heap JavaScriptCore sizes its
        // collections by, so without a collection now and then a long copy would hold hundreds of MB of garbage.
        if (Math.floor(offset / GC_EVERY_BYTES) !== Math.floor((offset - chunk.bytes) / GC_EVERY_BYTES)) Bun.gc(true);
        await ctx.progress(`${mib(offset)} of ${mib(size)} MiB copied, ${from} → ${to}`, offset, size);
        if (final) {
          const ms = performance.now() - started;
          const data = {
            from: { host: args.from_host, path: fromPath, via: src.via ?? "lmcp" },
            to: { host: args.to_host, path: w.data.path, via: dst.via ?? "lmcp" },
            bytes_written: offset,
            sha256: final.sha256,
            mode: w.data.mode ?? mode,
            created: w.data.created ?? false,
            duration_ms: Math.round(ms),
            mib_per_s: Math.round((offset / 1048576 / (ms / 1000)) * 10) / 10,
          };
          return ok(
            data,
            `copied ${from} → ${to}: ${offset} bytes in ${(ms / 1000).toFixed(2)} s (${data.mib_per_s} MiB/s), ${chunks + 1} chunks, ` +
              `sha256 ${final.sha256} verified, mode ${data.mode}; via ${data.from.via} → ${data.to.via}`,
          );
        }
        r = await next!;
        if (!r.ok) return failed(`cannot read ${from} at offset ${offset}: ${r.error}`);
      }
    },
  });
}
