// Joining the fleet over NATS. `lmcp hub enroll NAME` makes a join token: the
// NATS servers, the fleet's CA certificate, and one-time credentials that may
// only publish an enrollment request for NAME and read its answer, expiring
// with the token. `lmcp join TOKEN` makes the host's own key pair (the seed
// stays on the host), asks on lmcp.enroll.<name> with the public key signed by
// the enrollment key, and gets back its NATS user JWT, limited to its own
// subjects; a hub holding the fleet authority answers and consumes the
// enrollment, so a token works once.
import { createUser, fmtCreds, fromSeed, parseCreds } from "@nats-io/jwt";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { ConfigError } from "../config/file.ts";
import { logEvent } from "../http/log.ts";
import { type Authority, Refusal, joinStatement } from "./authority.ts";
import { connectOnce, hostPort } from "./connection.ts";
import { enrollAll, enrollInbox, enrollSubject } from "./subjects.ts";
import { jsonOf } from "./wire.ts";

/** Join tokens start with this, so a pasted token of another kind is told apart at once. */
const TOKEN_PREFIX = "lmcp-join-1.";

const joinToken = z.object({
  name: z.string().min(1).max(63),
  tags: z.array(z.string()),
  servers: z.array(z.string().min(1)).min(1),
  ca: z.string().startsWith("-----BEGIN CERTIFICATE-----"),
  creds: z.string().min(1),
  exp: z.number(),
});
export type JoinToken = z.output<typeof joinToken>;

export function encodeJoinToken(t: JoinToken): string {
  return TOKEN_PREFIX + Buffer.from(JSON.stringify(t)).toString("base64url");
}

/** Reads a join token, or says what is wrong with the text given. */
export function decodeJoinToken(text: string): JoinToken {
  const s = text.trim();
  if (!s.startsWith(TOKEN_PREFIX)) throw new ConfigError(`this is not an lmcp join token (those start with "${TOKEN_PREFIX}"); copy the whole \`lmcp join …\` line that \`lmcp hub enroll\` printed`);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(s.slice(TOKEN_PREFIX.length), "base64url").toString("utf8"));
  } catch {
    throw new ConfigError("the join token is damaged (cut short when copied?); copy it again, whole");
  }
  const parsed = joinToken.safeParse(raw);
  if (!parsed.success) throw new ConfigError("the join token is damaged or from another lmcp version; make a new one with `lmcp hub enroll NAME`");
  return parsed.data;
}

const enrollRequest = z.object({
  v: z.literal(1),
  name: z.string().min(1).max(63),
  host_pub: z.string().max(64),
  enroll_pub: z.string().max(64),
  sig: z.string().max(200),
});

type EnrollReply = { ok: true; jwt: string; tags: string[] } | { ok: false; error: string };

export interface Joined {
  name: string;
  tags: string[];
  servers: string[];
  ca: string;
  /** The host's NATS credentials (creds file text: its JWT and seed). */
  creds: string;
}

/** Join requests a hub holds at once; more are dropped (their joiners time out and can try again). */
const MAX_QUEUED_JOINS = 64;

/** How long `lmcp join` waits for a hub to answer. */
const JOIN_WAIT_MS = 15_000;

/** The host's side: asks to join with the token's credentials and returns this host's own. */
export async function join(token: JoinToken): Promise<Joined> {
  if (token.exp * 1000 < Date.now()) throw new Error(`this join token expired at ${new Date(token.exp * 1000).toISOString()}; make a new one on the hub with \`lmcp hub enroll ${token.name}\``);
  const enroll = (await parseCreds(new TextEncoder().encode(token.creds))).key;
  const enrollKey = fromSeed(new TextEncoder().encode(enroll));
  const host = createUser();
  const where = token.servers.map(hostPort).join(", ");
  let nc: NatsConnection;
  try {
    nc = await connectOnce(token.servers, `lmcp join ${token.name}`, new TextEncoder().encode(token.creds), token.ca, 10_000, enrollInbox(token.name));
  } catch (err) {
    const m = (err as Error).message;
    const why = /authori[sz]ation|authentication|expired/i.test(m)
      ? "NATS refused the join token (it expired, or it was revoked); make a new one with `lmcp hub enroll NAME`"
      : "is NATS running, and is it reachable from here? The join token names the servers `lmcp hub nats-init` was given";
    throw new Error(`cannot connect to NATS at ${where}: ${m}. ${why}`);
  }
  try {
    const body = {
      v: 1,
      name: token.name,
      host_pub: host.getPublicKey(),
      enroll_pub: enrollKey.getPublicKey(),
      sig: Buffer.from(enrollKey.sign(joinStatement(token.name, host.getPublicKey()))).toString("base64url"),
    } satisfies z.input<typeof enrollRequest>;
    let answer: EnrollReply;
    try {
      const msg = await nc.request(enrollSubject(token.name), JSON.stringify(body), { timeout: JOIN_WAIT_MS });
      answer = jsonOf(msg.data) as EnrollReply;
    } catch (err) {
      const m = (err as Error).message;
      if (/no responders|503/i.test(m)) throw new Error("no hub that holds the fleet authority is connected to NATS to answer; start one (`lmcp hub --nats-authority DIR`) and run this again");
      if (/timeout/i.test(m)) throw new Error(`no answer to the join request within ${JOIN_WAIT_MS / 1000} s; check the hub's log`);
      throw new Error(`the join request failed: ${m}`);
    }
    if (!answer || typeof answer !== "object" || typeof answer.ok !== "boolean") throw new Error("the hub's answer to the join request is not one lmcp understands (versions differ?)");
    if (!answer.ok) throw new Error(`the hub refused to admit this host: ${answer.error}`);
    return { name: token.name, tags: answer.tags, servers: token.servers, ca: token.ca, creds: new TextDecoder().decode(fmtCreds(answer.jwt, host)) };
  } finally {
    await nc.close().catch(() => {});
  }
}

/**
 * The hub's side, for a hub that holds the authority: answers lmcp.enroll.* one at a time (a queue group, so two
 * such hubs do not both answer), and pushes the account's revocations when a join replaced an older machine.
 */
export function answerEnrollments(nc: NatsConnection, authority: Authority, push: (accountJwt: string) => Promise<void>): Subscription {
  let chain = Promise.resolve();
  let queued = 0;
  return nc.subscribe(enrollAll, {
    queue: "lmcp-enroll",
    callback: (_err, msg) => {
      // Joins are rare; a flood (from someone holding a join token) is dropped rather than queued without end.
      if (queued >= MAX_QUEUED_JOINS) return;
      queued++;
      chain = chain.then(async () => {
        const parsed = enrollRequest.safeParse(jsonOf(msg.data));
        // Answers go only to the joining host's own inbox: a reply subject of the asker's choosing could be a host's call subject.
        const inbox = parsed.success ? `${enrollInbox(parsed.data.name)}.` : undefined;
        if (!parsed.success || enrollSubject(parsed.data.name) !== msg.subject || !inbox || !msg.reply?.startsWith(inbox)) return;
        const reply = (r: EnrollReply) => {
          msg.respond(JSON.stringify(r));
        };
        const req = parsed.data;
        try {
          const admitted = await authority.admit(req);
          if (admitted.replaced) await push(await authority.accountJwt());
          logEvent(`fleet: ${req.name} joined${admitted.tags.length ? ` (tags ${admitted.tags.join(", ")})` : ""}${admitted.replaced ? "; the machine enrolled before under that name is revoked" : ""}`);
          reply({ ok: true, jwt: admitted.jwt, tags: admitted.tags });
        } catch (err) {
          if (err instanceof Refusal) {
            logEvent(`fleet: refused a join as ${req.name}: ${err.message}`);
            return reply({ ok: false, error: err.message });
          }
          logEvent(`error: fleet: a join as ${req.name} failed: ${(err as Error).message}`);
          reply({ ok: false, error: `the hub could not admit the host: ${(err as Error).message}` });
        }
      })
        // A rejected link would stop every later join: log it and go on.
        .catch((err: Error) => logEvent(`error: fleet: answering a join failed: ${err.message}`))
        .finally(() => {
          queued--;
        });
    },
  });
}

/** Sends the fleet account's JWT to NATS with the system account's credentials; every node of a cluster takes it. */
export async function pushAccount(servers: string[], systemCreds: Uint8Array, ca: string, accountJwt: string): Promise<void> {
  const nc = await connectOnce(servers, "lmcp authority", systemCreds, ca, 10_000);
  try {
    const msg = await nc.request("$SYS.REQ.CLAIMS.UPDATE", accountJwt, { timeout: 10_000 });
    const r = jsonOf(msg.data) as { error?: { description?: string }; data?: { code?: number; message?: string } } | undefined;
    if (r?.error) throw new Error(`NATS refused the account update: ${r.error.description ?? JSON.stringify(r.error)}`);
  } finally {
    await nc.close().catch(() => {});
  }
}

