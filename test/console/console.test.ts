// The console in a real browser: headless Chromium (Debian's) driven by
// playwright-core, against a real hub with two real backends. It logs in, sees
// both hosts, sees an agent's call in the feed within a second, opens that
// call's own view, kills a running job, a running foreground command and a PTY
// session on the hosts, presses the emergency stop (agent calls refused in both
// protocol eras, then resumed), and is refused with a read-only login. A
// screenshot of each view goes to docs/screenshots/ when LMCP_SCREENSHOTS=1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startHub } from "../helpers/hub.ts";
import { type StartedServer, callTool, connect, pidAlive, processGone, repoRoot, resultText, startServer, waitFor, waitForPidFile } from "../helpers/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`skipping the console browser test: ${CHROMIUM} is absent (apt-get install chromium)`);

/** Screenshots land in docs/ only when asked (LMCP_SCREENSHOTS=1): a test run must not change the repository. */
const writeShots = process.env.LMCP_SCREENSHOTS === "1";
const shots = join(repoRoot, "docs/screenshots");
const OPERATOR = `op-${crypto.randomUUID()}`;
const AGENT = `agent-${crypto.randomUUID()}`;
const WATCHER = `ro-${crypto.randomUUID()}`;

let dir: string;
let alpha: StartedServer;
let beta: StartedServer;
let hub: StartedServer & { registry: string };
let browser: Browser;
let context: BrowserContext;
let page: Page;
let agent: Client;
/** Jobs' pids, killed after the tests whatever happened. */
const pids: number[] = [];

async function shot(name: string, target: Page | ReturnType<Page["locator"]> = page): Promise<void> {
  // Taken either way (the view must render); kept in docs/ only with LMCP_SCREENSHOTS=1, else in the test's dir.
  const path = join(writeShots ? shots : dir, `${name}.png`);
  await target.screenshot({ path, animations: "disabled" });
  expect(statSync(path).size).toBeLessThan(300 * 1024);
}

async function logIn(p: Page, token: string): Promise<void> {
  await p.goto(`${hub.base}/ui`);
  await p.fill("#token", token);
  await p.click("form.login button[type=submit]");
  await p.waitForSelector("#fleet-panel");
}

/** Starts a job on `host` through the hub as the agent; returns its id and the pid of its command. */
async function startJob(host: string, name: string): Promise<{ jobId: string; pid: number }> {
  const pidFile = join(dir, `${name}.pid`);
  const r = await callTool(agent, "remote_shell_bg", { host, command: `echo $$ > ${pidFile}; exec sleep 300` });
  expect(r.isError).toBeFalsy();
  const jobId = (r.structuredContent as { job_id: string }).job_id;
  const pid = await waitForPidFile(pidFile);
  pids.push(pid);
  return { jobId, pid };
}

beforeAll(async () => {
  if (!haveChromium) return;
  dir = mkdtempSync(join(tmpdir(), "lmcp-console-"));
  if (writeShots) mkdirSync(shots, { recursive: true });
  alpha = await startServer();
  beta = await startServer();
  hub = await startHub(
    [
      { name: "alpha", url: alpha.url, token_file: alpha.tokenFile, tags: ["web", "eu"] },
      { name: "beta", url: beta.url, token_file: beta.tokenFile, tags: ["db"] },
    ],
    { registryDir: dir, tokenFileText: `${OPERATOR} name=operator\n${AGENT} name=agent\n${WATCHER} read-only name=watcher\n` },
  );
  agent = await connect(hub, AGENT);
  const { chromium } = await import("playwright-core");
  // Chromium's own temp files (org.chromium.Chromium.*) go in the test's dir, removed in afterAll, not /tmp.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    env: { ...process.env, TMPDIR: dir },
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  page = await context.newPage();
});

afterAll(async () => {
  for (const pid of pids) if (pidAlive(pid)) process.kill(pid, "SIGKILL");
  await agent?.close().catch(() => {});
  await browser?.close();
  await hub?.stop();
  await alpha?.stop();
  await beta?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!haveChromium)("the console in Chromium", () => {
  test("logs in to the hub and sees its two hosts", async () => {
    await page.goto(`${hub.base}/ui`);
    await page.waitForSelector("form.login");
    await shot("login");
    await logIn(page, OPERATOR);
    await page.locator('#fleet-panel tr[data-host="alpha"] .state.up').waitFor();
    await page.locator('#fleet-panel tr[data-host="beta"] .state.up').waitFor();
    expect(await page.locator("#fleet-panel tr[data-host]").count()).toBe(2);
    expect(await page.locator('#fleet-panel tr[data-host="alpha"]').innerText()).toContain("web");
    // The session cookie is HttpOnly, SameSite=Strict, scoped to /ui, and is not the token.
    const cookie = (await context.cookies()).find((c) => c.name === "lmcp_session")!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/ui" });
    expect(cookie.value).not.toContain(OPERATOR);
  });

  test("an agent's call appears in the live feed within 1 s", async () => {
    await page.locator("#live.live").waitFor();
    const r = await callTool(agent, "remote_shell", { host: "alpha", command: "echo console-feed-probe" });
    expect(resultText(r)).toContain("console-feed-probe");
    const row = page.locator("#feed-rows tr", { hasText: "console-feed-probe" }).first();
    await row.waitFor({ timeout: 1000 });
    const text = await row.innerText();
    expect(text).toContain("agent");
    expect(text).toContain("alpha");
    expect(text).toContain("remote_shell");
    expect(text).toContain("exit 0");
    // A read (not audited) is in the feed too.
    await callTool(agent, "remote_list_dir", { host: "beta", path: dir });
    await page.locator("#feed-rows tr", { hasText: "remote_list_dir" }).first().waitFor({ timeout: 1000 });
    await shot("activity", page.locator("#activity-panel"));
  });

  test("the feed filters by host", async () => {
    await page.fill('#filters input[name="host"]', "beta");
    await waitFor("the filter to apply", async () => ((await page.locator("#feed-rows tr", { hasText: "console-feed-probe" }).count()) === 0 ? true : undefined));
    expect(await page.locator("#feed-rows tr", { hasText: "remote_list_dir" }).count()).toBeGreaterThan(0);
    await page.fill('#filters input[name="host"]', "");
    await page.locator("#feed-rows tr", { hasText: "console-feed-probe" }).first().waitFor();
  });

  test("a feed row opens the call's own view: its fields and output", async () => {
    await page.locator("#feed-rows tr", { hasText: "console-feed-probe" }).first().locator("a").click();
    await page.waitForSelector("#output-head");
    expect(page.url()).toMatch(/\/ui\/call\/\d+$/);
    const head = await page.locator("#output-head").innerText();
    expect(head).toContain("[alpha via lmcp]");
    expect(head).toContain("console-feed-probe");
    expect(await page.locator("#call-panel").innerText()).toContain("echo console-feed-probe");
    await shot("call");
    await page.goto(`${hub.base}/ui`);
    await page.locator("#live.live").waitFor();
  });

  test("a spooled call's view links its whole output, read from its host through the hub", async () => {
    const r = await callTool(agent, "remote_shell", { host: "beta", command: "seq 1 30000" });
    const spool = (r.structuredContent as { full_output_path?: string }).full_output_path;
    expect(spool).toBeDefined();
    const row = page.locator("#feed-rows tr", { hasText: "seq 1 30000" }).first();
    await row.waitFor({ timeout: 1000 });
    await row.locator("a").click();
    await page.locator("#output-tail").waitFor();
    expect(await page.locator("#output-panel").innerText()).toContain(`${spool} on beta`);
    const href = await page.locator("#file-stdout").getAttribute("href");
    const whole = (await page.evaluate(`fetch(${JSON.stringify(href)}).then((r) => r.text())`)) as string;
    expect(whole).toBe(readFileSync(spool!, "utf8"));
    await page.goto(`${hub.base}/ui`);
    await page.locator("#live.live").waitFor();
  });

  test("kills a running foreground shell command on a host: the agent's call returns with the signal", async () => {
    const pidFile = join(dir, "fg.pid");
    const running = callTool(agent, "remote_shell", { host: "alpha", command: `echo $$ > ${pidFile}; exec sleep 300` });
    const pid = await waitForPidFile(pidFile);
    pids.push(pid);
    const row = page.locator('#jobs-panel tr[data-kind="shell"]', { hasText: "exec sleep 300" });
    await row.waitFor({ timeout: 15_000 });
    expect(await row.innerText()).toContain("alpha");
    page.once("dialog", (d) => void d.accept());
    await row.locator('button[value="TERM"]').click();
    await page.locator("#jobs-panel .notice", { hasText: "sent SIGTERM to shell command" }).waitFor();
    const r = await running;
    expect(resultText(r)).toContain("killed by SIGTERM");
    expect(r.structuredContent).toMatchObject({ signal: "SIGTERM", exit_code: null, host: "alpha" });
    await waitFor(`pid ${pid} to be gone`, () => (processGone(pid) ? true : undefined));
  });

  test("closes a PTY session on a host", async () => {
    const started = await callTool(agent, "remote_session_start", { host: "beta", command: "exec sleep 301" });
    expect(started.isError).toBeFalsy();
    const { session_id: sessionId, pid } = started.structuredContent as { session_id: string; pid: number };
    pids.push(pid);
    const row = page.locator(`#jobs-panel tr[data-kind="session"][data-job="${sessionId}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.innerText()).toContain("beta");
    page.once("dialog", (d) => void d.accept());
    await row.locator("button", { hasText: "close" }).click();
    await page.locator("#jobs-panel .notice", { hasText: `closed session ${sessionId}` }).waitFor();
    await waitFor(`session ${sessionId} (pid ${pid}) to end`, () => (processGone(pid) ? true : undefined));
    expect(await page.locator(`#jobs-panel tr[data-job="${sessionId}"]`).count()).toBe(0);
  });

  test("kills a running shell_bg job on a host, through the hub", async () => {
    const { jobId, pid } = await startJob("beta", "kill-me");
    const row = page.locator(`#jobs-panel tr[data-job="${jobId}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.innerText()).toContain("beta");
    await shot("jobs", page.locator("#jobs-panel"));
    await shot("overview");
    page.once("dialog", (d) => void d.accept());
    await row.locator('button[value="TERM"]').click();
    await page.locator("#jobs-panel .notice", { hasText: "sent SIGTERM" }).waitFor();
    await waitFor(`job ${jobId} (pid ${pid}) to be gone`, () => (processGone(pid) ? true : undefined));
    expect(await page.locator(`#jobs-panel tr[data-job="${jobId}"]`).count()).toBe(0);
    await page.locator("#feed-rows tr", { hasText: "console/kill" }).first().waitFor({ timeout: 1000 });
  });

  test("emergency stop refuses every agent call (both protocol eras) until resumed; both are audited", async () => {
    // Without the page's CSRF token the same POST is refused.
    expect(await page.evaluate('fetch("/ui/stop", { method: "POST" }).then((r) => r.status)')).toBe(403);
    await page.click("button.stop");
    await page.locator("#paused").waitFor();
    const refused = await callTool(agent, "remote_shell", { host: "alpha", command: "echo should-not-run" });
    expect(refused.isError).toBe(true);
    expect(resultText(refused)).toContain("the operator paused all agents from the lmcp console");
    expect(resultText(refused)).toContain(`Resume on the console at ${hub.base}/ui`);
    const legacy = await connect(hub, AGENT, "legacy");
    try {
      const r = await callTool(legacy, "remote_list_hosts", {});
      expect(r.isError).toBe(true);
      expect(resultText(r)).toContain("paused all agents");
    } finally {
      await legacy.close();
    }
    await page.locator("#feed-rows tr", { hasText: "denied" }).first().waitFor({ timeout: 1000 });
    await shot("paused");
    await page.click("button.resume");
    await page.locator("#paused").waitFor({ state: "detached" });
    const works = await callTool(agent, "remote_shell", { host: "alpha", command: "echo resumed-ok" });
    expect(works.isError).toBeFalsy();
    expect(resultText(works)).toContain("resumed-ok");
    const auditFile = join(hub.home, ".state/lmcp/hub-audit.jsonl");
    const lines = readFileSync(auditFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { tool: string; token: string; outcome: string });
    expect(lines.find((l) => l.tool === "console/stop")).toMatchObject({ token: "operator", outcome: "ok" });
    expect(lines.find((l) => l.tool === "console/resume")).toMatchObject({ token: "operator", outcome: "ok" });
    expect(lines.find((l) => l.tool === "console/kill")).toMatchObject({ token: "operator", outcome: "ok" });
    expect(readFileSync(auditFile, "utf8")).not.toContain(OPERATOR);
  });

  test("a read-only login sees no kill or stop buttons, and a forged POST with it is refused (403)", async () => {
    const { jobId, pid } = await startJob("alpha", "survives");
    const ro = await browser.newContext({ viewport: { width: 1280, height: 760 } });
    try {
      const p = await ro.newPage();
      await logIn(p, WATCHER);
      const row = p.locator(`#jobs-panel tr[data-job="${jobId}"]`);
      await row.waitFor({ timeout: 15_000 });
      expect(await p.locator(".badge.ro", { hasText: "read-only" }).count()).toBe(1);
      expect(await p.locator("button.stop").count()).toBe(0);
      expect(await p.locator("#jobs-panel button").count()).toBe(0);
      await shot("read-only", p);
      const forged = (path: string, body: string) =>
        p.evaluate(
          `fetch(${JSON.stringify(path)}, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", "x-csrf-token": document.querySelector('meta[name="lmcp-csrf"]').content }, body: ${JSON.stringify(body)} }).then((r) => r.status)`,
        );
      expect(await forged("/ui/jobs/kill", `host=alpha&job_id=${jobId}&signal=KILL`)).toBe(403);
      expect(await forged("/ui/stop", "")).toBe(403);
      expect(pidAlive(pid)).toBe(true);
      const still = await callTool(agent, "remote_shell", { host: "alpha", command: "echo not-paused" });
      expect(still.isError).toBeFalsy();
    } finally {
      await ro.close();
    }
    const killed = await callTool(agent, "remote_shell_bg_kill", { host: "alpha", job_id: jobId, signal: "KILL" });
    expect(killed.isError).toBeFalsy();
    await waitFor(`pid ${pid} to be gone`, () => (processGone(pid) ? true : undefined));
  });
});
