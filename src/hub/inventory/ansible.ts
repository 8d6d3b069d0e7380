// Hosts from an Ansible inventory: `ansible-inventory -i SOURCE --list` (or a
// program printing the same JSON). Groups become tags, parents through `children`
// included; ansible_host, ansible_user, ansible_port and ansible_ssh_private_key_file
// make the ssh target; the hostvars lmcp_url and lmcp_token_file give its lmcp.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { readTokenFile } from "../../config/tokens.ts";
import { type Backend, backendSchema } from "../registry.ts";
import { InventoryError, installed, lastWords, runBounded } from "./run.ts";

/** A large inventory's --list is megabytes; far beyond this it is not an inventory. */
const MAX_LIST_BYTES = 64 * 1024 * 1024;
/** Groups every host is in: no information as a tag. */
const IMPLICIT_GROUPS = new Set(["all", "ungrouped"]);
/** Connection plugins that mean "over ssh"; any other (local, winrm, docker…) has no SSH target. */
const SSH_CONNECTIONS = new Set(["ssh", "smart", "paramiko", "paramiko_ssh"]);
/** The hostvars read here; a template in any other (ansible_python_interpreter…) is none of lmcp's business. */
const USED_VARS = [
  "ansible_host", "ansible_ssh_host", "ansible_user", "ansible_ssh_user", "ansible_port", "ansible_ssh_port",
  "ansible_ssh_private_key_file", "ansible_private_key_file", "ansible_connection", "lmcp_url", "lmcp_token_file",
];

const groupSchema = z.object({ hosts: z.array(z.string()).optional(), children: z.array(z.string()).optional() }).loose();
const listSchema = z
  .object({ _meta: z.object({ hostvars: z.record(z.string(), z.record(z.string(), z.unknown())).optional() }).loose().optional() })
  .catchall(groupSchema);
export type AnsibleList = z.output<typeof listSchema>;

/** A hostvar as text: strings, and numbers for ports; anything else is absent. */
function str(v: unknown): string | undefined {
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A string split as a POSIX shell splits words (Ansible uses shlex): quotes and backslashes; undefined on an unclosed quote. */
export function shellWords(s: string): string[] | undefined {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return undefined;
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      // Inside double quotes a backslash escapes only " \ $ and `.
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === "\\" && j + 1 < s.length && '"\\$`'.includes(s[j + 1]!)) j++;
        cur += s[j];
      }
      if (j >= s.length) return undefined;
      inWord = true;
      i = j;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

const tilde = (p: string) => (p === "~" ? homedir() : p.startsWith("~/") ? join(homedir(), p.slice(2)) : p);

/** Every group a host is in, directly or through `children`, without all/ungrouped; direct groups first. */
function tagsOf(host: string, groups: [string, z.output<typeof groupSchema>][], parents: Map<string, string[]>): string[] {
  const out: string[] = [];
  const queue = groups.filter(([, g]) => g.hosts?.includes(host)).map(([name]) => name);
  const seen = new Set<string>();
  // Bounded by the number of groups: each is visited once, so a cycle in children cannot loop.
  while (queue.length > 0) {
    const g = queue.shift()!;
    if (seen.has(g)) continue;
    seen.add(g);
    if (!IMPLICIT_GROUPS.has(g)) out.push(g);
    queue.push(...(parents.get(g) ?? []));
  }
  return out;
}

/** One host's backend from its hostvars, or why it is left out. */
function hostBackend(name: string, vars: Record<string, unknown>, tags: string[]): { backend?: Backend; warnings: string[] } {
  const warnings: string[] = [];
  const who = `ansible: host "${name}"`;
  if (!backendSchema.shape.name.safeParse(name).success) {
    return { warnings: [`${who} left out: a hub host name is letters, digits, '.', '_' or '-' (at most 63), starting with a letter or digit`] };
  }
  // ansible-inventory --list prints hostvars unrendered; a template is no address.
  const templated = USED_VARS.find((k) => typeof vars[k] === "string" && (vars[k] as string).includes("{{"));
  if (templated) {
    return { warnings: [`${who} left out: ${templated} is a Jinja template (${String(vars[templated]).slice(0, 80)}); lmcp does not evaluate templates, so set it to a literal value`] };
  }

  let ssh: string | undefined;
  let sshPort: number | undefined;
  const sshOptions: string[] = [];
  const connection = str(vars.ansible_connection);
  if (connection === undefined || SSH_CONNECTIONS.has(connection)) {
    const host = str(vars.ansible_host) ?? str(vars.ansible_ssh_host) ?? name;
    const user = str(vars.ansible_user) ?? str(vars.ansible_ssh_user);
    const target = user === undefined ? host : `${user}@${host}`;
    if (!backendSchema.shape.ssh.safeParse(target).success) {
      return { warnings: [`${who} left out: ssh target "${target}" (from ansible_host/ansible_user) must be "host" or "user@host", without spaces, neither part starting with "-"`] };
    }
    ssh = target;
    const port = str(vars.ansible_port) ?? str(vars.ansible_ssh_port);
    if (port !== undefined) {
      const n = Number(port);
      if (!Number.isInteger(n) || n < 1 || n > 65535) return { warnings: [`${who} left out: ansible_port "${port}" is not a port (1-65535)`] };
      sshPort = n;
    }
    const key = str(vars.ansible_ssh_private_key_file) ?? str(vars.ansible_private_key_file);
    if (key !== undefined) sshOptions.push("-i", resolve(tilde(key)));
    // As Ansible passes them to ssh (a bastion's ProxyCommand, host key options); the inventory is the operator's, like ssh_options.
    for (const k of ["ansible_ssh_common_args", "ansible_ssh_extra_args"]) {
      const v = str(vars[k]);
      if (v === undefined) continue;
      const words = shellWords(v);
      if (words === undefined) return { warnings: [`${who} left out: ${k} has an unclosed quote`] };
      sshOptions.push(...words);
    }
  }

  let url: string | undefined;
  let token: string | undefined;
  let tokenFile: string | undefined;
  const lmcpUrl = str(vars.lmcp_url);
  if (lmcpUrl !== undefined) {
    const tf = str(vars.lmcp_token_file);
    if (!backendSchema.shape.url.safeParse(lmcpUrl).success) warnings.push(`${who}: lmcp_url "${lmcpUrl}" is not an http:// or https:// URL; ${ssh ? "using it over SSH only" : "left out"}`);
    else if (tf === undefined) warnings.push(`${who}: lmcp_url is set but lmcp_token_file is not; ${ssh ? "using it over SSH only" : "left out"}`);
    else {
      try {
        tokenFile = resolve(tilde(tf));
        token = readTokenFile(tokenFile)[0];
        url = lmcpUrl;
      } catch (err) {
        tokenFile = undefined;
        warnings.push(`${who}: lmcp_token_file: ${(err as Error).message}; ${ssh ? "using it over SSH only" : "left out"}`);
      }
    }
  }
  if (ssh === undefined && url === undefined) {
    if (lmcpUrl === undefined) warnings.push(`${who} left out: ansible_connection=${connection} is not ssh, and it has no lmcp_url`);
    return { warnings };
  }
  return { backend: { name, url, token, ssh, ssh_port: sshPort, ssh_options: sshOptions, tags, tokenFile, allowedPaths: undefined }, warnings };
}

/** The hosts of an `ansible-inventory --list` document, in the order its groups list them. */
export function ansibleBackends(doc: unknown, label: string): { backends: Backend[]; warnings: string[] } {
  const parsed = listSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InventoryError(`${label}: not ansible-inventory --list JSON: ${issue?.path.join(".") || "(top)"}: ${issue?.message}`);
  }
  const { _meta, ...rest } = parsed.data;
  const groups = Object.entries(rest) as [string, z.output<typeof groupSchema>][];
  const hostvars = _meta?.hostvars ?? {};
  const parents = new Map<string, string[]>();
  for (const [g, body] of groups) for (const child of body.children ?? []) parents.set(child, [...(parents.get(child) ?? []), g]);
  const names: string[] = [];
  const seen = new Set<string>();
  for (const h of [...groups.flatMap(([, g]) => g.hosts ?? []), ...Object.keys(hostvars)]) {
    if (!seen.has(h)) {
      seen.add(h);
      names.push(h);
    }
  }
  const backends: Backend[] = [];
  const warnings: string[] = [];
  for (const name of names) {
    const r = hostBackend(name, hostvars[name] ?? {}, tagsOf(name, groups, parents));
    warnings.push(...r.warnings);
    if (r.backend) backends.push(r.backend);
  }
  return { backends, warnings };
}

/** Runs the inventory command and reads its hosts; a missing program, a failure or bad JSON is an InventoryError. */
export async function ansibleHosts(argv: string[], label: string, timeoutMs: number, path?: string): Promise<{ backends: Backend[]; warnings: string[] }> {
  // ansible-inventory reads a missing source as an empty inventory (a warning, exit 0): every host would vanish on a typo.
  if (path !== undefined && !existsSync(path)) {
    throw new InventoryError(`${label}: ${path} does not exist; fix ansible_inventory in hub.toml (a file, a directory or an inventory plugin's .yml)`);
  }
  // Its own environment: a dynamic inventory may need cloud credentials; LMCP_TOKEN was scrubbed at start.
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  // A source no plugin can parse is an error, not an empty inventory (unless the operator set otherwise).
  env.ANSIBLE_INVENTORY_UNPARSED_FAILED ??= "True";
  const program = argv[0]!;
  if (!installed(program, env)) {
    throw new InventoryError(
      program === "ansible-inventory"
        ? `${label}: ansible-inventory is not installed (not found on PATH); install Ansible (Debian: apt-get install ansible-core, or pipx install ansible-core), or set ansible_inventory_command to a program that prints the same JSON`
        : `${label}: ${program} not found (not a file, nor on PATH)`,
    );
  }
  const r = await runBounded(argv, { timeoutMs, maxBytes: MAX_LIST_BYTES, env });
  if (r.timedOut) throw new InventoryError(`${label}: did not finish within ${timeoutMs / 1000} s (inventory_timeout_s in hub.toml)`);
  if (r.tooBig) throw new InventoryError(`${label}: printed more than ${MAX_LIST_BYTES / 1024 / 1024} MiB; is this an inventory?`);
  if (r.code !== 0) throw new InventoryError(`${label}: exited with ${r.code === null ? "a signal" : `code ${r.code}`}: ${lastWords(r.stderr) || "(nothing on stderr)"}`);
  let doc: unknown;
  try {
    doc = JSON.parse(r.stdout);
  } catch (err) {
    throw new InventoryError(`${label}: its output is not JSON (${(err as Error).message}); it must print what ansible-inventory --list prints`);
  }
  return ansibleBackends(doc, label);
}
