// The fleet authority: one directory (made by `lmcp hub nats-init`) holding the
// NATS operator, the fleet's account and system account keys, the hub's
// credentials, the TLS CA and server certificate, the nats-server config, and
// fleet.json (enrolled hosts, pending enrollments, revocations). It signs each
// host's credentials (a NATS user JWT limited to that host's subjects,
// src/nats/permissions.ts) and pushes the account's revocation list to NATS.
// Every change to fleet.json happens under a lock file, so `lmcp hub enroll`,
// `lmcp hub revoke` and a hub answering `lmcp join` never lose each other's edits.
import { chmodSync, chownSync, closeSync, existsSync, fchownSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { type KeyPair, createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds, fromPublic, fromSeed } from "@nats-io/jwt";
import { z } from "zod";
import { ConfigError } from "../config/file.ts";
import { randomBytes } from "../crypto.ts";
import { makeCertificates } from "./certs.ts";
import { HOST_MAX_SUBS, enrollPermissions, hostPermissions, hubPermissions } from "./permissions.ts";

/** Files in the authority directory. */
export const authorityFiles = (dir: string) => ({
  fleet: join(dir, "fleet.json"),
  operatorKey: join(dir, "operator.nk"),
  accountKey: join(dir, "account.nk"),
  systemKey: join(dir, "system-account.nk"),
  systemCreds: join(dir, "system.creds"),
  hubCreds: join(dir, "hub.creds"),
  ca: join(dir, "ca.pem"),
  caKey: join(dir, "ca-key.pem"),
  serverCert: join(dir, "server.pem"),
  serverKey: join(dir, "server-key.pem"),
  serverConf: join(dir, "nats-server.conf"),
  authConf: join(dir, "auth.conf"),
  resolverDir: join(dir, "jwt"),
  lock: join(dir, ".lock"),
});

const hostName = z.string().min(1).max(63);

const fleetState = z.object({
  v: z.literal(1),
  /** What hosts and hubs connect to (tls://HOST:PORT), as the join command carries them. */
  servers: z.array(z.string().min(1)).min(1),
  account: z.string(),
  system_account: z.string(),
  hosts: z.record(hostName, z.object({ pub: z.string(), tags: z.array(z.string()), enrolled_at: z.string() })),
  pending: z.record(hostName, z.object({ enroll_pub: z.string(), tags: z.array(z.string()), expires_at: z.number(), replace: z.boolean() })),
  /** User public key → when it was revoked (unix seconds) and whose it was; the account JWT carries the same list. */
  revoked: z.record(z.string(), z.object({ name: z.string(), at: z.number() })),
});
export type FleetState = z.output<typeof fleetState>;

/** Limits of an account JWT: none of NATS's own (absent limits would mean zero connections). */
const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

/** How long an `lmcp join` may wait for the lock before saying what holds it. */
const LOCK_WAIT_MS = 10_000;

export interface InitOptions {
  dir: string;
  /** Client URLs hosts and hubs use, e.g. tls://nats.example.com:4222. */
  servers: string[];
  /** nats-server's listen address (HOST:PORT). */
  listen: string;
  serverName: string;
  /** DNS names and IP addresses the server certificate covers (the servers' hosts are added). */
  names: string[];
  force: boolean;
}

export interface JoinParts {
  name: string;
  tags: string[];
  servers: string[];
  ca: string;
  /** The one-time enrollment credentials (NATS creds file text). */
  creds: string;
  expiresAt: number;
}

export class Authority {
  readonly files: ReturnType<typeof authorityFiles>;

  private constructor(readonly dir: string) {
    this.files = authorityFiles(dir);
  }

  /** Opens an existing authority directory, or says how to make one. */
  static open(dir: string): Authority {
    const a = new Authority(dir);
    if (!existsSync(a.files.fleet)) {
      throw new ConfigError(`${dir} is not a fleet authority (no fleet.json); create one with \`lmcp hub nats-init --dir ${dir}\``);
    }
    a.read();
    return a;
  }

  /** Writes a new authority: keys, hub and system credentials, TLS, nats-server.conf. Refuses to replace one unless `force`. */
  static async init(o: InitOptions): Promise<Authority> {
    const a = new Authority(o.dir);
    if (existsSync(a.files.fleet) && !o.force) {
      throw new ConfigError(`${o.dir} already holds a fleet authority; replacing it cuts off every enrolled host. Pass --force to do it anyway, or --dir another directory`);
    }
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    chmodSync(o.dir, 0o700);
    rmSync(a.files.resolverDir, { recursive: true, force: true });
    mkdirSync(a.files.resolverDir, { mode: 0o700 });
    // Root making the authority inside the hub user's state directory (/var/lib/lmcp): it belongs to that user.
    const parent = process.getuid?.() === 0 ? ownerOf(dirname(o.dir)) : undefined;
    const handTo = parent && (parent.uid !== 0 || parent.gid !== 0) ? parent : undefined;
    if (handTo) for (const d of [o.dir, a.files.resolverDir]) chownSync(d, handTo.uid, handTo.gid);
    const operator = createOperator();
    const system = createAccount();
    const account = createAccount();
    writeSecret(a.files.operatorKey, `${seedOf(operator)}\n`);
    writeSecret(a.files.systemKey, `${seedOf(system)}\n`);
    writeSecret(a.files.accountKey, `${seedOf(account)}\n`);
    const systemUser = createUser();
    writeSecret(a.files.systemCreds, text(fmtCreds(await encodeUser("lmcp-system", systemUser, system), systemUser)));
    const hubUser = createUser();
    const hubJwt = await encodeUser("lmcp-hub", hubUser, account, { ...hubPermissions() });
    writeSecret(a.files.hubCreds, text(fmtCreds(hubJwt, hubUser)));
    await makeCertificates({ ca: a.files.ca, caKey: a.files.caKey, cert: a.files.serverCert, key: a.files.serverKey }, [...o.names, ...o.servers.map(hostOf)]);
    if (handTo) for (const f of [a.files.ca, a.files.caKey, a.files.serverCert, a.files.serverKey]) chownSync(f, handTo.uid, handTo.gid);
    const state: FleetState = { v: 1, servers: o.servers, account: account.getPublicKey(), system_account: system.getPublicKey(), hosts: {}, pending: {}, revoked: {} };
    writeSecret(a.files.fleet, `${JSON.stringify(state, null, 2)}\n`);
    const operatorJwt = await encodeOperator("lmcp", operator, { system_account: system.getPublicKey() });
    const systemJwt = await encodeAccount("SYS", system, { limits: UNLIMITED }, { signer: operator });
    writeSecret(a.files.serverConf, serverConf(o, a.files));
    writeSecret(a.files.authConf, authConf(operatorJwt, system.getPublicKey(), systemJwt, account.getPublicKey(), await a.accountJwt(state)));
    return a;
  }

  /** fleet.json as it is now (re-read each time: another process may have changed it). */
  read(): FleetState {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.files.fleet, "utf8"));
    } catch (err) {
      throw new ConfigError(`cannot read ${this.files.fleet}: ${(err as Error).message}`);
    }
    const parsed = fleetState.safeParse(raw);
    if (!parsed.success) throw new ConfigError(`${this.files.fleet} is damaged: ${z.prettifyError(parsed.error)}; restore it from a backup`);
    return parsed.data;
  }

  get servers(): string[] {
    return this.read().servers;
  }

  ca(): string {
    return readFileSync(this.files.ca, "utf8");
  }

  hubCreds(): Uint8Array {
    return readFileSync(this.files.hubCreds);
  }

  systemCreds(): Uint8Array {
    return readFileSync(this.files.systemCreds);
  }

  /**
   * Starts one host's enrollment: fresh one-time credentials that may only ask to join as `name`, valid for `ttlMs`.
   * Refuses a name already enrolled unless `replace` (the old credentials are revoked when the new host joins).
   */
  async enroll(name: string, tags: string[], ttlMs: number, replace: boolean): Promise<JoinParts> {
    const account = this.key(this.files.accountKey);
    return this.update(async (s) => {
      if (s.hosts[name] && !replace) {
        throw new ConfigError(`${name} is enrolled already; pass --replace to enroll a new machine under that name (the old one is cut off when it joins), or revoke it first with \`lmcp hub revoke ${name}\``);
      }
      const enrollUser = createUser();
      const expiresAt = Math.floor((Date.now() + ttlMs) / 1000);
      const jwt = await encodeUser(`lmcp-join-${name}`, enrollUser, account, { ...enrollPermissions(name), subs: 4 }, { exp: expiresAt });
      s.pending[name] = { enroll_pub: enrollUser.getPublicKey(), tags, expires_at: expiresAt, replace };
      return { name, tags, servers: s.servers, ca: this.ca(), creds: text(fmtCreds(jwt, enrollUser)), expiresAt: expiresAt * 1000 };
    });
  }

  /**
   * Admits a host that presents a pending enrollment: checks the enrollment key signed the request and has not
   * expired, consumes the enrollment (so the same join works once), and signs the host's own credentials for
   * `hostPub` (a key the host made; its seed never leaves the host). Returns the user JWT and whether an old
   * machine's credentials were revoked by it.
   */
  async admit(req: { name: string; host_pub: string; enroll_pub: string; sig: string }): Promise<{ jwt: string; tags: string[]; replaced: boolean }> {
    const account = this.key(this.files.accountKey);
    return this.update(async (s) => {
      const p = s.pending[req.name];
      if (!p || p.enroll_pub !== req.enroll_pub) throw new Refusal(`no enrollment of ${req.name} is waiting for this join token: it was used already, replaced by a newer \`lmcp hub enroll ${req.name}\`, or revoked`);
      if (p.expires_at * 1000 < Date.now()) {
        delete s.pending[req.name];
        throw new Refusal(`this join token expired at ${new Date(p.expires_at * 1000).toISOString()}; make a new one with \`lmcp hub enroll ${req.name}\``);
      }
      if (!verifyJoin(req)) throw new Refusal("the join request's signature does not match its enrollment key");
      if (!/^U[A-Z2-7]{55}$/.test(req.host_pub)) throw new Refusal("host_pub is not a NATS user public key");
      delete s.pending[req.name];
      const old = s.hosts[req.name];
      const replaced = old !== undefined && old.pub !== req.host_pub;
      if (replaced) s.revoked[old.pub] = { name: req.name, at: nowS() };
      // The tags go in the JWT too: hubs believe a host's tags only from there (src/nats/host_claims.ts).
      const jwt = await encodeUser(req.name, req.host_pub, account, { ...hostPermissions(req.name), subs: HOST_MAX_SUBS, tags: p.tags });
      s.hosts[req.name] = { pub: req.host_pub, tags: p.tags, enrolled_at: new Date().toISOString() };
      return { jwt, tags: p.tags, replaced };
    });
  }

  /**
   * Revokes a host: its credentials go on the account's revocation list (pending enrollments of the name go too).
   * Returns the account JWT to push to NATS (which disconnects the host at once and refuses it from then on).
   */
  async revoke(name: string): Promise<{ accountJwt: string; pub: string | undefined; pendingDropped: boolean }> {
    return this.update(async (s) => {
      const host = s.hosts[name];
      const pending = s.pending[name];
      if (!host && !pending) {
        const known = Object.keys(s.hosts).sort();
        throw new ConfigError(`${name} is not enrolled in this fleet${known.length ? ` (enrolled: ${known.slice(0, 20).join(", ")}${known.length > 20 ? ", …" : ""})` : ""}`);
      }
      if (host) {
        s.revoked[host.pub] = { name, at: nowS() };
        delete s.hosts[name];
      }
      if (pending) {
        s.revoked[pending.enroll_pub] = { name: `${name} (join token)`, at: nowS() };
        delete s.pending[name];
      }
      return { accountJwt: await this.accountJwt(s), pub: host?.pub, pendingDropped: pending !== undefined };
    });
  }

  /** The fleet account's JWT with the revocation list of `state`, signed by the operator. */
  async accountJwt(state: FleetState = this.read()): Promise<string> {
    const revocations: Record<string, number> = {};
    for (const [pub, r] of Object.entries(state.revoked)) revocations[pub] = r.at;
    return encodeAccount("LMCP", this.key(this.files.accountKey), { limits: UNLIMITED, revocations }, { signer: this.key(this.files.operatorKey) });
  }

  /** Keeps auth.conf's preloaded account JWT current, so a restarted nats-server starts with every revocation. */
  refreshPreload(accountJwt: string): void {
    const conf = readFileSync(this.files.authConf, "utf8");
    const s = this.read();
    const next = conf.replace(new RegExp(`(\\s${s.account}:\\s*)\\S+`), (_m, lead: string) => `${lead}${accountJwt}`);
    writeSecret(this.files.authConf, next);
  }

  private key(file: string): KeyPair {
    try {
      return fromSeed(new TextEncoder().encode(readFileSync(file, "utf8").trim()));
    } catch (err) {
      throw new ConfigError(`cannot read the key ${file}: ${(err as Error).message}; run as the authority directory's owner`);
    }
  }

  /** Runs `fn` on fleet.json under the lock and writes back what it changed; an error leaves the file as it was. */
  private async update<T>(fn: (s: FleetState) => Promise<T>): Promise<T> {
    const release = await this.lock();
    try {
      const s = this.read();
      const out = await fn(s);
      writeSecret(this.files.fleet, `${JSON.stringify(s, null, 2)}\n`);
      return out;
    } finally {
      release();
    }
  }

  /** A lock directory with the holder's pid; a holder that died leaves one the next taker removes. */
  private async lock(): Promise<() => void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let i = 0; ; i++) {
      try {
        mkdirSync(this.files.lock, { mode: 0o700 });
        // Root's lock in the hub user's authority: that user must be able to clear it if root's command dies.
        const owner = process.getuid?.() === 0 ? ownerOf(this.dir) : undefined;
        if (owner && (owner.uid !== 0 || owner.gid !== 0)) chownSync(this.files.lock, owner.uid, owner.gid);
        writeSecret(join(this.files.lock, "pid"), `${process.pid}\n`);
        return () => rmSync(this.files.lock, { recursive: true, force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new ConfigError(`cannot lock ${this.dir}: ${(err as Error).message}`);
      }
      const holder = Number(readOr(join(this.files.lock, "pid")));
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        rmSync(this.files.lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline || i > 2000) {
        throw new ConfigError(`${this.files.lock} is held${holder ? ` by process ${holder}` : ""}; if no lmcp command is running on this authority, remove it`);
      }
      await Bun.sleep(5);
    }
  }
}

/** A join that cannot be admitted: the joining host gets this message. */
export class Refusal extends Error {}

/** What a joining host signs with its enrollment key, so a token's holder alone can ask with it. */
export const joinStatement = (name: string, hostPub: string) => new TextEncoder().encode(`lmcp-join\n${name}\n${hostPub}`);

function verifyJoin(req: { name: string; host_pub: string; enroll_pub: string; sig: string }): boolean {
  try {
    return fromPublic(req.enroll_pub).verify(joinStatement(req.name, req.host_pub), Buffer.from(req.sig, "base64url"));
  } catch {
    return false;
  }
}

function serverConf(o: InitOptions, f: ReturnType<typeof authorityFiles>): string {
  return `# nats-server configuration for an lmcp fleet, written by \`lmcp hub nats-init\` on ${new Date().toISOString()}.
# Start it with: nats-server -c ${f.serverConf}
# For a cluster, copy this directory's auth.conf, ca.pem and a certificate to each node and add a cluster block
# (docs/hub.md#a-nats-cluster). Clients must use TLS; every user is signed by the fleet's operator (auth.conf).
server_name: ${JSON.stringify(o.serverName)}
listen: ${JSON.stringify(o.listen)}
# lmcp's largest message is an 8 MiB reply plus its wrapper.
max_payload: 8MB
tls {
  cert_file: ${JSON.stringify(f.serverCert)}
  key_file: ${JSON.stringify(f.serverKey)}
  timeout: 5
}
include "auth.conf"
resolver {
  type: full
  dir: ${JSON.stringify(f.resolverDir)}
  allow_delete: false
}
`;
}

function authConf(operatorJwt: string, systemPub: string, systemJwt: string, accountPub: string, accountJwt: string): string {
  return `# The fleet's trust: the operator and its two accounts (SYS for administration, LMCP for hosts and hubs).
# Written and kept current by lmcp (\`lmcp hub revoke\` updates the LMCP account's revocations); do not edit.
operator: ${operatorJwt}
system_account: ${systemPub}
resolver_preload: {
  ${systemPub}: ${systemJwt}
  ${accountPub}: ${accountJwt}
}
`;
}

/**
 * Writes a file readable by its owner only: temp beside it, fsync, rename (a crash leaves the old or the new).
 * Run as root on a file someone else owns (`sudo lmcp hub enroll` on a system hub's authority, owned by the lmcp
 * user the hub runs as), the new file keeps that owner, or the hub could no longer read it.
 */
export function writeSecret(file: string, body: string): void {
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, body);
    const owner = process.getuid?.() === 0 ? ownerOf(file) : undefined;
    if (owner && (owner.uid !== 0 || owner.gid !== 0)) fchownSync(fd, owner.uid, owner.gid);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}

/** The file's owner, or (a file not written yet) its directory's. */
function ownerOf(file: string): { uid: number; gid: number } | undefined {
  for (const p of [file, dirname(file)]) {
    try {
      const st = statSync(p);
      return { uid: st.uid, gid: st.gid };
    } catch {
      // not there yet
    }
  }
  return undefined;
}

function seedOf(kp: KeyPair): string {
  return new TextDecoder().decode(kp.getSeed());
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

function readOr(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const nowS = () => Math.floor(Date.now() / 1000);

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return "";
  }
}
