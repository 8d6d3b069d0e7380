// Checks and repairs the ad-hoc code signature of a Mach-O binary without Apple tools:
// recomputes every CodeDirectory hash over the file and, if asked, rewrites them in place.
//
// Layout (xnu EXTERNAL_HEADERS/mach-o/loader.h, fat.h; osfmk/kern/cs_blobs.h):
//   [fat_header + fat_arch[]]    optional, big-endian; each slice is a whole Mach-O
//   mach_header(_64)             little-endian on x86_64/arm64
//   load commands                LC_SEGMENT(_64) ... LC_CODE_SIGNATURE (linkedit_data_command:
//                                dataoff/datasize of the signature, inside __LINKEDIT, at the end)
//   SuperBlob (big-endian)       magic 0xfade0cc0, length, count, {type, offset}[count]
//     slot 0 / 0x1000..0x1004    CodeDirectory blobs (0xfade0c02), one per hash type
//     slot 2                     requirements (0xfade0c01); others: entitlements etc.
//     slot 0x10000               CMS signature in a BlobWrapper (0xfade0b01): empty when ad hoc
// A CodeDirectory holds one hash per page of the slice's bytes [0, codeLimit) ("code slots",
// at hashOffset + i*hashSize) and, in front of them, one hash per other blob ("special slots",
// slot -n at hashOffset - n*hashSize). The kernel checks each page as it is mapped and kills
// the process on a mismatch; a special slot that doesn't match its blob fails validation too.
import { createHash } from "node:crypto";

/** A file that is not (or not a well-formed, or not a repairable) signed Mach-O. */
export class MachOError extends Error {
  override name = "MachOError";
}

export interface CodeDirectoryReport {
  slot: number; // 0 for the primary CodeDirectory, 0x1000+ for alternates
  hashType: string;
  pages: number;
  badPages: number[];
  badSpecialSlots: number[]; // n for special slot -n (2 = requirements)
}
export interface SliceReport {
  cpu: string;
  codeDirectories: CodeDirectoryReport[];
  problems: string[];
}
export interface VerifyReport {
  ok: boolean;
  problems: string[]; // about the file as a whole (not a Mach-O, broken fat header)
  slices: SliceReport[];
}

const FAT_MAGIC = 0xcafebabe, FAT_MAGIC_64 = 0xcafebabf;
const MH_MAGIC = 0xfeedface, MH_MAGIC_64 = 0xfeedfacf;
const LC_SEGMENT = 0x1, LC_SEGMENT_64 = 0x19, LC_CODE_SIGNATURE = 0x1d;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0, CSMAGIC_CODEDIRECTORY = 0xfade0c02, CSMAGIC_BLOBWRAPPER = 0xfade0b01;
const CSSLOT_CODEDIRECTORY = 0, CSSLOT_ALTERNATE_CODEDIRECTORIES = 0x1000, CSSLOT_SIGNATURESLOT = 0x10000;
const CS_SUPPORTSSCATTER = 0x20100, CS_SUPPORTSCODELIMIT64 = 0x20300;
// Special slots that name files outside the binary (Info.plist, _CodeSignature/CodeResources):
// their hashes cannot be checked from the binary alone.
const EXTERNAL_SPECIAL_SLOTS = new Set([1, 3]);
const SPECIAL_SLOT_NAMES: Record<number, string> = { 1: "Info.plist", 2: "requirements", 3: "resources", 5: "entitlements", 7: "DER entitlements" };

/** cs_blobs.h CS_HASHTYPE_*: node's digest name and the stored length. */
const HASH_TYPES: Record<number, { name: string; digest: string; size: number }> = {
  1: { name: "sha1", digest: "sha1", size: 20 },
  2: { name: "sha256", digest: "sha256", size: 32 },
  3: { name: "sha256-truncated", digest: "sha256", size: 20 },
  4: { name: "sha384", digest: "sha384", size: 48 },
};
const CPU_NAMES: Record<number, string> = { 7: "i386", 0x01000007: "x86_64", 12: "arm", 0x0100000c: "arm64", 0x0200000c: "arm64_32" };

/** Bounds-checked reads: a truncated file becomes a MachOError, never a RangeError. */
export class Reader {
  private view: DataView;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private check(off: number, n: number, what: string): void {
    if (!Number.isSafeInteger(off) || off < 0 || off + n > this.buf.byteLength) {
      throw new MachOError(`truncated: ${what} at offset ${off} runs past the end of the file (${this.buf.byteLength} bytes)`);
    }
  }
  u8(off: number, what: string): number { this.check(off, 1, what); return this.view.getUint8(off); }
  u32be(off: number, what: string): number { this.check(off, 4, what); return this.view.getUint32(off, false); }
  u32le(off: number, what: string): number { this.check(off, 4, what); return this.view.getUint32(off, true); }
  u64(off: number, little: boolean, what: string): number {
    this.check(off, 8, what);
    const v = this.view.getBigUint64(off, little);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MachOError(`${what} ${v} is too large`);
    return Number(v);
  }
  bytes(off: number, n: number, what: string): Uint8Array { this.check(off, n, what); return this.buf.subarray(off, off + n); }
}

export interface Slice { cpu: string; offset: number; size: number }
export interface Segment { name: string; cmdAt: number; is64: boolean; vmaddr: number; vmsize: number; fileoff: number; filesize: number }
/** What the load commands say; cmdAt offsets are absolute in the file, the rest slice-relative. */
export interface LoadCommands { filetype: number; segments: Segment[]; codeSignature?: { cmdAt: number; dataoff: number; datasize: number } }
interface Blob { type: number; offset: number; length: number } // offset absolute in the file
interface CodeDirectory {
  slot: number; offset: number; hashOffset: number; nSpecialSlots: number; nCodeSlots: number; identifier: string;
  codeLimit: number; hashSize: number; hashType: number; pageBytes: number; // 0: one page for all
}
export interface Signature { slice: Slice; dataoff: number; blobs: Blob[]; codeDirectories: CodeDirectory[]; layoutProblems: string[] }

const hex = (n: number): string => `0x${n.toString(16)}`;
const count = (n: number): string => n.toLocaleString("en-US");
const cdName = (cd: CodeDirectory): string => `CodeDirectory ${hex(cd.slot)} (${HASH_TYPES[cd.hashType]?.name ?? cd.hashType})`;
const slotName = (n: number): string => `special slot -${n}${SPECIAL_SLOT_NAMES[n] ? ` (${SPECIAL_SLOT_NAMES[n]})` : ""}`;

/** The thin Mach-O slices of a file: the file itself, or each fat_arch of a universal binary. */
export function findSlices(r: Reader): Slice[] {
  const magic = r.u32be(0, "magic");
  if (magic !== FAT_MAGIC && magic !== FAT_MAGIC_64) return [{ cpu: cpuOf(r, 0), offset: 0, size: r.buf.byteLength }];
  const is64 = magic === FAT_MAGIC_64;
  const n = r.u32be(4, "fat_header.nfat_arch");
  // 0xcafebabe is also a Java class file's magic; those have a version number (45+) here.
  if (n === 0 || n > 32) throw new MachOError(`not a universal binary: fat header claims ${n} slices`);
  const slices: Slice[] = [];
  for (let i = 0; i < n; i++) {
    const at = 8 + i * (is64 ? 32 : 20); // fat_arch: cputype, cpusubtype, offset, size, align (64: u64 offset/size, +reserved)
    const offset = is64 ? r.u64(at + 8, false, "fat_arch_64.offset") : r.u32be(at + 8, "fat_arch.offset");
    const size = is64 ? r.u64(at + 16, false, "fat_arch_64.size") : r.u32be(at + 12, "fat_arch.size");
    if (offset + size > r.buf.byteLength) throw new MachOError(`truncated: fat slice ${i} [${offset}, ${offset + size}) runs past the end of the file (${r.buf.byteLength} bytes)`);
    slices.push({ cpu: cpuOf(r, offset), offset, size });
  }
  return slices;
}

function cpuOf(r: Reader, at: number): string {
  const magic = r.u32le(at, "mach_header.magic");
  if (magic !== MH_MAGIC && magic !== MH_MAGIC_64) throw new MachOError(`not a Mach-O file: magic ${hex(r.u32be(at, "magic"))} at offset ${at}`);
  const cputype = r.u32le(at + 4, "mach_header.cputype");
  return CPU_NAMES[cputype] ?? `cputype ${hex(cputype)}`;
}

/** Walks mach_header(_64) and its load commands: segments and LC_CODE_SIGNATURE. */
export function readLoadCommands(r: Reader, slice: Slice): LoadCommands {
  const base = slice.offset;
  const is64 = r.u32le(base, "mach_header.magic") === MH_MAGIC_64;
  const filetype = r.u32le(base + 12, "mach_header.filetype"), ncmds = r.u32le(base + 16, "mach_header.ncmds");
  const out: LoadCommands = { filetype, segments: [] };
  let at = base + (is64 ? 32 : 28); // sizeof(mach_header_64) / sizeof(mach_header)
  for (let i = 0; i < ncmds; i++) {
    const cmd = r.u32le(at, "load_command.cmd"), cmdsize = r.u32le(at + 4, "load_command.cmdsize");
    if (cmdsize < 8) throw new MachOError(`load command ${i} has a bad size ${cmdsize}`);
    if (at + cmdsize > base + slice.size) throw new MachOError(`truncated: load command ${i} (${cmdsize} bytes at offset ${at - base}) runs past the end of the slice (${slice.size} bytes)`);
    if (cmd === LC_CODE_SIGNATURE) out.codeSignature = { cmdAt: at, dataoff: r.u32le(at + 8, "dataoff"), datasize: r.u32le(at + 12, "datasize") };
    if (cmd === LC_SEGMENT_64 || cmd === LC_SEGMENT) {
      const name = new TextDecoder().decode(r.bytes(at + 8, 16, "segname")).replace(/\0.*$/s, "");
      const seg64 = cmd === LC_SEGMENT_64; // segment_command_64: vmaddr, vmsize, fileoff, filesize are u64
      const field = (i64: number, i32: number, what: string): number => (seg64 ? r.u64(at + i64, true, what) : r.u32le(at + i32, what));
      out.segments.push({
        name, cmdAt: at, is64: seg64, vmaddr: field(24, 24, "vmaddr"), vmsize: field(32, 28, "vmsize"),
        fileoff: field(40, 32, "fileoff"), filesize: field(48, 36, "filesize"),
      });
    }
    at += cmdsize;
  }
  return out;
}

/** Parses a slice's signature SuperBlob; null when the slice has no LC_CODE_SIGNATURE. */
export function readSignature(r: Reader, slice: Slice): Signature | null {
  const lc = readLoadCommands(r, slice);
  if (!lc.codeSignature) return null;
  const { dataoff, datasize } = lc.codeSignature;
  if (dataoff + datasize > slice.size) throw new MachOError(`LC_CODE_SIGNATURE [${dataoff}, ${dataoff + datasize}) runs past the end of the slice (${slice.size} bytes)`);
  const layoutProblems: string[] = [];
  const linkedit = lc.segments.find((s) => s.name === "__LINKEDIT");
  if (!linkedit || dataoff < linkedit.fileoff || dataoff + datasize > linkedit.fileoff + linkedit.filesize) {
    layoutProblems.push(`the signature [${dataoff}, ${dataoff + datasize}) is not inside __LINKEDIT`);
  }

  const sb = slice.offset + dataoff;
  const magic = r.u32be(sb, "SuperBlob.magic");
  if (magic !== CSMAGIC_EMBEDDED_SIGNATURE) throw new MachOError(`the signature does not start with a SuperBlob (magic ${hex(magic)}, want ${hex(CSMAGIC_EMBEDDED_SIGNATURE)})`);
  const sbLength = r.u32be(sb + 4, "SuperBlob.length");
  if (sbLength > datasize) throw new MachOError(`SuperBlob length ${sbLength} exceeds LC_CODE_SIGNATURE datasize ${datasize}`);
  const blobs: Blob[] = [];
  for (let i = 0, n = r.u32be(sb + 8, "SuperBlob.count"); i < n; i++) {
    const type = r.u32be(sb + 12 + i * 8, "BlobIndex.type"), off = r.u32be(sb + 16 + i * 8, "BlobIndex.offset");
    const length = r.u32be(sb + off + 4, "blob length");
    if (off + length > sbLength) throw new MachOError(`blob in slot ${hex(type)} [${off}, ${off + length}) runs past the SuperBlob (${sbLength} bytes)`);
    blobs.push({ type, offset: sb + off, length });
  }
  const cds = blobs.filter((b) => b.type === CSSLOT_CODEDIRECTORY || (b.type >= CSSLOT_ALTERNATE_CODEDIRECTORIES && b.type < CSSLOT_ALTERNATE_CODEDIRECTORIES + 5));
  const codeDirectories = cds.map((b) => readCodeDirectory(r, b, slice));
  for (const cd of codeDirectories) {
    if (cd.codeLimit !== dataoff) layoutProblems.push(`${cdName(cd)}: codeLimit ${cd.codeLimit} is not the signature's offset ${dataoff}, so the bytes between are not covered`);
    const pages = cd.pageBytes ? Math.ceil(cd.codeLimit / cd.pageBytes) : Math.min(1, cd.codeLimit);
    if (cd.nCodeSlots !== pages) layoutProblems.push(`${cdName(cd)}: ${count(cd.nCodeSlots)} code slots for ${count(pages)} pages up to codeLimit ${cd.codeLimit}`);
  }
  return { slice, dataoff, blobs, codeDirectories, layoutProblems };
}

/** Reads a CS_CodeDirectory header (big-endian) and checks that its hash table fits. */
function readCodeDirectory(r: Reader, blob: Blob, slice: Slice): CodeDirectory {
  const at = blob.offset, what = `CodeDirectory ${hex(blob.type)}`;
  const magic = r.u32be(at, "CodeDirectory.magic");
  if (magic !== CSMAGIC_CODEDIRECTORY) throw new MachOError(`${what}: magic ${hex(magic)}, want ${hex(CSMAGIC_CODEDIRECTORY)}`);
  const version = r.u32be(at + 8, "version");
  const hashOffset = r.u32be(at + 16, "hashOffset"), identOffset = r.u32be(at + 20, "identOffset");
  const nSpecialSlots = r.u32be(at + 24, "nSpecialSlots"), nCodeSlots = r.u32be(at + 28, "nCodeSlots");
  const codeLimit64 = version >= CS_SUPPORTSCODELIMIT64 ? r.u64(at + 56, false, "codeLimit64") : 0;
  const codeLimit = codeLimit64 || r.u32be(at + 32, "codeLimit");
  const hashSize = r.u8(at + 36, "hashSize"), hashType = r.u8(at + 37, "hashType"), pageSize = r.u8(at + 39, "pageSize");
  // Fields not needed here: flags (+12), platform (+38), teamOffset (+48),
  // execSegBase/Limit/Flags (+64/+72/+80, v0x20400), runtime (+88, v0x20500). None is hashed.
  if (version >= CS_SUPPORTSSCATTER && r.u32be(at + 44, "scatterOffset") !== 0) throw new MachOError(`${what}: scatter vectors are not supported`);
  const type = HASH_TYPES[hashType];
  if (!type) throw new MachOError(`${what}: unknown hashType ${hashType}`);
  if (hashSize !== type.size) throw new MachOError(`${what}: hashSize ${hashSize} does not fit ${type.name} (${type.size})`);
  if (hashOffset < nSpecialSlots * hashSize || hashOffset + nCodeSlots * hashSize > blob.length) throw new MachOError(`${what}: hash table runs outside the blob`);
  if (codeLimit > slice.size) throw new MachOError(`${what}: codeLimit ${codeLimit} is past the end of the slice (${slice.size} bytes)`);
  if (pageSize !== 0 && (pageSize < 9 || pageSize > 24)) throw new MachOError(`${what}: implausible page size 2^${pageSize}`);
  const identEnd = r.buf.indexOf(0, at + identOffset);
  const identifier = identOffset > 0 && identEnd > 0 && identEnd < at + blob.length ? new TextDecoder().decode(r.buf.subarray(at + identOffset, identEnd)) : "";
  return { slot: blob.type, offset: at, identifier, hashOffset, nSpecialSlots, nCodeSlots, codeLimit, hashSize, hashType, pageBytes: pageSize ? 2 ** pageSize : 0 };
}

function digest(cd: CodeDirectory, data: Uint8Array): Buffer {
  return createHash((HASH_TYPES[cd.hashType] ?? { digest: "" }).digest).update(data).digest().subarray(0, cd.hashSize);
}

/** Every hash a CodeDirectory should hold: its file offset and the value computed now. */
function* expectedHashes(r: Reader, sig: Signature, cd: CodeDirectory): Generator<{ at: number; want: Buffer; page?: number; special?: number }> {
  const table = cd.offset + cd.hashOffset;
  for (let n = 1; n <= cd.nSpecialSlots; n++) {
    if (EXTERNAL_SPECIAL_SLOTS.has(n)) continue;
    const blob = sig.blobs.find((b) => b.type === n);
    // A slot whose blob is absent must be all zeros.
    yield { at: table - n * cd.hashSize, want: blob ? digest(cd, r.bytes(blob.offset, blob.length, "blob")) : Buffer.alloc(cd.hashSize), special: n };
  }
  const page = cd.pageBytes || cd.codeLimit;
  for (let i = 0; i < cd.nCodeSlots; i++) {
    const start = sig.slice.offset + i * page, end = sig.slice.offset + Math.min((i + 1) * page, cd.codeLimit);
    yield { at: table + i * cd.hashSize, want: digest(cd, r.bytes(start, Math.max(0, end - start), "code page")), page: i };
  }
}

function checkSlice(r: Reader, slice: Slice): SliceReport {
  const report: SliceReport = { cpu: slice.cpu, codeDirectories: [], problems: [] };
  try {
    const sig = readSignature(r, slice);
    if (!sig) return { ...report, problems: ["not signed: no LC_CODE_SIGNATURE load command"] };
    report.problems.push(...sig.layoutProblems);
    if (sig.codeDirectories.length === 0) report.problems.push("the signature has no CodeDirectory");
    for (const cd of sig.codeDirectories) {
      const name = HASH_TYPES[cd.hashType]?.name ?? String(cd.hashType);
      const cdr: CodeDirectoryReport = { slot: cd.slot, hashType: name, pages: cd.nCodeSlots, badPages: [], badSpecialSlots: [] };
      for (const h of expectedHashes(r, sig, cd)) {
        if (Buffer.compare(r.bytes(h.at, cd.hashSize, "hash slot"), h.want) === 0) continue;
        if (h.page !== undefined) cdr.badPages.push(h.page);
        if (h.special !== undefined) cdr.badSpecialSlots.push(h.special);
      }
      if (cdr.badPages.length > 0) {
        const list = cdr.badPages.slice(0, 10).join(", ") + (cdr.badPages.length > 10 ? ", ..." : "");
        report.problems.push(`${cdName(cd)}: ${count(cdr.badPages.length)} of ${count(cd.nCodeSlots)} pages do not match (page${cdr.badPages.length > 1 ? "s" : ""} ${list})`);
      }
      for (const n of cdr.badSpecialSlots) report.problems.push(`${cdName(cd)}: ${slotName(n)} does not match`);
      report.codeDirectories.push(cdr);
    }
  } catch (e) {
    if (!(e instanceof MachOError)) throw e;
    report.problems.push(e.message);
  }
  return report;
}

/** Recomputes every CodeDirectory hash of every slice; never throws on bad input. */
export function verifyMachO(buf: Uint8Array): VerifyReport {
  const r = new Reader(buf);
  let slices: Slice[];
  try {
    slices = findSlices(r);
  } catch (e) {
    if (!(e instanceof MachOError)) throw e;
    return { ok: false, problems: [e.message], slices: [] };
  }
  const reports = slices.map((s) => checkSlice(r, s));
  return { ok: reports.every((s) => s.problems.length === 0), problems: [], slices: reports };
}

/**
 * Re-signs ad hoc in place: rewrites every code and special slot hash of every CodeDirectory,
 * changing no size, offset or other byte. Throws a MachOError saying why when that can't
 * give a valid signature (unsigned, certificate-signed, or a layout the hashes can't cover).
 */
export function resignAdHoc(buf: Uint8Array): Buffer {
  const out = Buffer.from(buf); // a copy; hashes are computed over `out`, whose code bytes never change
  const r = new Reader(out);
  for (const slice of findSlices(r)) {
    const sig = readSignature(r, slice);
    if (!sig) throw new MachOError(`${slice.cpu}: not signed (no LC_CODE_SIGNATURE); an ad-hoc signature needs room in __LINKEDIT that only the linker can make`);
    if (sig.layoutProblems.length > 0) throw new MachOError(`${slice.cpu}: cannot re-sign in place: ${sig.layoutProblems.join("; ")}`);
    if (sig.codeDirectories.length === 0) throw new MachOError(`${slice.cpu}: the signature has no CodeDirectory to rewrite`);
    const cms = sig.blobs.find((b) => b.type === CSSLOT_SIGNATURESLOT);
    if (cms && (r.u32be(cms.offset, "CMS blob magic") !== CSMAGIC_BLOBWRAPPER || cms.length > 8)) {
      throw new MachOError(`${slice.cpu}: cannot re-sign in place: signed with a certificate (a ${count(cms.length)}-byte CMS blob) that re-hashing would invalidate`);
    }
    for (const cd of sig.codeDirectories) {
      for (const h of [...expectedHashes(r, sig, cd)]) out.set(h.want, h.at);
    }
  }
  return out;
}
