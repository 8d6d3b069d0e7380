// session_send's named keys: one grammar (Enter, Up, C-c …) mapped to the bytes
// an xterm sends for each key, so agents need not spell escape sequences.

/** Keys whose bytes never depend on the terminal's modes. */
const FIXED: Record<string, string> = {
  Enter: "\r",
  Tab: "\t",
  BTab: "\x1b[Z",
  Escape: "\x1b",
  Backspace: "\x7f",
  Space: " ",
  Delete: "\x1b[3~",
  Insert: "\x1b[2~",
  PageUp: "\x1b[5~",
  PageDown: "\x1b[6~",
  F1: "\x1bOP",
  F2: "\x1bOQ",
  F3: "\x1bOR",
  F4: "\x1bOS",
  F5: "\x1b[15~",
  F6: "\x1b[17~",
  F7: "\x1b[18~",
  F8: "\x1b[19~",
  F9: "\x1b[20~",
  F10: "\x1b[21~",
  F11: "\x1b[23~",
  F12: "\x1b[24~",
};

/**
 * Cursor keys send CSI in normal mode and SS3 once a program asks for
 * "application cursor keys" (DECCKM; less, vim and readline do), as xterm does.
 */
const CURSOR: Record<string, string> = { Up: "A", Down: "B", Right: "C", Left: "D", Home: "H", End: "F" };

/** Other spellings agents reach for, folded onto the names above. */
const ALIASES: Record<string, string> = { Return: "Enter", Esc: "Escape", Del: "Delete", PgUp: "PageUp", PgDn: "PageDown", BackTab: "BTab" };

const CANONICAL = new Map<string, string>();
for (const name of [...Object.keys(FIXED), ...Object.keys(CURSOR)]) CANONICAL.set(name.toLowerCase(), name);
for (const [alias, name] of Object.entries(ALIASES)) CANONICAL.set(alias.toLowerCase(), name);

/** `C-a` … `C-z` (either case), plus the other control characters a keyboard makes: C-@ C-[ C-\ C-] C-^ C-_ and C-Space. */
const CTRL = /^C-([a-z@[\\\]^_]|space)$/i;

/** The key names, for descriptions and error messages. */
export const KEY_NAMES_HELP =
  "Enter, Tab, BTab (shift-Tab), Escape, Backspace, Space, Delete, Insert, Up, Down, Left, Right, Home, End, PageUp, PageDown, F1-F12, " +
  "and C-a … C-z for Ctrl with a letter (C-c is Ctrl-C; also C-@ C-[ C-\\ C-] C-^ C-_ C-Space). Names are case-insensitive (C-C is C-c)";

/** True for a name session_send accepts. */
export function isKeyName(name: string): boolean {
  return CTRL.test(name) || CANONICAL.has(name.toLowerCase());
}

/** The bytes for key `name` (validated by `isKeyName`); `appCursor` is the terminal's DECCKM mode. */
export function keyBytes(name: string, appCursor: boolean): string {
  const ctrl = CTRL.exec(name);
  if (ctrl) {
    const c = ctrl[1]!;
    if (c.length > 1) return "\x00";
    // Ctrl clears the high bits: C-a is 0x01, C-[ is ESC (0x1b), C-@ is NUL.
    return String.fromCharCode(c.toUpperCase().charCodeAt(0) & 0x1f);
  }
  const canonical = CANONICAL.get(name.toLowerCase());
  if (canonical === undefined) throw new Error(`unknown key ${name}`);
  const cursor = CURSOR[canonical];
  if (cursor !== undefined) return `${appCursor ? "\x1bO" : "\x1b["}${cursor}`;
  return FIXED[canonical]!;
}

/** What to tell an agent about a name that is not a key; suggests the key meant when the spelling is close (Ctrl-C, ^C, enter). */
export function unknownKeyMessage(name: string): string {
  const ctrlLike = /^(?:ctrl|control|ctl|c)[-+ _]?([a-z])$/i.exec(name) ?? /^\^([a-z])$/i.exec(name);
  const hint = ctrlLike ? ` (for Ctrl with ${ctrlLike[1]} write "C-${ctrlLike[1]!.toLowerCase()}")` : "";
  return `unknown key "${name}"${hint}; keys are ${KEY_NAMES_HELP}. For plain text use \`input\``;
}
