// Starts a real `lmcp hub` with a backends.toml written from `entries`.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type StartOptions, type StartedServer, startServer } from "./server.ts";

export interface BackendSpec {
  name: string;
  url?: string;
  token?: string;
  ssh?: string;
  ssh_port?: number;
  ssh_options?: string[];
  tags?: string[];
  token_file?: string;
  token_env?: string;
  allowed_paths?: string[];
}

export function registryText(entries: BackendSpec[]): string {
  return entries
    .map((e) =>
      [
        "[[backend]]",
        ...Object.entries(e)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
      ].join("\n"),
    )
    .join("\n\n");
}

export async function startHub(entries: BackendSpec[], opts: StartOptions & { registryDir: string }): Promise<StartedServer & { registry: string }> {
  const registry = join(opts.registryDir, "backends.toml");
  writeFileSync(registry, `${registryText(entries)}\n`);
  const hub = await startServer({ ...opts, command: "hub", args: ["--backends", registry, ...(opts.args ?? [])] });
  return { ...hub, registry };
}
