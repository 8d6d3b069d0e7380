// Starts a real nats-server cluster on loopback: N nodes on random ports (port
// -1, read back from each node's ports file), every node routed to the first
// (gossip completes the mesh), configs and logs in a temp dir. stop() kills
// every node still running and removes the dir. Every wait polls with a deadline.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./server.ts";

/** Debian's nats-server, or one on PATH; undefined when neither exists (the NATS tests then skip, saying so). */
export const natsServerBin: string | undefined = ["/usr/sbin/nats-server", Bun.which("nats-server") ?? ""].find((p) => p !== "" && existsSync(p));

export interface NatsNode {
  name: string;
  /** nats://127.0.0.1:PORT for clients. */
  url: string;
  /** http://127.0.0.1:PORT, the monitoring endpoint (/routez, /connz). */
  monitor: string;
  proc: Bun.Subprocess<"ignore", "ignore", "ignore">;
  /** Kills the node (SIGKILL: no lame duck mode, clients find out from the socket). */
  kill(): Promise<void>;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** Every node's client URL, comma-separated, as --nats takes them. */
  urls: string;
  stop(): Promise<void>;
}

interface Ports {
  nats: string[];
  monitoring: string[];
  cluster: string[];
}

/** A node of a fleet made by `lmcp hub nats-init`: its auth.conf (copied, as an operator would), TLS everywhere, its own resolver dir. */
interface Secure {
  authority: string;
  port: number;
}

async function startNode(dir: string, name: string, seedRoute: string | undefined, secure?: Secure): Promise<NatsNode & { clusterUrl: string }> {
  const nodeDir = join(dir, name);
  mkdirSync(nodeDir);
  const conf = join(nodeDir, "nats.conf");
  writeFileSync(
    conf,
    [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${secure ? secure.port : -1}`,
      "http: 127.0.0.1:-1",
      `log_file: "${join(nodeDir, "nats.log")}"`,
      ...(secure ? secureLines(secure, nodeDir) : []),
      "cluster {",
      "  name: lmcp-test",
      "  listen: 127.0.0.1:-1",
      ...(seedRoute ? [`  routes: [${seedRoute}]`] : []),
      ...(secure ? [`  tls { cert_file: "${join(secure.authority, "server.pem")}", key_file: "${join(secure.authority, "server-key.pem")}", ca_file: "${join(secure.authority, "ca.pem")}", verify: true }`] : []),
      "}",
      "",
    ].join("\n"),
  );
  const proc = Bun.spawn([natsServerBin!, "-c", conf, "--ports_file_dir", nodeDir], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const ports = await waitFor(`nats-server ${name}'s ports file`, () => {
    if (proc.exitCode !== null) throw new Error(`nats-server ${name} exited with ${proc.exitCode}; see ${join(nodeDir, "nats.log")}`);
    const file = readdirSync(nodeDir).find((f) => f.endsWith(".ports"));
    if (!file) return undefined;
    try {
      return JSON.parse(readFileSync(join(nodeDir, file), "utf8")) as Ports;
    } catch {
      return undefined; // written but not complete yet
    }
  });
  const kill = async () => {
    if (running(proc)) proc.kill("SIGKILL");
    await proc.exited;
  };
  return { name, url: ports.nats[0]!, monitor: ports.monitoring[0]!, clusterUrl: ports.cluster[0]!.replace(/^nats:/, "nats-route:"), proc, kill };
}

function secureLines(secure: Secure, nodeDir: string): string[] {
  copyFileSync(join(secure.authority, "auth.conf"), join(nodeDir, "auth.conf"));
  return [
    "max_payload: 8MB",
    `tls { cert_file: "${join(secure.authority, "server.pem")}", key_file: "${join(secure.authority, "server-key.pem")}" }`,
    'include "auth.conf"',
    `resolver { type: full, dir: "${join(nodeDir, "jwt")}", allow_delete: false }`,
  ];
}

/** Not exited and not killed by a signal (Bun leaves exitCode null for the latter). */
const running = (proc: Bun.Subprocess) => proc.exitCode === null && proc.signalCode === null;

/** Monitoring JSON from one node (/routez, /connz). */
export async function monitor<T>(node: NatsNode, path: string): Promise<T> {
  const res = await fetch(`${node.monitor}${path}`);
  return (await res.json()) as T;
}

/**
 * Starts a cluster (one node per port) secured by the fleet authority in `authority` (`lmcp hub nats-init`):
 * TLS for clients and routes, every user signed by its operator. The ports must be those nats-init's --url named.
 */
export function startSecureNatsCluster(authority: string, ports: number[]): Promise<NatsCluster> {
  return startNatsCluster(ports.length, (i) => ({ authority, port: ports[i]! }));
}

export async function startNatsCluster(size = 3, secure?: (i: number) => Secure): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), "lmcp-nats-"));
  const nodes: NatsNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const seed = await startNode(dir, "n1", undefined, secure?.(0));
    nodes.push(seed);
    nodes.push(...(await Promise.all(Array.from({ length: size - 1 }, (_, i) => startNode(dir, `n${i + 2}`, seed.clusterUrl, secure?.(i + 1))))));
    // A full mesh: every node routed to every other, so killing any one leaves the rest connected.
    await waitFor("every nats-server routed to every other", async () => {
      const counts = await Promise.all(nodes.map((n) => monitor<{ num_routes: number }>(n, "/routez").then((r) => r.num_routes)));
      return counts.every((c) => c >= size - 1) || undefined;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, urls: nodes.map((n) => n.url).join(","), stop };
}

/** The node a client named `name` (its NATS connection name) is connected to now, if any. */
export async function nodeOf(cluster: NatsCluster, name: string): Promise<NatsNode | undefined> {
  for (const n of cluster.nodes) {
    if (!running(n.proc)) continue;
    const c = await monitor<{ connections?: { name?: string }[] }>(n, "/connz?limit=5000");
    if (c.connections?.some((x) => x.name === name)) return n;
  }
  return undefined;
}
