// Hosts from an ssh client config (~/.ssh/config): the literal names of its Host
// lines (following Include; wildcards and negations skipped), each checked with the
// real `ssh -G NAME`, which applies Include, Match and the defaults as ssh will.
//
// Each becomes an SSH-only backend whose ssh target is the alias itself, so the
// hub's ssh applies the same config when it connects (ProxyJump, known hosts,
// keys, options set for the alias): the entry is what an operator would write in
// backends.toml by hand (`ssh = "web1"`). `-F FILE` is added when FILE is not the
// config ssh reads by default, so both `ssh -G` and the calls read the same file.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type Backend, backendSchema } from "../registry.ts";
import { sshEnvironment } from "../ssh/runner.ts";
import { InventoryError, installed, lastWords, mapLimited, runBounded } from "./run.ts";

/** ssh -G runs this many at once: a config with hundreds of hosts must not fork hundreds of ssh at a start. */
const SSH_G_CONCURRENCY = 8;
/** ssh's own limit on nested Include (READCONF_MAX_DEPTH). */
const MAX_INCLUDE_DEPTH = 16;
/** What ssh tries when no IdentityFile is set; not worth an option of its own. */
const DEFAULT_IDENTITIES = new Set(["id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa"].map((f) => `~/.ssh/${f}`));

/** What `ssh -G` says about one alias: where a call will really go. */
export interface SshResolved {
  hostname: string;
  user: string;
  port: number;
  /** IdentityFile values other than ssh's defaults. */
  identityFiles: string[];
}

export interface SshConfigHost extends Backend {
  resolved: SshResolved;
}

let passwdHome: { dir: string | undefined } | undefined;

/**
 * The home ssh itself uses for `~`, relative Include paths and its default config: the passwd
 * entry's (getpwuid), not $HOME, which Bun's os.userInfo() reports. Looked up once (getent, for
 * NSS users, else /etc/passwd); unknown: -F is always passed.
 */
function sshHome(): string | undefined {
  if (passwdHome) return passwdHome.dir;
  const uid = process.getuid?.();
  let dir: string | undefined;
  if (uid !== undefined) {
    const fromLine = (line: string) => {
      const f = line.split(":");
      return f.length >= 7 && Number(f[2]) === uid && f[5] ? f[5] : undefined;
    };
    try {
      const r = Bun.spawnSync(["getent", "passwd", String(uid)], { stdin: "ignore", stdout: "pipe", stderr: "ignore", timeout: 5000 });
      if (r.exitCode === 0) dir = fromLine(r.stdout.toString().trim());
    } catch {
      // no getent (macOS): /etc/passwd below
    }
    if (dir === undefined) {
      try {
        for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) dir ??= fromLine(line);
      } catch {
        // no /etc/passwd either
      }
    }
  }
  passwdHome = { dir };
  return dir;
}

/** The config file ssh reads when given no -F. */
export function defaultSshConfig(): string | undefined {
  const home = sshHome();
  return home === undefined ? undefined : join(home, ".ssh", "config");
}

/** One config line as ssh splits it: keyword (lower case) and arguments; `keyword=value`, double quotes, an unquoted `#` ends the line. */
export function splitConfigLine(line: string): { keyword: string; args: string[] } | undefined {
  const t = line.trim();
  if (t === "" || t.startsWith("#")) return undefined;
  const m = /^([^\s=]+)\s*(?:=\s*)?(.*)$/.exec(t);
  if (!m) return undefined;
  const args: string[] = [];
  const rest = m[2] ?? "";
  const re = /"([^"]*)"|(\S+)/g;
  for (let a = re.exec(rest); a; a = re.exec(rest)) {
    if (a[2] !== undefined && a[2].startsWith("#")) break;
    args.push(a[1] ?? a[2] ?? "");
  }
  return { keyword: m[1]!.toLowerCase(), args };
}

/** The files one Include argument names, as ssh resolves them: `~/` and relative paths from ssh's home (~/.ssh), globs sorted. */
function includeFiles(arg: string, home: string | undefined, including: string): string[] {
  let p = arg;
  if (p.startsWith("~/") && home !== undefined) p = join(home, p.slice(2));
  else if (!p.startsWith("/")) p = home !== undefined ? join(home, ".ssh", p) : resolve(dirname(including), p);
  p = resolve(p);
  if (!/[*?[]/.test(p)) return existsSync(p) ? [p] : [];
  const parts = p.split("/");
  const firstGlob = parts.findIndex((s) => /[*?[]/.test(s));
  const base = parts.slice(0, firstGlob).join("/") || "/";
  if (!existsSync(base)) return [];
  const glob = new Bun.Glob(parts.slice(firstGlob).join("/"));
  return [...glob.scanSync({ cwd: base, absolute: true, onlyFiles: true, dot: false })].sort();
}

/**
 * The literal host names of a config's Host lines, in file order, Include followed (also inside
 * Host and Match blocks: ssh -G decides later whether an alias is real). Patterns with `*`, `?`
 * or a leading `!` are not hosts; a literal the hub cannot use as a name is a warning.
 */
export function listHostAliases(file: string): { names: string[]; warnings: string[] } {
  const home = sshHome();
  const names: string[] = [];
  const seen = new Set<string>();
  const warnings: string[] = [];
  const visit = (path: string, stack: string[]): void => {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (stack.length === 0) {
        throw new InventoryError(
          code === "ENOENT"
            ? `ssh_config: ${path} does not exist; create it (Host entries), or remove ssh_config from hub.toml`
            : `ssh_config: cannot read ${path}: ${(err as Error).message}`,
        );
      }
      warnings.push(`ssh_config: ${stack.at(-1)}: cannot read included ${path}: ${(err as Error).message}`);
      return;
    }
    text.split("\n").forEach((line, i) => {
      const parsed = splitConfigLine(line);
      if (!parsed) return;
      if (parsed.keyword === "include") {
        if (stack.length + 1 >= MAX_INCLUDE_DEPTH) {
          warnings.push(`ssh_config: ${path}:${i + 1}: Include nested deeper than ${MAX_INCLUDE_DEPTH} files; not followed`);
          return;
        }
        for (const arg of parsed.args) {
          for (const inc of includeFiles(arg, home, path)) {
            if (inc === path || stack.includes(inc)) warnings.push(`ssh_config: ${path}:${i + 1}: Include ${inc} includes itself; not followed again`);
            else visit(inc, [...stack, path]);
          }
        }
        return;
      }
      if (parsed.keyword !== "host") return;
      for (const pattern of parsed.args) {
        if (pattern.startsWith("!") || /[*?]/.test(pattern) || seen.has(pattern)) continue;
        seen.add(pattern);
        if (!backendSchema.shape.name.safeParse(pattern).success) {
          warnings.push(`ssh_config: ${path}:${i + 1}: Host "${pattern}" left out: a hub host name is letters, digits, '.', '_' or '-' (at most 63), starting with a letter or digit`);
          continue;
        }
        names.push(pattern);
      }
    });
  };
  visit(file, []);
  return { names, warnings };
}

/** `ssh -G` output: one `key value` per line, keys in lower case. */
export function parseSshG(out: string): SshResolved {
  let hostname = "";
  let user = "";
  let port = 22;
  const identityFiles: string[] = [];
  for (const line of out.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp < 0) continue;
    const key = line.slice(0, sp);
    const value = line.slice(sp + 1).trim();
    if (key === "hostname") hostname = value;
    else if (key === "user") user = value;
    else if (key === "port") port = Number(value) || 22;
    else if (key === "identityfile" && !DEFAULT_IDENTITIES.has(value)) identityFiles.push(value);
  }
  return { hostname, user, port, identityFiles };
}

/** Every literal Host of `file` that `ssh -G` resolves, as SSH-only backends; a host that fails is a warning, all failing is an InventoryError. */
export async function sshConfigHosts(file: string, timeoutMs: number): Promise<{ backends: SshConfigHost[]; warnings: string[] }> {
  const env = sshEnvironment();
  if (!installed("ssh", env)) {
    throw new InventoryError(`ssh_config: the ssh client is not installed (no ssh on PATH); install OpenSSH's client (Debian: apt-get install openssh-client), or remove ssh_config from hub.toml`);
  }
  const { names, warnings } = listHostAliases(file);
  // -F only when needed: without it ssh also applies /etc/ssh/ssh_config, as it will for the operator's own `ssh NAME`.
  const configArgs = file === defaultSshConfig() ? [] : ["-F", file];
  const results = await mapLimited(names, SSH_G_CONCURRENCY, async (name) => {
    const r = await runBounded(["ssh", "-G", ...configArgs, "--", name], { timeoutMs, maxBytes: 1024 * 1024, env });
    if (r.timedOut) return { name, error: `ssh -G ${name} did not finish within ${timeoutMs / 1000} s (a Match exec that hangs?)` };
    if (r.code !== 0 || r.tooBig) return { name, error: `ssh -G ${name} failed: ${lastWords(r.stderr) || `exit code ${r.code}`}` };
    return { name, resolved: parseSshG(r.stdout) };
  });
  const backends: SshConfigHost[] = [];
  const failures: string[] = [];
  for (const r of results) {
    if ("error" in r) {
      failures.push(`ssh_config: host "${r.name}" left out: ${r.error}`);
      continue;
    }
    backends.push({
      name: r.name,
      url: undefined,
      token: undefined,
      ssh: r.name,
      ssh_port: undefined,
      ssh_options: configArgs,
      tags: [],
      tokenFile: undefined,
      allowedPaths: undefined,
      resolved: r.resolved,
    });
  }
  // Every host failing is the file (a bad option), not the hosts: say it once, as a source error.
  if (names.length > 0 && backends.length === 0) {
    throw new InventoryError(`ssh_config: ssh could not resolve any host of ${file}: ${failures[0]!.replace(/^ssh_config: /, "")}`);
  }
  return { backends, warnings: [...warnings, ...failures] };
}
