// `lmcp hosts`: asks a hub for remote_list_hosts and prints the fleet as a table.
import { parseFlags } from "./args.ts";
import { clientFlags, resolveTarget, withClient } from "./client.ts";

export const hostsHelp = `Usage: lmcp hosts [--force] [--tag TAG] [--json] [--url URL | --listen ADDR] [--token-file FILE]

Prints the hub's hosts: name, state, via, latency, last probe, next probe.
  --force            probe every host now
  --tag TAG          only hosts with this tag
  --json             print the hosts as JSON, for scripts
  --url URL          the hub [LMCP_URL] (default: where the hub listens, from --listen,
                     LMCP_LISTEN or \`listen\` in hub.toml, else http://127.0.0.1:8766/mcp)
  --listen ADDR      the hub's listen address, e.g. 127.0.0.1:9001 (0.0.0.0 means loopback)
  --config FILE      the hub's config file, for listen and token_file [LMCP_CONFIG]
  --token-file FILE  the hub's token (default ~/.config/lmcp/hub-token, else /etc/lmcp/hub-token)
  -h, --help         this help
`;

interface HostRow {
  name: string;
  state: string;
  via: string;
  latency_ms: number | null;
  last_probe: string | null;
  next_probe: string | null;
  backoff_s: number;
  error: string | null;
}

const colours: Record<string, string> = { up: "\x1b[32m", down: "\x1b[31m", auth_failed: "\x1b[33m", unknown: "\x1b[90m" };

/** "12s ago" / "in 45s": short, relative to now. */
function ago(iso: string | null, now: number): string {
  if (!iso) return "-";
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (s === 0) return "now";
  return s < 0 ? `${-s}s ago` : `in ${s}s`;
}

/** The table as lines: aligned columns, colour on the state only when asked. */
export function renderHosts(hosts: HostRow[], colour: boolean, now = Date.now()): string[] {
  const header = ["NAME", "STATE", "VIA", "LATENCY", "LAST PROBE", "NEXT PROBE", "NOTE"];
  const rows = hosts.map((h) => [
    h.name,
    h.state,
    h.via,
    h.latency_ms === null ? "-" : `${h.latency_ms.toFixed(1)}ms`,
    ago(h.last_probe, now),
    ago(h.next_probe, now),
    h.error ?? (h.backoff_s ? `backoff ${h.backoff_s}s` : ""),
  ]);
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[], paint: boolean) =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i]!);
        return paint && i === 1 && colours[c] ? `${colours[c]}${padded}\x1b[0m` : padded;
      })
      .join("  ")
      .trimEnd();
  return [line(header, false), ...rows.map((r) => line(r, colour))];
}

export async function hostsCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags("hosts", argv, {
    ...clientFlags,
    force: { type: "boolean" },
    tag: { type: "string" },
    json: { type: "boolean" },
  });
  if (values.help) {
    process.stdout.write(hostsHelp);
    return 0;
  }
  const args: Record<string, unknown> = {};
  if (values.force) args.force = true;
  if (values.tag !== undefined) args.tag = values.tag;
  const result = await withClient(resolveTarget("hub", values, false, false), (client) =>
    client.callTool({ name: "remote_list_hosts", arguments: args }, { timeout: 120_000 }),
  );
  if (result.isError) {
    for (const c of result.content) if (c.type === "text") process.stderr.write(`${c.text}\n`);
    return 1;
  }
  const { hosts, summary } = result.structuredContent as { hosts: HostRow[]; summary: string };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(hosts, null, 2)}\n`);
    return 0;
  }
  const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
  process.stdout.write(`${[...renderHosts(hosts, colour), "", summary].join("\n")}\n`);
  return 0;
}
