// The hub's hosts at start and on SIGHUP: backends.toml merged with the inventory
// sources hub.toml turns on (ssh_config, ansible_inventory). Any source that cannot
// be read stops a start and, on SIGHUP, keeps the old registry; one bad host is a warning.
import { existsSync } from "node:fs";
import type { InventorySettings } from "../../config/hub.ts";
import { logEvent } from "../../http/log.ts";
import { type Backend, loadRegistry } from "../registry.ts";
import { ansibleHosts } from "./ansible.ts";
import { type HostSource, type SourcedBackend, mergeSources } from "./merge.ts";
import { sshConfigHosts } from "./ssh_config.ts";

/** Per-host warnings logged per load; a broken inventory of thousands must not flood the log. */
const MAX_WARNINGS_LOGGED = 20;

export interface LoadedHosts {
  backends: SourcedBackend[];
  /** "N backend(s) from …", for the start and reload log lines. */
  summary: string;
  warnings: string[];
}

export const inventoryEnabled = (inv: InventorySettings) => inv.sshConfig !== undefined || inv.ansible !== undefined;

/** Reads every source (the inventory ones in parallel) and merges them; throws a ConfigError naming the source that failed. */
export async function loadHosts(backendsFile: string, inv: InventorySettings): Promise<LoadedHosts> {
  if (!inventoryEnabled(inv)) {
    const backends = mergeSources([{ source: "backends.toml", backends: loadRegistry(backendsFile) }]);
    return { backends, summary: `${backends.length} backend(s) from ${backendsFile}`, warnings: [] };
  }
  // With an inventory, backends.toml is optional: it only adds urls, tokens and tags.
  const toml = existsSync(backendsFile) ? loadRegistry(backendsFile) : undefined;
  const [ssh, ansible] = await Promise.all([
    inv.sshConfig === undefined ? undefined : sshConfigHosts(inv.sshConfig, inv.timeoutMs),
    inv.ansible === undefined ? undefined : ansibleHosts(inv.ansible.argv, inv.ansible.label, inv.timeoutMs, inv.ansible.path),
  ]);
  const lists: { source: HostSource; backends: Backend[] }[] = [{ source: "backends.toml", backends: toml ?? [] }];
  const parts = [`${toml?.length ?? 0} from ${backendsFile}${toml ? "" : " (absent)"}`];
  if (ssh) {
    lists.push({ source: "ssh_config", backends: ssh.backends });
    parts.push(`${ssh.backends.length} from ssh_config ${inv.sshConfig}`);
  }
  if (ansible) {
    lists.push({ source: "ansible", backends: ansible.backends });
    parts.push(`${ansible.backends.length} from ${inv.ansible!.label}`);
  }
  const backends = mergeSources(lists);
  return { backends, summary: `${backends.length} backend(s): ${parts.join(", ")}`, warnings: [...(ssh?.warnings ?? []), ...(ansible?.warnings ?? [])] };
}

export function logWarnings(warnings: string[], prefix = ""): void {
  for (const w of warnings.slice(0, MAX_WARNINGS_LOGGED)) logEvent(`${prefix}warning: ${w}`);
  if (warnings.length > MAX_WARNINGS_LOGGED) logEvent(`${prefix}warning: … and ${warnings.length - MAX_WARNINGS_LOGGED} more inventory warning(s)`);
}

/** The start: hosts loaded, warnings logged, and a warning when there are none at all. */
export async function loadHostsAtStart(backendsFile: string, inv: InventorySettings): Promise<SourcedBackend[]> {
  const loaded = await loadHosts(backendsFile, inv);
  logWarnings(loaded.warnings);
  if (!inventoryEnabled(inv)) {
    if (loaded.backends.length === 0) {
      logEvent(`warning: ${backendsFile} names no hosts; add a [[backend]] table for each (name, url, token_file and/or ssh), then reload (SIGHUP)`);
    }
  } else {
    logEvent(`hosts: ${loaded.summary}`);
    if (loaded.backends.length === 0) logEvent(`warning: no hosts in ${backendsFile} or the inventory; add some, then reload (SIGHUP)`);
  }
  return loaded.backends;
}

/**
 * The SIGHUP step for startHttp's onReload, which wants a log line at once. Without an
 * inventory it re-reads backends.toml then and there, as before. With one, `ssh -G` and
 * ansible-inventory take a while: the line says so and the result is logged when it is in.
 * A HUP during a reload runs one more reload after it, so the last edit always counts.
 */
export function hostReloader(hub: { replaceRegistry(backends: Backend[]): void }, backendsFile: string, inv: InventorySettings): () => string {
  let running = false;
  let again = false;
  const once = async (): Promise<string> => {
    try {
      const fresh = await loadHosts(backendsFile, inv);
      logWarnings(fresh.warnings, "SIGHUP: ");
      hub.replaceRegistry(fresh.backends);
      return `reloaded ${fresh.summary}`;
    } catch (err) {
      return `kept the old registry: ${(err as Error).message}`;
    }
  };
  const loop = async () => {
    running = true;
    try {
      do {
        again = false;
        logEvent(`SIGHUP: ${await once()}`);
      } while (again);
    } finally {
      running = false;
    }
  };
  return () => {
    if (!inventoryEnabled(inv)) {
      try {
        const fresh = loadRegistry(backendsFile);
        hub.replaceRegistry(mergeSources([{ source: "backends.toml", backends: fresh }]));
        return `reloaded ${fresh.length} backend(s) from ${backendsFile}`;
      } catch (err) {
        return `kept the old registry: ${(err as Error).message}`;
      }
    }
    if (running) {
      again = true;
      return "a reload is running; reading the hosts once more when it ends";
    }
    void loop();
    return `re-reading ${backendsFile} and the inventory (${[inv.sshConfig && `ssh_config ${inv.sshConfig}`, inv.ansible?.label].filter(Boolean).join(", ")})`;
  };
}
