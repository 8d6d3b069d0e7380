// The uploads transfer_write has pending: which temp file each id names, the
// hash of what arrived in order, and the bounds (how many at once, how long
// idle). Each temp is noted in atomic_write's journal, so a restart after a
// kill -9 removes it (cleanStaleTemps), and an idle one is removed here.
import { lstatSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_PENDING_UPLOADS, UPLOAD_IDLE_MS } from "./transfer_common.ts";

export interface Upload {
  id: string;
  /** The real directory of the target and temp, and the target's name in it. */
  dirReal: string;
  name: string;
  tmpName: string;
  /** The temp file's identity, so a file swapped in under its name is never written. */
  dev: number;
  ino: number;
  /** SHA-256 of bytes [0, hashed) as they arrived in order; undefined once a chunk came out of order (the final call then reads the file). */
  hasher: Bun.CryptoHasher | undefined;
  hashed: number;
  lastUsed: number;
  /** A call is working on it now (calls on one upload run one at a time). */
  busy: boolean;
  /** A cancel came while a call was busy: that call removes the temp when it ends. */
  cancelled: boolean;
  record: string | undefined;
}

const uploads = new Map<string, Upload>();
let sweeper: ReturnType<typeof setInterval> | undefined;

/** Notes a temp file in the journal before it is created (as atomic_write's recordPending); best effort. */
function journal(journalDir: string | undefined, id: string, tmpPath: string): string | undefined {
  if (journalDir === undefined) return undefined;
  const record = join(journalDir, `${process.pid}.${id}`);
  try {
    mkdirSync(journalDir, { recursive: true, mode: 0o700 });
    writeFileSync(record, tmpPath, { flag: "w", mode: 0o600 });
    return record;
  } catch {
    return undefined; // no journal: only the clean-up after a crash is lost
  }
}

function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}

/** Removes an upload's temp (only if it is still the file we made) and forgets it. */
export function dropUpload(u: Upload): void {
  const tmp = join(u.dirReal, u.tmpName);
  try {
    const st = lstatSync(tmp);
    if (st.isFile() && st.ino === u.ino && st.dev === u.dev) unlinkSync(tmp);
  } catch {
    // gone already
  }
  forgetUpload(u);
}

/** Forgets an upload whose temp was renamed into place or removed. */
export function forgetUpload(u: Upload): void {
  if (uploads.get(u.id) === u) uploads.delete(u.id);
  if (u.record) unlinkQuiet(u.record);
  u.record = undefined;
  if (uploads.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** Removes uploads idle past UPLOAD_IDLE_MS (their temp files too). */
export function sweepUploads(now = Date.now()): void {
  for (const u of [...uploads.values()]) if (!u.busy && now - u.lastUsed > UPLOAD_IDLE_MS) dropUpload(u);
}

export const findUpload = (id: string): Upload | undefined => uploads.get(id);
export const pendingUploads = (): number => uploads.size;

/** Why no new upload may start now, or undefined. */
export function uploadCapProblem(): string | undefined {
  sweepUploads();
  if (uploads.size < MAX_PENDING_UPLOADS) return undefined;
  return (
    `${uploads.size} uploads are already pending on this server (the limit is ${MAX_PENDING_UPLOADS}); finish one (final), cancel one (cancel: true), ` +
    `or wait: an upload idle for ${UPLOAD_IDLE_MS / 60_000} minutes is removed`
  );
}

/** Registers an upload (before its temp is created, so the journal names it first); returns it. */
export function addUpload(u: Omit<Upload, "record" | "lastUsed" | "busy" | "cancelled">, journalDir: string | undefined): Upload {
  const up: Upload = { ...u, lastUsed: Date.now(), busy: false, cancelled: false, record: journal(journalDir, u.id, join(u.dirReal, u.tmpName)) };
  uploads.set(up.id, up);
  if (!sweeper) {
    sweeper = setInterval(() => sweepUploads(), Math.min(UPLOAD_IDLE_MS, 5 * 60_000));
    sweeper.unref();
  }
  return up;
}
