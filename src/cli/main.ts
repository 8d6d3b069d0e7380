#!/usr/bin/env bun
// The `lmcp` command: dispatches to a subcommand and maps failures to exit
// codes (0 ok, 1 runtime failure, 2 usage or configuration error).
import { ConfigError } from "../config/file.ts";
import { versionLine } from "../version.ts";

const usage = `Usage: lmcp COMMAND [flags]

Shell and file access for AI agents on your machines, over MCP.

Commands:
  serve          run this host's MCP server (HTTP at /mcp, or --stdio)
  hub            run the hub: remote_* tools for every host in backends.toml
  hub add NAME   add a host to the hub's registry (--url, --token-file, --ssh, --tag)
  hub nats-init  set up the NATS side of a fleet (keys, TLS, nats-server.conf)
  hub enroll NAME  print the \`lmcp join\` command that admits a new host (NATS fleet)
  hub revoke NAME  cut a host off the NATS fleet at once
  hub fleet      list the NATS fleet's enrolled hosts, join tokens and revocations
  join TOKEN     join this host to a NATS fleet (the token from lmcp hub enroll)
  token          mint a token (--out FILE writes it with mode 0600)
  client-config  print the client set-up (claude mcp add line, mcpServers JSON)
  call TOOL      call one tool on a server, e.g. lmcp call shell '{"command":"uptime"}'
  hosts          print the hub's hosts and their state
  audit verify   check the audit log's hash chain (lmcp audit --help: its format)

Run \`lmcp COMMAND --help\` for a command's flags; \`lmcp --version\` for the version.
`;

/** Each command is loaded only when run, so `serve` never loads the client or hub code. */
interface Command {
  run: (argv: string[]) => number | Promise<number>;
}
const commands: Record<string, () => Promise<Command>> = {
  serve: async () => ({ run: (await import("./serve.ts")).serveCommand }),
  hub: async () => ({ run: (await import("./hub.ts")).hubCommand }),
  token: async () => ({ run: (await import("./token.ts")).tokenCommand }),
  "client-config": async () => ({ run: (await import("./client_config.ts")).clientConfigCommand }),
  call: async () => ({ run: (await import("./call.ts")).callCommand }),
  hosts: async () => ({ run: (await import("./hosts.ts")).hostsCommand }),
  audit: async () => ({ run: (await import("./audit.ts")).auditCommand }),
  join: async () => ({ run: (await import("./join.ts")).joinCommand }),
};
/** Commands under another's name (`lmcp hub add`), matched before that command parses its own flags. */
const subcommands: Record<string, Record<string, () => Promise<Command>>> = {
  hub: {
    add: async () => ({ run: (await import("./hub_add.ts")).hubAddCommand }),
    "nats-init": async () => ({ run: (await import("./fleet.ts")).natsInitCommand }),
    enroll: async () => ({ run: (await import("./fleet.ts")).enrollCommand }),
    revoke: async () => ({ run: (await import("./fleet.ts")).revokeCommand }),
    fleet: async () => ({ run: (await import("./fleet.ts")).fleetCommand }),
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-V" || name === "version") {
    process.stdout.write(`${versionLine}\n`);
    return 0;
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" && rest[0] ? commands[rest[0]] : undefined;
    if (topic) return (await topic()).run(["--help"]);
    process.stdout.write(usage);
    return name === undefined ? 2 : 0;
  }
  const sub = rest[0] === undefined ? undefined : subcommands[name]?.[rest[0]];
  const load = sub ?? commands[name];
  if (!load) {
    process.stderr.write(`lmcp: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  const label = sub ? `${name} ${rest[0]}` : name;
  try {
    return await (await load()).run(sub ? rest.slice(1) : rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`lmcp: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`lmcp ${label}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
