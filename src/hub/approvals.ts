// Approvals sized to the blast radius: a remote_shell_many on more hosts than
// the policy allows, or on a host with a guarded tag (prod), first asks the
// human, through the client (MCP elicitation), naming the exact command and
// hosts. The answer comes back on a retry of the same call; a signed state
// binds it to that plan, so a changed command or host list is asked again.
// A client that cannot be asked is refused, naming the key that allows it.
import type { ApprovalPolicy } from "../config/hub.ts";
import { openState, sha256Hex, signState } from "../crypto.ts";
import type { Ask, ToolContext } from "../tools/tool.ts";

export const defaultApprovals: ApprovalPolicy = { aboveHosts: 10, tags: ["prod"], withoutElicitation: false };

export interface Plan {
  command: string;
  hosts: { name: string; tags: string[] }[];
}

/** Why this plan needs a confirmation, or undefined when it does not. */
export function approvalReason(plan: Plan, policy: ApprovalPolicy): string | undefined {
  const guarded = plan.hosts.filter((h) => h.tags.some((t) => policy.tags.includes(t)));
  if (plan.hosts.length > policy.aboveHosts) return `it runs on ${plan.hosts.length} hosts, more than approve_above_hosts (${policy.aboveHosts})`;
  if (guarded.length > 0) {
    const tags = [...new Set(guarded.flatMap((h) => h.tags.filter((t) => policy.tags.includes(t))))];
    return `${guarded.map((h) => h.name).join(", ")} ${guarded.length === 1 ? "is" : "are"} tagged ${tags.join(", ")}`;
  }
  return undefined;
}

/** What the human approves: the command and the sorted host names, hashed. */
function planDigest(plan: Plan): string {
  return sha256Hex(JSON.stringify([plan.command, plan.hosts.map((x) => x.name).sort()]));
}

/** Whether a state echoed back by the client is one this hub minted for exactly this plan. */
const stateMatches = (state: string | undefined, plan: Plan) => openState("approval", state) === planDigest(plan);

/** The question: the exact command and every host (the first 50, then a count), and one yes/no field. */
export function approvalAsk(plan: Plan, reason: string): Ask {
  const names = plan.hosts.map((h) => (h.tags.length > 0 ? `${h.name} [${h.tags.join(", ")}]` : h.name));
  const shown = names.length > 50 ? `${names.slice(0, 50).join(", ")} and ${names.length - 50} more` : names.join(", ");
  return {
    questions: {
      approve: {
        message: `Run this command on ${plan.hosts.length} host${plan.hosts.length === 1 ? "" : "s"} (asked because ${reason})?\n\n${plan.command}\n\nHosts: ${shown}`,
        requestedSchema: {
          type: "object",
          properties: { approve: { type: "boolean", title: `Run it on ${plan.hosts.length} host${plan.hosts.length === 1 ? "" : "s"}`, default: false } },
          required: ["approve"],
        },
      },
    },
    state: signState("approval", planDigest(plan)),
  };
}

export type Verdict = { kind: "go"; approved: boolean } | { kind: "ask"; ask: Ask; reason: string } | { kind: "refuse"; message: string };

/**
 * The decision for one call: go (no confirmation needed, or the human approved this very plan), ask, or refuse
 * (declined, or the client cannot be asked and the policy does not allow running unasked).
 */
export function decide(plan: Plan, policy: ApprovalPolicy, ctx: Pick<ToolContext, "elicitation" | "inputResponses" | "requestState">): Verdict {
  const reason = approvalReason(plan, policy);
  if (!reason) return { kind: "go", approved: false };
  const answer = ctx.inputResponses?.approve as { action?: unknown; content?: { approve?: unknown } } | undefined;
  if (answer !== undefined) {
    if (!stateMatches(ctx.requestState, plan)) {
      // Answers for another plan (the command or the host list changed since the question): ask again.
      return { kind: "ask", ask: approvalAsk(plan, reason), reason };
    }
    if (answer.action === "accept" && answer.content?.approve === true) return { kind: "go", approved: true };
    return { kind: "refuse", message: `not run: the confirmation was ${answer.action === "accept" ? "answered no" : answer.action === "decline" ? "declined" : "cancelled"} (asked because ${reason}); nothing ran on any host` };
  }
  if (ctx.elicitation?.form) return { kind: "ask", ask: approvalAsk(plan, reason), reason };
  if (policy.withoutElicitation) return { kind: "go", approved: false };
  return {
    kind: "refuse",
    message:
      `not run: this call needs a confirmation (${reason}), and this client cannot be asked (it declared no MCP elicitation; ` +
      "2025-era clients over HTTP never can). Use a client with elicitation, narrow the call (fewer hosts, or a rollout), " +
      "or let the operator set approve_without_elicitation = true (or raise approve_above_hosts, or change approve_tags) in hub.toml",
  };
}
