// Canary rollouts for remote_shell_many: run on a few hosts first, then a
// share of them, then the rest, and stop at the first failures. Pure: which
// hosts go in which stage, and whether to go on.
import { z } from "zod";

export const rolloutInput = z
  .object({
    first: z.int().min(1).optional().describe("Hosts in the first (canary) stage (default 1)."),
    then_percent: z.int().min(1).max(100).optional().describe("The second stage's share of all hosts, in percent (default 25); the rest follow in a last stage."),
    max_errors: z
      .int()
      .min(1)
      .optional()
      .describe("Stop after the stage in which this many hosts (counted over all stages) have failed: a non-zero exit, a timeout or unreachable (default 1: the first failure stops it)."),
  })
  .strict();

export type RolloutInput = z.output<typeof rolloutInput>;

/** The stages, in order: `first` hosts, then `then_percent` of all (at least one), then the rest; empty stages dropped. */
export function rolloutStages<T>(hosts: T[], r: RolloutInput): T[][] {
  const first = Math.min(hosts.length, r.first ?? 1);
  const second = Math.min(hosts.length - first, Math.max(1, Math.ceil((hosts.length * (r.then_percent ?? 25)) / 100)));
  return [hosts.slice(0, first), hosts.slice(first, first + second), hosts.slice(first + second)].filter((s) => s.length > 0);
}

/** Whether the rollout stops after a stage, given every failure so far. */
export const shouldStop = (failuresSoFar: number, r: RolloutInput) => failuresSoFar >= (r.max_errors ?? 1);
