// Code-signature checks and repair on Mach-O files crafted here byte by byte (thin and fat,
// SHA-256 + SHA-1 CodeDirectories), then on real darwin cross-compiles by `bun build --compile`.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MachOError, Reader, findSlices, readLoadCommands, resignAdHoc, verifyMachO } from "../../build/macho.ts";
import { ensureValidSignature, signAdHoc } from "../../build/sign_darwin.ts";

const PAGE = 4096;
const HASHES = { sha256: { type: 2, size: 32 }, sha1: { type: 1, size: 20 } } as const;
type HashName = keyof typeof HASHES;
const CPUTYPE = { arm64: 0x0100000c, x86_64: 0x01000007 } as const;

interface CraftOptions {
  cpu?: keyof typeof CPUTYPE;
  textPages?: number;
  hashes?: HashName[]; // the first is the primary CodeDirectory (slot 0), the rest alternates (0x1000+)
  cms?: Uint8Array; // contents of the CMS BlobWrapper; empty for ad hoc
  unsigned?: boolean;
  codeLimit?: number; // default: the signature's offset, as ld writes it
}
interface Crafted {
  buf: Buffer;
  hashSlots: Array<[number, number]>; // [start, end) of each CodeDirectory's special + code slots
  requirements: number; // offset of the requirements blob
}

const be32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const digest = (h: HashName, data: Uint8Array): Buffer => createHash(h).update(data).digest();

/** A thin MH_EXECUTE: header, __TEXT, __LINKEDIT, LC_CODE_SIGNATURE, signed as ld64 would. */
function craftMachO(o: CraftOptions = {}): Crafted {
  const textSize = (o.textPages ?? 2) * PAGE, symbols = 112; // __LINKEDIT data ahead of the signature
  const sigOffset = textSize + symbols;
  const hashes = o.hashes ?? ["sha256", "sha1"];
  const codeLimit = o.codeLimit ?? sigOffset, nCode = Math.ceil(codeLimit / PAGE);
  const ident = Buffer.from("crafted\0");
  const requirements = Buffer.concat([be32(0xfade0c01), be32(12), be32(0)]); // empty requirement set
  const cms = Buffer.concat([be32(0xfade0b01), be32(8 + (o.cms?.length ?? 0)), Buffer.from(o.cms ?? [])]);
  const cdSize = (h: HashName): number => 88 + ident.length + (2 + nCode) * HASHES[h].size;
  const blobs = [
    ...hashes.map((h, i) => ({ type: i === 0 ? 0 : 0x1000 + i - 1, size: cdSize(h), hash: h })),
    { type: 2, size: requirements.length }, { type: 0x10000, size: cms.length },
  ];
  const sbSize = 12 + 8 * blobs.length + blobs.reduce((n, b) => n + b.size, 0);
  const datasize = o.unsigned ? 0 : Math.ceil(sbSize / 16) * 16;
  const linkSize = symbols + datasize;

  const buf = Buffer.alloc(textSize + linkSize);
  const ncmds = o.unsigned ? 2 : 3, sizeofcmds = 72 * 2 + (o.unsigned ? 0 : 16);
  [0xfeedfacf, CPUTYPE[o.cpu ?? "arm64"], 0, 2 /* MH_EXECUTE */, ncmds, sizeofcmds, 0, 0].forEach((v, i) => buf.writeUInt32LE(v, i * 4));
  const segment = (at: number, name: string, vmaddr: number, fileoff: number, filesize: number): void => {
    buf.writeUInt32LE(0x19, at); buf.writeUInt32LE(72, at + 4); buf.write(name, at + 8);
    buf.writeBigUInt64LE(BigInt(vmaddr), at + 24); buf.writeBigUInt64LE(BigInt(Math.ceil(filesize / 0x4000) * 0x4000), at + 32);
    buf.writeBigUInt64LE(BigInt(fileoff), at + 40); buf.writeBigUInt64LE(BigInt(filesize), at + 48);
  };
  segment(32, "__TEXT", 0x100000000, 0, textSize);
  segment(104, "__LINKEDIT", 0x100000000 + textSize, textSize, linkSize);
  if (!o.unsigned) [0x1d, 16, sigOffset, datasize].forEach((v, i) => buf.writeUInt32LE(v, 176 + i * 4));
  let x = 12345; // deterministic "machine code" and symbol bytes
  for (let i = 512; i < sigOffset; i++) buf[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  if (o.unsigned) return { buf, hashSlots: [], requirements: -1 };

  const sb = sigOffset, hashSlots: Array<[number, number]> = [];
  let requirementsAt = -1;
  buf.writeUInt32BE(0xfade0cc0, sb); buf.writeUInt32BE(sbSize, sb + 4); buf.writeUInt32BE(blobs.length, sb + 8);
  let off = 12 + 8 * blobs.length;
  blobs.forEach((b, i) => {
    buf.writeUInt32BE(b.type, sb + 12 + 8 * i); buf.writeUInt32BE(off, sb + 16 + 8 * i);
    if (b.type === 2) { requirements.copy(buf, sb + off); requirementsAt = sb + off; }
    if (b.type === 0x10000) cms.copy(buf, sb + off);
    if ("hash" in b) {
      const { type, size } = HASHES[b.hash], cd = sb + off, hashOffset = 88 + ident.length + 2 * size;
      [0xfade0c02, b.size, 0x20400, 0x2 /* CS_ADHOC */, hashOffset, 88, 2, nCode, codeLimit].forEach((v, j) => buf.writeUInt32BE(v, cd + j * 4));
      buf[cd + 36] = size; buf[cd + 37] = type; buf[cd + 39] = 12; // hashSize, hashType, log2(pageSize)
      buf.writeBigUInt64BE(BigInt(textSize), cd + 72); buf.writeBigUInt64BE(1n, cd + 80); // execSegLimit, CS_EXECSEG_MAIN_BINARY
      ident.copy(buf, cd + 88);
      digest(b.hash, requirements).subarray(0, size).copy(buf, cd + hashOffset - 2 * size); // slot -2; -1 (Info.plist) stays 0
      for (let p = 0; p < nCode; p++) digest(b.hash, buf.subarray(p * PAGE, Math.min((p + 1) * PAGE, codeLimit))).copy(buf, cd + hashOffset + p * size);
      hashSlots.push([cd + hashOffset - 2 * size, cd + b.size]);
    }
    off += b.size;
  });
  return { buf, hashSlots, requirements: requirementsAt };
}

/** A universal binary of the given slices, each aligned to 2^12 as fat_arch.align says. */
function craftFat(slices: Array<{ cpu: keyof typeof CPUTYPE; macho: Crafted }>): Crafted {
  const offsets: number[] = [];
  let end = PAGE;
  for (const s of slices) { offsets.push(end); end = Math.ceil((end + s.macho.buf.length) / PAGE) * PAGE; }
  const buf = Buffer.alloc(end);
  buf.writeUInt32BE(0xcafebabe, 0); buf.writeUInt32BE(slices.length, 4);
  slices.forEach((s, i) => {
    const at = offsets[i] ?? 0;
    [CPUTYPE[s.cpu], 0, at, s.macho.buf.length, 12].forEach((v, j) => buf.writeUInt32BE(v, 8 + 20 * i + 4 * j));
    s.macho.buf.copy(buf, at);
  });
  const hashSlots = slices.flatMap((s, i) => s.macho.hashSlots.map(([a, b]): [number, number] => [a + (offsets[i] ?? 0), b + (offsets[i] ?? 0)]));
  return { buf, hashSlots, requirements: -1 };
}

const flipped = (buf: Buffer, at: number): Buffer => { const b = Buffer.from(buf); b[at] = (b[at] ?? 0) ^ 0x01; return b; };
const badPages = (buf: Buffer): number[][] => verifyMachO(buf).slices.flatMap((s) => s.codeDirectories.map((c) => c.badPages));
const changedOffsets = (a: Buffer, b: Buffer): number[] => [...a.keys()].filter((i) => a[i] !== b[i]);

describe("verifyMachO", () => {
  test("a correctly signed thin Mach-O verifies, both CodeDirectories and every page", () => {
    const r = verifyMachO(craftMachO().buf);
    expect(r).toEqual({
      ok: true, problems: [],
      slices: [{
        cpu: "arm64", problems: [], codeDirectories: [
          { slot: 0, hashType: "sha256", pages: 3, badPages: [], badSpecialSlots: [] },
          { slot: 0x1000, hashType: "sha1", pages: 3, badPages: [], badSpecialSlots: [] },
        ],
      }],
    });
  });

  test("a flipped byte in a code page is caught, naming the page, in every CodeDirectory", () => {
    const r = verifyMachO(flipped(craftMachO().buf, PAGE + 10));
    expect(r.ok).toBe(false);
    expect(badPages(flipped(craftMachO().buf, PAGE + 10))).toEqual([[1], [1]]);
    expect(r.slices[0]?.problems.join("\n")).toContain("1 of 3 pages do not match (page 1)");
    // The header and the last, partial page (the __LINKEDIT bytes before the signature) are covered too.
    expect(badPages(flipped(craftMachO().buf, 20))).toEqual([[0], [0]]);
    expect(badPages(flipped(craftMachO().buf, 2 * PAGE + 50))).toEqual([[2], [2]]);
  });

  test("a flipped byte in a CodeDirectory's hash table is caught in that CodeDirectory only", () => {
    const c = craftMachO();
    const [, sha1] = c.hashSlots;
    const lastSlot = (sha1?.[1] ?? 0) - 20; // the SHA-1 hash of page 2
    const r = verifyMachO(flipped(c.buf, lastSlot + 3));
    expect(r.ok).toBe(false);
    expect(r.slices[0]?.codeDirectories.map((d) => d.badPages)).toEqual([[], [2]]);
  });

  test("a changed requirements blob is caught through special slot -2", () => {
    const c = craftMachO();
    const r = verifyMachO(flipped(c.buf, c.requirements + 11));
    expect(r.ok).toBe(false);
    expect(r.slices[0]?.codeDirectories.map((d) => d.badSpecialSlots)).toEqual([[2], [2]]);
    expect(r.slices[0]?.problems.join("\n")).toContain("special slot -2 (requirements) does not match");
  });

  test("a universal binary is checked slice by slice", () => {
    const fat = craftFat([{ cpu: "arm64", macho: craftMachO() }, { cpu: "x86_64", macho: craftMachO({ cpu: "x86_64", textPages: 3 }) }]);
    expect(verifyMachO(fat.buf).ok).toBe(true);
    const x86Page2 = 2 * PAGE + Math.ceil((PAGE + craftMachO().buf.length) / PAGE) * PAGE + 7;
    const r = verifyMachO(flipped(fat.buf, x86Page2));
    expect(r.ok).toBe(false);
    expect(r.slices.map((s) => [s.cpu, s.codeDirectories.map((d) => d.badPages)])).toEqual([["arm64", [[], []]], ["x86_64", [[2], [2]]]]);
  });

  test("an unsigned Mach-O is reported as not signed", () => {
    const r = verifyMachO(craftMachO({ unsigned: true }).buf);
    expect(r.ok).toBe(false);
    expect(r.slices[0]?.problems).toEqual(["not signed: no LC_CODE_SIGNATURE load command"]);
  });

  test("a codeLimit short of the signature is reported: the bytes after it are unsigned", () => {
    const r = verifyMachO(craftMachO({ codeLimit: 2 * PAGE }).buf);
    expect(r.ok).toBe(false);
    expect(r.slices[0]?.problems.join("\n")).toContain(`codeLimit ${2 * PAGE} is not the signature's offset ${2 * PAGE + 112}`);
  });

  test("truncated, garbage or corrupted input gives problems, never an exception", () => {
    const good = craftMachO().buf;
    const inputs: Uint8Array[] = [Buffer.alloc(0), Buffer.from("#!/bin/sh\necho hi\n"), Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52])];
    for (let n = 0; n < good.length; n += 97) inputs.push(good.subarray(0, n));
    let x = 7;
    const rand = (n: number): number => (x = (x * 1103515245 + 12345) >>> 0) % n;
    // Random bytes in the parts that are parsed: header, load commands, signature headers.
    const sig = good.readUInt32LE(176 + 8);
    for (let i = 0; i < 500; i++) {
      const b = Buffer.from(good);
      for (let k = 0; k < 4; k++) b[i % 2 ? sig + rand(400) : rand(200)] = rand(256);
      inputs.push(b);
    }
    for (const input of inputs) {
      const r = verifyMachO(input); // never throws
      if (!r.ok) expect([...r.problems, ...r.slices.flatMap((s) => s.problems)].length).toBeGreaterThan(0);
      try {
        resignAdHoc(input);
      } catch (e) {
        expect(e).toBeInstanceOf(MachOError);
      }
    }
    expect(verifyMachO(good.subarray(0, 40)).slices[0]?.problems).toEqual(["truncated: load command 0 (72 bytes at offset 32) runs past the end of the slice (40 bytes)"]);
    expect(verifyMachO(Buffer.from("garbage!")).problems).toEqual(["not a Mach-O file: magic 0x67617262 at offset 0"]);
    expect(() => resignAdHoc(Buffer.from("garbage!"))).toThrow(MachOError);
    expect(() => resignAdHoc(good.subarray(0, good.length - 100))).toThrow(MachOError);
  });
});

describe("resignAdHoc", () => {
  test("repairs a flipped code byte; the result verifies and differs only inside the hash slots", () => {
    const c = craftMachO();
    const broken = flipped(c.buf, PAGE + 10);
    const fixed = resignAdHoc(broken);
    expect(verifyMachO(fixed).ok).toBe(true);
    const changed = changedOffsets(broken, fixed);
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((i) => c.hashSlots.some(([a, b]) => i >= a && i < b))).toBe(true);
    expect(fixed[PAGE + 10]).toBe(broken[PAGE + 10] ?? -1); // the code stays as it is; the hashes follow it
  });

  test("repairs a corrupted hash table and a stale requirements hash back to the original bytes", () => {
    const c = craftMachO();
    const [sha256] = c.hashSlots;
    let broken = flipped(c.buf, (sha256?.[0] ?? 0) + 2 * 32 + 5); // inside the SHA-256 hash of page 0
    broken = flipped(broken, sha256?.[0] ?? 0); // special slot -2 (slot -1, Info.plist, is next)
    expect(verifyMachO(broken).ok).toBe(false);
    expect(resignAdHoc(broken).equals(c.buf)).toBe(true);
  });

  test("repairs each slice of a universal binary", () => {
    const fat = craftFat([{ cpu: "arm64", macho: craftMachO() }, { cpu: "x86_64", macho: craftMachO({ cpu: "x86_64" }) }]);
    const broken = flipped(flipped(fat.buf, PAGE + 100), fat.buf.length - PAGE - 3000);
    expect(badPages(broken).filter((p) => p.length > 0).length).toBeGreaterThan(0);
    const fixed = resignAdHoc(broken);
    expect(verifyMachO(fixed).ok).toBe(true);
    expect(changedOffsets(broken, fixed).every((i) => fat.hashSlots.some(([a, b]) => i >= a && i < b))).toBe(true);
  });

  test("refuses a signature made with a certificate, since re-hashing would void it", () => {
    const broken = flipped(craftMachO({ cms: Buffer.alloc(64, 0x30) }).buf, 600);
    expect(() => resignAdHoc(broken)).toThrow("cannot re-sign in place: signed with a certificate (a 72-byte CMS blob)");
  });

  test("refuses, saying why, when the CodeDirectory does not reach the signature", () => {
    expect(() => resignAdHoc(craftMachO({ codeLimit: 2 * PAGE }).buf))
      .toThrow(`cannot re-sign in place: CodeDirectory 0x0 (sha256): codeLimit ${2 * PAGE} is not the signature's offset ${2 * PAGE + 112}`);
  });

  test("refuses, saying why, when the CodeDirectory has fewer code slots than pages", () => {
    const c = craftMachO();
    const cd = 2 * PAGE + 112 + 12 + 8 * 4; // the SHA-256 CodeDirectory follows the SuperBlob's 4 index entries
    c.buf.writeUInt32BE(2, cd + 28); // nCodeSlots
    expect(verifyMachO(c.buf).ok).toBe(false);
    expect(() => resignAdHoc(c.buf)).toThrow(`cannot re-sign in place: CodeDirectory 0x0 (sha256): 2 code slots for 3 pages up to codeLimit ${2 * PAGE + 112}`);
    expect(verifyMachO(signAdHoc(c.buf)).ok).toBe(true);
  });

  test("refuses an unsigned Mach-O", () => {
    expect(() => resignAdHoc(craftMachO({ unsigned: true }).buf)).toThrow("not signed (no LC_CODE_SIGNATURE)");
  });
});

describe("signAdHoc", () => {
  test("replaces a signature that can't be repaired in place with a fresh one that verifies", () => {
    for (const input of [craftMachO({ codeLimit: 2 * PAGE }).buf, flipped(craftMachO({ cms: Buffer.alloc(64, 0x30) }).buf, 600)]) {
      const fixed = signAdHoc(input);
      expect(fixed.length).toBe(input.length);
      expect(verifyMachO(fixed)).toMatchObject({ ok: true, slices: [{ codeDirectories: [{ slot: 0, hashType: "sha256", pages: 3 }] }] });
    }
  });

  test("grows __LINKEDIT and the file when the new CodeDirectory needs more room", () => {
    const input = craftMachO({ hashes: ["sha1"], textPages: 40 }).buf; // SHA-256 slots are 12 bytes longer each
    const fixed = signAdHoc(flipped(input, 5000));
    expect(fixed.length).toBeGreaterThan(input.length);
    expect(verifyMachO(fixed).ok).toBe(true);
    const r = new Reader(fixed);
    const lc = readLoadCommands(r, findSlices(r)[0] ?? { cpu: "", offset: 0, size: 0 });
    const linkedit = lc.segments.find((s) => s.name === "__LINKEDIT");
    expect((linkedit?.fileoff ?? 0) + (linkedit?.filesize ?? 0)).toBe(fixed.length);
    expect((lc.codeSignature?.dataoff ?? 0) + (lc.codeSignature?.datasize ?? 0)).toBe(fixed.length);
  });
});

describe("ensureValidSignature", () => {
  const dir = mkdtempSync(join(tmpdir(), "lmcp-macho-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("leaves a valid binary alone and says so", () => {
    const path = join(dir, "good");
    writeFileSync(path, craftMachO().buf);
    expect(ensureValidSignature(path, "darwin-arm64")).toBe("darwin-arm64: signature ok (2 CodeDirectories, 3 pages)");
    expect(readFileSync(path).equals(craftMachO().buf)).toBe(true);
  });

  test("re-signs a binary with a bad page in place, keeping its mode", () => {
    const path = join(dir, "bad");
    writeFileSync(path, flipped(craftMachO().buf, 5000));
    chmodSync(path, 0o755);
    expect(ensureValidSignature(path, "darwin-x64")).toBe("darwin-x64: 1 of 3 pages did not match; re-signed ad hoc; verified (2 CodeDirectories, 3 pages)");
    expect(verifyMachO(readFileSync(path)).ok).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o755);
  });

  test("fails, saying why, on a binary it cannot sign", () => {
    const path = join(dir, "unsigned");
    writeFileSync(path, craftMachO({ unsigned: true }).buf);
    expect(() => ensureValidSignature(path)).toThrow("not signed (no LC_CODE_SIGNATURE)");
  });
});

describe("real darwin cross-compiles", () => {
  const dir = mkdtempSync(join(tmpdir(), "lmcp-macho-real-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const target of ["darwin-arm64", "darwin-x64"]) {
    test(`bun build --compile for ${target} verifies after ensureValidSignature`, () => {
      const script = join(dir, "hello.ts"), out = join(dir, `hello-${target}`);
      writeFileSync(script, 'console.log("hello");\n');
      const r = Bun.spawnSync([process.execPath, "build", "--compile", `--target=bun-${target}`, script, "--outfile", out], { stdout: "pipe", stderr: "pipe" });
      if (!r.success) {
        console.warn(`skipped: bun could not cross-compile for ${target} (no network or cache for the target runtime?): ${r.stderr.toString().trim()}`);
        return;
      }
      const line = ensureValidSignature(out, target);
      console.log(`  ${line}`);
      const after = verifyMachO(readFileSync(out));
      expect(after.ok).toBe(true);
      // Every page up to the signature is covered.
      const fixed = new Reader(readFileSync(out));
      const lc = readLoadCommands(fixed, findSlices(fixed)[0] ?? { cpu: "", offset: 0, size: 0 });
      expect(after.slices[0]?.codeDirectories[0]?.pages).toBe(Math.ceil((lc.codeSignature?.dataoff ?? 0) / PAGE));
    }, 120_000);
  }
});
