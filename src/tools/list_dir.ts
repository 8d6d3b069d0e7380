// list_dir: a directory's entries with type, size, time and mode, like
// `LC_ALL=C ls -la` but as data; symlinks are shown as links, with targets.
import { closeSync, lstatSync, readlinkSync, type Stats } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { dirEntryBase, openChecked } from "../policy/open.ts";
import { permissivePolicy } from "../policy/rules.ts";
import { pathFailure, resolveUserPath } from "./paths.ts";
import { defineTool, fail, ok, type ToolOutcome } from "./tool.ts";

/** A listing stops here, whatever max_entries says, so one reply stays well inside the HTTP reply cap. */
const MAX_LISTING_BYTES = 2 * 1024 * 1024;
/** Listings at once: each may hold a huge directory's names, so a batch of them waits its turn instead of all at once. */
const MAX_CONCURRENT_LISTINGS = 2;
let listingsRunning = 0;
const listingQueue: (() => void)[] = [];

async function takeListingSlot(): Promise<() => void> {
  if (listingsRunning >= MAX_CONCURRENT_LISTINGS) await new Promise<void>((resolve) => listingQueue.push(resolve));
  else listingsRunning++;
  return () => {
    const next = listingQueue.shift();
    if (next) next(); // the slot passes straight to the next listing
    else listingsRunning--;
  };
}
const SLICE_MS = 5;

const input = z.object({
  path: z.string().min(1).describe("Directory to list: absolute, or relative to the home directory of the user lmcp runs as; ~ expands to that home."),
  all: z.boolean().default(false).describe("Include entries whose name starts with a dot (default false)."),
  max_entries: z.number().int().min(1).max(100_000).default(1000).describe("Return at most this many entries, the first in name order (default 1000)."),
});

const entryType = z.enum(["file", "dir", "symlink", "other"]);

const entry = z.object({
  name: z.string(),
  type: entryType.describe("The entry itself, not what a symlink points to."),
  size: z.number().describe("Bytes (for a symlink, the length of its target path)."),
  mtime: z.string().describe("Last modification, ISO 8601 UTC."),
  mode: z.string().describe('Permission bits in octal, like "0644".'),
  target: z.string().optional().describe("Where a symlink points (its text, as readlink shows it)."),
});

const output = z.object({
  path: z.string().describe("The directory listed, as an absolute path."),
  entries: z.array(entry),
  total: z.number().describe("Entries in the directory (after the dot-file filter), before max_entries."),
  truncated: z.boolean().describe("True when max_entries left entries out."),
});

export type Entry = z.output<typeof entry>;
type ListResult = z.output<typeof output>;

function typeOf(st: Stats): Entry["type"] {
  if (st.isSymbolicLink()) return "symlink";
  if (st.isDirectory()) return "dir";
  if (st.isFile()) return "file";
  return "other";
}

const TYPE_CHAR: Record<string, string> = { file: "-", dir: "d", symlink: "l" };

/** ls's type letter for an entry: `-`, `d`, `l`, or for "other" `p`, `s`, `b`, `c` (`?` when unknown). */
export function typeLetter(type: Entry["type"], st: Stats): string {
  if (type !== "other") return TYPE_CHAR[type] ?? "?";
  return st.isFIFO() ? "p" : st.isSocket() ? "s" : st.isBlockDevice() ? "b" : st.isCharacterDevice() ? "c" : "?";
}

/** `-rwxr-xr-x` from ls's type letter and mode bits, with setuid/setgid/sticky as ls shows them. */
export function modeLetters(typeChar: string, m: number): string {
  const rwx = (bits: number, special: boolean, specialChar: string) =>
    (bits & 4 ? "r" : "-") + (bits & 2 ? "w" : "-") + (special ? (bits & 1 ? specialChar : specialChar.toUpperCase()) : bits & 1 ? "x" : "-");
  return typeChar + rwx((m >> 6) & 7, (m & 0o4000) !== 0, "s") + rwx((m >> 3) & 7, (m & 0o2000) !== 0, "s") + rwx(m & 7, (m & 0o1000) !== 0, "t");
}

/** `-rwxr-xr-x` from a type and mode bits, with setuid/setgid/sticky as ls shows them. */
export function modeString(type: Entry["type"], st: Stats): string {
  return modeLetters(typeLetter(type, st), st.mode);
}

/** One line of the text listing, like `ls -l`: mode, size, time, name, and `/` or `-> target`. */
export function entryLine(e: Entry, modeText: string): string {
  const when = e.mtime.slice(0, 16).replace("T", " ");
  const suffix = e.type === "dir" ? "/" : e.target !== undefined ? ` -> ${e.target}` : "";
  return `${modeText} ${String(e.size).padStart(10)} ${when} ${e.name}${suffix}`;
}

/** The reply for a listing: `total` entries after the dot-file filter (`hidden` left out by it), `entries` the first of them in name order. */
export function listingReply(path: string, entries: Entry[], lines: string[], total: number, hidden: number, byteCapped = false): ToolOutcome<ListResult> {
  const truncated = total > entries.length;
  const header = `${path}: ${total} ${total === 1 ? "entry" : "entries"}${hidden > 0 ? ` (${hidden} dot ${hidden === 1 ? "entry" : "entries"} hidden; pass all: true to see them)` : ""}`;
  const note = !truncated
    ? ""
    : byteCapped
      ? `\n[lmcp: first ${entries.length} of ${total} entries shown: the listing reached its ${MAX_LISTING_BYTES / 1024 / 1024} MiB reply cap; use search_files with a pattern to narrow down]`
      : `\n[lmcp: first ${entries.length} of ${total} entries shown; pass a larger max_entries, or use search_files to narrow down]`;
  return ok({ path, entries, total, truncated }, [header, ...lines].join("\n") + note);
}

/** A directory that cannot be listed because it is not one. */
export function notADirProblem(path: string, isFile: boolean): string {
  return isFile ? `${path} is a file, not a directory; use read_file to read it` : `${path} is not a directory`;
}

function describeEntry(dir: string, name: string): { entry: Entry; line: string } | undefined {
  let st: Stats;
  try {
    st = lstatSync(join(dir, name));
  } catch {
    return undefined; // gone since readdir
  }
  const type = typeOf(st);
  const e: Entry = {
    name,
    type,
    size: st.size,
    mtime: st.mtime.toISOString(),
    mode: (st.mode & 0o7777).toString(8).padStart(4, "0"),
  };
  if (type === "symlink") {
    try {
      e.target = readlinkSync(join(dir, name));
    } catch {
      // Unreadable link: listed without a target.
    }
  }
  return { entry: e, line: entryLine(e, modeString(type, st)) };
}

export const listDir = defineTool({
  name: "list_dir",
  title: "List directory",
  description:
    "Lists a directory's entries sorted by name, each with type (file, dir, symlink, other), size, mtime, mode and a symlink's target. " +
    "Dot files are hidden unless all is true; at most max_entries (default 1000) are returned. To find files deeper down, use search_files.",
  input,
  output,
  annotations: { title: "List directory", readOnlyHint: true, openWorldHint: false },
  async run(args, ctx) {
    const path = resolveUserPath(args.path);
    let fd: number | undefined;
    const release = await takeListingSlot();
    try {
      if (ctx.signal.aborted) return fail("cancelled");
      const opened = openChecked(ctx.policy ?? permissivePolicy, path, "dir", (st) => (st.isDirectory() ? undefined : notADirProblem(path, st.isFile())));
      fd = opened.fd;
      // Entries are read through the fd the policy approved, so a directory swapped in mid-call is never listed.
      const at = dirEntryBase(fd, opened.real ?? path);
      const allNames = await readdir(at); // off the main thread: a directory of a million names takes a while
      const names = args.all ? allNames : allNames.filter((n) => !n.startsWith("."));
      const hidden = allNames.length - names.length;
      names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      let total = names.length;
      const entries: Entry[] = [];
      const lines: string[] = [];
      let bytes = 0;
      let slice = performance.now();
      for (const name of names) {
        if (entries.length >= args.max_entries || bytes > MAX_LISTING_BYTES) break;
        // A huge directory must not hold the event loop: other calls and /healthz run between slices.
        if (performance.now() - slice > SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          if (ctx.signal.aborted) return fail("cancelled");
          slice = performance.now();
        }
        const d = describeEntry(at, name);
        if (!d) {
          total--;
          continue;
        }
        entries.push(d.entry);
        lines.push(d.line);
        bytes += 2 * d.line.length + 64; // the text line plus its structured twin
      }
      return listingReply(path, entries, lines, total, hidden, bytes > MAX_LISTING_BYTES);
    } catch (err) {
      return pathFailure("cannot list", err);
    } finally {
      if (fd !== undefined) closeSync(fd);
      release();
    }
  },
});
