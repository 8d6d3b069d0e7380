// Settings of `lmcp hub`: the shared server settings plus the registry path,
// probe timings, SSH limits and the inventory sources (flag > environment > file > default).
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError, loadConfigFile } from "./file.ts";
import { defaultBackendsFile } from "./paths.ts";
import { type CommonFlagValues, type ServerSettings, commonFileShape, locateConfig, pathFrom, resolveCommon } from "./server.ts";

const positive = z.number().positive();

export const hubFileSchema = z
  .object({
    ...commonFileShape,
    backends: z.string(),
    probe_timeout_s: positive,
    probe_ttl_up_s: positive,
    probe_ttl_down_min_s: positive,
    probe_ttl_down_max_s: positive,
    ssh_hard_timeout_s: positive,
    ssh_max_concurrent: z.int().positive(),
    ssh_max_per_host: z.int().positive(),
    approve_above_hosts: z.int().min(0),
    approve_tags: z.array(z.string().min(1)),
    approve_without_elicitation: z.boolean(),
    ssh_config: z.union([z.boolean(), z.string().min(1)]),
    ansible_inventory: z.string().min(1),
    ansible_inventory_command: z.array(z.string().min(1)).min(1),
    inventory_timeout_s: positive,
    /** A fleet authority directory (`lmcp hub nats-init`): its servers, hub.creds and CA; this hub also answers `lmcp join`. */
    nats_authority: z.string().min(1),
  })
  .partial()
  .strict();

export interface BackoffPolicy {
  /** How long an `up` result is trusted (default 30 s). */
  ttlUpMs: number;
  /** First down period (default 60 s), doubled per further failure… */
  ttlDownMinMs: number;
  /** …up to this (default 900 s). */
  ttlDownMaxMs: number;
}

/** When remote_shell_many asks the human first (src/hub/approvals.ts), from hub.toml. */
export interface ApprovalPolicy {
  /** More hosts than this in one remote_shell_many need a confirmation (default 10; 0: every call). */
  aboveHosts: number;
  /** Any host with one of these tags needs a confirmation (default ["prod"]). */
  tags: string[];
  /** Run without a confirmation when the client cannot be asked (default false: refuse, naming this key). */
  withoutElicitation: boolean;
}

/** Where hosts come from besides backends.toml (src/hub/inventory/), from hub.toml. */
export interface InventorySettings {
  /** An ssh client config whose Host entries become SSH-only backends; undefined: not read. */
  sshConfig: string | undefined;
  /** The command whose stdout is `ansible-inventory --list` JSON, how messages name it, and the inventory path it reads (checked first); undefined: no Ansible. */
  ansible: { argv: string[]; label: string; path?: string } | undefined;
  /** Wall-clock cap of each inventory command (the Ansible one, each `ssh -G`). */
  timeoutMs: number;
}

export interface HubSettings extends ServerSettings {
  approvals: ApprovalPolicy;
  inventory: InventorySettings;
  backendsFile: string;
  policy: BackoffPolicy;
  probeTimeoutMs: number;
  sshHardTimeoutMs: number;
  sshMaxConcurrent: number;
  /** ssh processes one host may hold at once, so a slow host leaves slots for the others. */
  sshMaxPerHost: number;
  /** --nats-authority > LMCP_NATS_AUTHORITY > nats_authority: the fleet authority this hub uses and answers joins for. */
  natsAuthority: string | undefined;
}

/** A number of seconds from the environment, or undefined; garbage is a ConfigError naming the variable. */
function envSeconds(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${name}="${v}" is not a positive number of seconds`);
  return n;
}

/** The registry path: --backends > LMCP_HUB_BACKENDS > `backends` in hub.toml > the default (src/config/paths.ts). */
function backendsFileFrom(flag: string | undefined, file: { backends?: string | undefined }): string {
  return resolve(flag ?? (process.env.LMCP_HUB_BACKENDS || undefined) ?? file.backends ?? defaultBackendsFile());
}

/** The registry `lmcp hub` with these flags would read, for commands that edit it (`lmcp hub add`). */
export function locateBackendsFile(flags: { backends?: string | undefined; config?: string | undefined }): string {
  if (flags.backends !== undefined || process.env.LMCP_HUB_BACKENDS) return backendsFileFrom(flags.backends, {});
  const configFile = locateConfig("hub", flags.config);
  return backendsFileFrom(undefined, configFile ? loadConfigFile(configFile, hubFileSchema) : {});
}

/** `~/x` as the hub's user writes it in hub.toml. */
const expandHome = (p: string) => (p === "~" ? homedir() : p.startsWith("~/") ? join(homedir(), p.slice(2)) : p);

/** hub.toml's ssh_config, ansible_inventory, ansible_inventory_command and inventory_timeout_s. */
function inventoryFrom(file: z.output<typeof hubFileSchema>, configFile: string | undefined): InventorySettings {
  const sshConfig = file.ssh_config === true ? join(homedir(), ".ssh", "config") : typeof file.ssh_config === "string" ? resolve(expandHome(file.ssh_config)) : undefined;
  if (file.ansible_inventory !== undefined && file.ansible_inventory_command !== undefined) {
    throw new ConfigError(`${configFile}: give ansible_inventory (a path for ansible-inventory -i) or ansible_inventory_command (a program printing its --list JSON), not both`);
  }
  let ansible: InventorySettings["ansible"];
  if (file.ansible_inventory !== undefined) {
    // A comma in the value is Ansible's inline host list ("a,b,"), not a path.
    const inline = file.ansible_inventory.includes(",");
    const source = inline ? file.ansible_inventory : resolve(expandHome(file.ansible_inventory));
    ansible = { argv: ["ansible-inventory", "-i", source, "--list"], label: `ansible inventory ${source}`, ...(inline ? {} : { path: source }) };
  } else if (file.ansible_inventory_command !== undefined) {
    ansible = { argv: file.ansible_inventory_command, label: `ansible_inventory_command ${file.ansible_inventory_command.join(" ")}` };
  }
  return { sshConfig, ansible, timeoutMs: (file.inventory_timeout_s ?? 30) * 1000 };
}

export function resolveHubSettings(flags: CommonFlagValues & { backends?: string; "nats-authority"?: string }): HubSettings {
  const configFile = locateConfig("hub", flags.config);
  const file = configFile ? loadConfigFile(configFile, hubFileSchema) : {};
  const s = (env: string, key: number | undefined, def: number) => (envSeconds(env) ?? key ?? def) * 1000;
  const policy: BackoffPolicy = {
    ttlUpMs: s("LMCP_HUB_PROBE_TTL_UP", file.probe_ttl_up_s, 30),
    ttlDownMinMs: s("LMCP_HUB_PROBE_TTL_DOWN_MIN", file.probe_ttl_down_min_s, 60),
    ttlDownMaxMs: s("LMCP_HUB_PROBE_TTL_DOWN_MAX", file.probe_ttl_down_max_s, 900),
  };
  if (policy.ttlDownMaxMs < policy.ttlDownMinMs) {
    throw new ConfigError(`the down backoff's maximum (${policy.ttlDownMaxMs / 1000} s) is below its minimum (${policy.ttlDownMinMs / 1000} s)`);
  }
  const sshMaxConcurrent = file.ssh_max_concurrent ?? 32;
  return {
    ...resolveCommon("hub", flags, file, configFile),
    backendsFile: backendsFileFrom(flags.backends, file),
    natsAuthority: pathFrom(flags["nats-authority"], "LMCP_NATS_AUTHORITY", file.nats_authority, configFile, expandHome),
    inventory: inventoryFrom(file, configFile),
    policy,
    probeTimeoutMs: s("LMCP_HUB_PROBE_TIMEOUT", file.probe_timeout_s, 3),
    sshHardTimeoutMs: s("LMCP_HUB_SSH_HARD_TIMEOUT", file.ssh_hard_timeout_s, 30),
    sshMaxConcurrent,
    approvals: { aboveHosts: file.approve_above_hosts ?? 10, tags: file.approve_tags ?? ["prod"], withoutElicitation: file.approve_without_elicitation ?? false },
    // Half the slots, at most 8, unless set: calls piled up for one slow host leave the rest to other hosts.
    sshMaxPerHost: Math.min(sshMaxConcurrent, file.ssh_max_per_host ?? Math.max(1, Math.min(8, Math.ceil(sshMaxConcurrent / 2)))),
  };
}
