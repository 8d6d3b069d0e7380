// Reads the glibc symbol versions an ELF executable needs (its .gnu.version_r
// section), so the .deb can depend on `libc6 (>= X)` without dpkg-shlibdeps,
// which cannot look at a foreign architecture's binary.
import { closeSync, openSync, readSync } from "node:fs";

const SHT_GNU_VERNEED = 0x6ffffffe;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, offset);
  if (n !== length) throw new Error(`short read at ${offset}`);
  return buf;
}

/** Every version name (GLIBC_2.17, …) the 64-bit little-endian ELF file needs from its libraries. */
export function neededVersions(file: string): string[] {
  const fd = openSync(file, "r");
  try {
    const h = readAt(fd, 0, 64);
    if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
    const shoff = Number(h.readBigUInt64LE(0x28));
    const shentsize = h.readUInt16LE(0x3a);
    const shnum = h.readUInt16LE(0x3c);
    const sections = Array.from({ length: shnum }, (_, i) => {
      const s = readAt(fd, shoff + i * shentsize, shentsize);
      return { type: s.readUInt32LE(4), offset: Number(s.readBigUInt64LE(0x18)), size: Number(s.readBigUInt64LE(0x20)), link: s.readUInt32LE(0x28) };
    });
    const names = new Set<string>();
    for (const sec of sections.filter((s) => s.type === SHT_GNU_VERNEED)) {
      const strtab = sections[sec.link]!;
      const strings = readAt(fd, strtab.offset, strtab.size);
      const cstr = (at: number) => strings.subarray(at, strings.indexOf(0, at)).toString("latin1");
      const data = readAt(fd, sec.offset, sec.size);
      // Verneed entries (vn_cnt at 2, vn_aux at 8, vn_next at 12), each with a chain of Vernaux (vna_name at 8, vna_next at 12).
      for (let vn = 0, more = true; more; ) {
        const count = data.readUInt16LE(vn + 2);
        for (let aux = vn + data.readUInt32LE(vn + 8), i = 0; i < count; i++) {
          names.add(cstr(data.readUInt32LE(aux + 8)));
          aux += data.readUInt32LE(aux + 12);
        }
        const next = data.readUInt32LE(vn + 12);
        more = next !== 0;
        vn += next;
      }
    }
    return [...names].sort();
  } finally {
    closeSync(fd);
  }
}

/** The newest GLIBC_x.y the file needs, as "x.y" (undefined when it needs none). */
export function minimumGlibc(file: string): string | undefined {
  const versions = neededVersions(file)
    .map((n) => /^GLIBC_(\d+(?:\.\d+)*)$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined);
  const cmp = (a: string, b: string) => {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
    return 0;
  };
  return versions.sort(cmp).at(-1);
}
