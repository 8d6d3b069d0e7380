// Settings of `lmcp hub`: the shared server settings plus the registry path,
// probe timings and SSH limits (flag > environment > file > default).
import { resolve } from "node:path";
import { z } from "zod";
import { ConfigError, loadConfigFile } from "./file.ts";
import { defaultBackendsFile } from "./paths.ts";
import { type CommonFlagValues, type ServerSettings, commonFileShape, locateConfig, resolveCommon } from "./server.ts";

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

export interface HubSettings extends ServerSettings {
  approvals: ApprovalPolicy;
  backendsFile: string;
  policy: BackoffPolicy;
  probeTimeoutMs: number;
  sshHardTimeoutMs: number;
  sshMaxConcurrent: number;
  /** ssh processes one host may hold at once, so a slow host leaves slots for the others. */
  sshMaxPerHost: number;
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

export function resolveHubSettings(flags: CommonFlagValues & { backends?: string }): HubSettings {
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
    policy,
    probeTimeoutMs: s("LMCP_HUB_PROBE_TIMEOUT", file.probe_timeout_s, 3),
    sshHardTimeoutMs: s("LMCP_HUB_SSH_HARD_TIMEOUT", file.ssh_hard_timeout_s, 30),
    sshMaxConcurrent,
    approvals: { aboveHosts: file.approve_above_hosts ?? 10, tags: file.approve_tags ?? ["prod"], withoutElicitation: file.approve_without_elicitation ?? false },
    // Half the slots, at most 8, unless set: calls piled up for one slow host leave the rest to other hosts.
    sshMaxPerHost: Math.min(sshMaxConcurrent, file.ssh_max_per_host ?? Math.max(1, Math.min(8, Math.ceil(sshMaxConcurrent / 2)))),
  };
}
