// Makes a darwin binary's code signature match its bytes: verify, repair ad hoc, verify again.
// `bun build/sign_darwin.ts [--check] FILE...` does it to built binaries; build.ts calls
// ensureValidSignature after compiling each darwin target.
import { createHash } from "node:crypto";
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { MachOError, Reader, type VerifyReport, findSlices, readLoadCommands, readSignature, resignAdHoc, verifyMachO } from "./macho.ts";

// A fresh signature is what `ld -adhoc_codesign` and Bun's own darwin-arm64 output carry: a
// SuperBlob (0xfade0cc0) holding one SHA-256 CodeDirectory (0xfade0c02, version 0x20400, so an
// 88-byte header ending with execSegBase/Limit/Flags), 4 KiB pages, no special slots, no CMS.
const CD_VERSION = 0x20400, CD_HEADER_SIZE = 88, PAGE_LOG2 = 12, HASH_SIZE = 32, CS_HASHTYPE_SHA256 = 2;
const CS_ADHOC = 0x2, CS_EXECSEG_MAIN_BINARY = 0x1, MH_EXECUTE = 0x2;

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Replaces each slice's signature with a fresh ad-hoc one covering [0, signature offset),
 * for when the old one can't be repaired in place (Bun leaves darwin-x64 output with the
 * runtime's own Developer ID signature, made for the file before Bun appended the script).
 * Keeps the identifier. If the new signature needs more room than LC_CODE_SIGNATURE reserved,
 * __LINKEDIT and the file grow, which works where the signature ends a thin file (as ld puts
 * it); anything else is refused with the reason.
 */
export function signAdHoc(buf: Uint8Array): Buffer {
  let out = Buffer.from(buf);
  const slices = findSlices(new Reader(out));
  for (const slice of slices) {
    const lc = readLoadCommands(new Reader(out), slice);
    const cs = lc.codeSignature;
    if (!cs) throw new MachOError(`${slice.cpu}: not signed (no LC_CODE_SIGNATURE); adding one needs room for a load command, which only the linker makes`);
    let identifier = "a.out";
    try {
      identifier = readSignature(new Reader(out), slice)?.codeDirectories[0]?.identifier || identifier;
    } catch (e) {
      if (!(e instanceof MachOError)) throw e; // a garbled old signature is what we are replacing
    }
    const ident = Buffer.from(`${identifier}\0`);
    const nCodeSlots = Math.ceil(cs.dataoff / 2 ** PAGE_LOG2);
    const hashOffset = CD_HEADER_SIZE + ident.byteLength;
    const cdLength = hashOffset + nCodeSlots * HASH_SIZE;
    const sbLength = 12 + 8 + cdLength; // SuperBlob header + one BlobIndex + the CodeDirectory
    const datasize = Math.max(cs.datasize, align(sbLength, 16));

    const view = (): DataView => new DataView(out.buffer, out.byteOffset, out.byteLength);
    if (datasize > cs.datasize) {
      const linkedit = lc.segments.find((s) => s.name === "__LINKEDIT");
      const end = cs.dataoff + cs.datasize;
      if (slices.length !== 1 || end !== slice.size || !linkedit || linkedit.fileoff + linkedit.filesize !== end || lc.segments.some((s) => s.vmaddr > linkedit.vmaddr)) {
        throw new MachOError(`${slice.cpu}: the new signature needs ${datasize} bytes but LC_CODE_SIGNATURE has ${cs.datasize}, and it can only grow at the end of a thin file's last segment, __LINKEDIT`);
      }
      const grow = datasize - cs.datasize;
      out = Buffer.concat([out, Buffer.alloc(grow)]);
      const v = view(); // linkedit_data_command.datasize; segment_command(_64).filesize and vmsize
      v.setUint32(cs.cmdAt + 12, datasize, true);
      const filesize = linkedit.filesize + grow, vmsize = Math.max(linkedit.vmsize, align(filesize, 0x4000));
      if (linkedit.is64) {
        v.setBigUint64(linkedit.cmdAt + 48, BigInt(filesize), true);
        v.setBigUint64(linkedit.cmdAt + 32, BigInt(vmsize), true);
      } else {
        v.setUint32(linkedit.cmdAt + 36, filesize, true);
        v.setUint32(linkedit.cmdAt + 28, vmsize, true);
      }
    }

    const text = lc.segments.find((s) => s.name === "__TEXT");
    const sb = slice.offset + cs.dataoff, cd = sb + 20;
    out.fill(0, sb, sb + datasize);
    const v = view(); // code-signing structures are big-endian
    v.setUint32(sb, 0xfade0cc0); v.setUint32(sb + 4, sbLength); v.setUint32(sb + 8, 1); // CSMAGIC_EMBEDDED_SIGNATURE, length, count
    v.setUint32(sb + 12, 0); v.setUint32(sb + 16, 20); // BlobIndex: CSSLOT_CODEDIRECTORY at offset 20
    v.setUint32(cd, 0xfade0c02); v.setUint32(cd + 4, cdLength); v.setUint32(cd + 8, CD_VERSION); v.setUint32(cd + 12, CS_ADHOC);
    v.setUint32(cd + 16, hashOffset); v.setUint32(cd + 20, CD_HEADER_SIZE); // hashOffset, identOffset
    v.setUint32(cd + 24, 0); v.setUint32(cd + 28, nCodeSlots); v.setUint32(cd + 32, cs.dataoff); // nSpecialSlots, nCodeSlots, codeLimit
    v.setUint8(cd + 36, HASH_SIZE); v.setUint8(cd + 37, CS_HASHTYPE_SHA256); v.setUint8(cd + 39, PAGE_LOG2); // platform (+38) 0
    // scatterOffset, teamOffset, spare3, codeLimit64 stay 0; execSeg* describe __TEXT for the kernel.
    v.setBigUint64(cd + 64, BigInt(text?.fileoff ?? 0)); v.setBigUint64(cd + 72, BigInt(text?.filesize ?? 0));
    v.setBigUint64(cd + 80, BigInt(lc.filetype === MH_EXECUTE ? CS_EXECSEG_MAIN_BINARY : 0));
    out.set(ident, cd + CD_HEADER_SIZE);
    // Hash last: the pages include the load commands changed above.
    for (let i = 0; i < nCodeSlots; i++) {
      const start = slice.offset + i * 2 ** PAGE_LOG2, end = slice.offset + Math.min((i + 1) * 2 ** PAGE_LOG2, cs.dataoff);
      out.set(createHash("sha256").update(out.subarray(start, end)).digest(), cd + hashOffset + i * HASH_SIZE);
    }
  }
  return out;
}

const fmt = (n: number): string => n.toLocaleString("en-US");
const cdCount = (r: VerifyReport): number => r.slices.reduce((n, s) => n + s.codeDirectories.length, 0);
const pageCount = (r: VerifyReport): number => r.slices.reduce((n, s) => n + Math.max(0, ...s.codeDirectories.map((c) => c.pages)), 0);
const describe = (r: VerifyReport): string => `${cdCount(r)} CodeDirector${cdCount(r) === 1 ? "y" : "ies"}, ${fmt(pageCount(r))} pages`;

/** "2 of 23,777 pages did not match", or what else was wrong. */
function whatWasWrong(r: VerifyReport): string {
  const bad = r.slices.reduce((n, s) => n + new Set(s.codeDirectories.flatMap((c) => c.badPages)).size, 0);
  if (bad > 0) return `${fmt(bad)} of ${fmt(pageCount(r))} pages did not match`;
  return [...r.problems, ...r.slices.flatMap((s) => s.problems)].join("; ");
}

/**
 * Verifies a darwin binary's signature; if it doesn't match, repairs it in place (or, when
 * that can't work, writes a fresh ad-hoc one), verifies again and rewrites the file. Throws
 * if it still doesn't verify. Returns one line for the build log.
 */
export function ensureValidSignature(path: string, label = basename(path)): string {
  const before = readFileSync(path);
  const first = verifyMachO(before);
  if (first.ok) return `${label}: signature ok (${describe(first)})`;
  let fixed: Buffer;
  let how = "re-signed ad hoc";
  try {
    fixed = resignAdHoc(before);
  } catch (e) {
    if (!(e instanceof MachOError)) throw e;
    fixed = signAdHoc(before);
    how = `${e.message}; wrote a fresh ad-hoc signature`;
  }
  const after = verifyMachO(fixed);
  if (!after.ok) throw new Error(`${label}: signature still does not verify after ${how}: ${whatWasWrong(after)}`);
  const tmp = `${path}.signing`;
  writeFileSync(tmp, fixed, { mode: statSync(path).mode & 0o777 });
  renameSync(tmp, path);
  return `${label}: ${whatWasWrong(first)}; ${how}; verified (${describe(after)})`;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { check: { type: "boolean" }, help: { type: "boolean" } }, allowPositionals: true });
  if (values.help || positionals.length === 0) {
    console.log("usage: bun build/sign_darwin.ts [--check] FILE...\n  verifies each darwin binary's code signature and re-signs it ad hoc where it does not match;\n  --check only verifies (exit 1 if any does not)");
    process.exit(values.help ? 0 : 2);
  }
  let failed = false;
  for (const file of positionals) {
    try {
      if (!values.check) { console.log(ensureValidSignature(file)); continue; }
      const r = verifyMachO(readFileSync(file));
      console.log(`${basename(file)}: ${r.ok ? `signature ok (${describe(r)})` : `signature does not verify: ${whatWasWrong(r)}`}`);
      failed ||= !r.ok;
    } catch (e) {
      console.error(`${basename(file)}: ${e instanceof Error ? e.message : String(e)}`);
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
}
