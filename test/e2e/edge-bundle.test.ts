import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchRetrying } from "../support/http";
import { runNpmStart, survivorsNaming } from "../support/stack";

/**
 * `EDGESTOCK_EDGE=bundle npm start`: the local entry (edge/local.ts: the production app plus the
 * stand-ins) bundled as `wrangler deploy` bundles, run by Miniflare with no dev proxy in front
 * (what the search benchmark measures). The same bindings and local state as the default mode:
 * database over both Neon paths (WebSocket transactions, HTTP one-shot statements), R2, Queues.
 * And the production bundle (wrangler.toml's edge/index.ts) holds none of the stand-ins.
 */
let stack: ChildProcess;
let url = "";
let output = () => "";
const dataDir = mkdtempSync(join(tmpdir(), "edgestock-bundle-"));

beforeAll(async () => {
  ({ child: stack, url, output } = await runNpmStart(dataDir, { EDGESTOCK_EDGE: "bundle", EDGESTOCK_WORKER: "0" }));
});

afterAll(async () => {
  if (stack.exitCode === null && stack.pid) {
    try {
      process.kill(-stack.pid, "SIGKILL");
    } catch {}
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the edge as its deploy bundle (EDGESTOCK_EDGE=bundle)", () => {
  it("runs the bundle wrangler deploy builds, with the local bindings and state", async () => {
    expect(existsSync(join(dataDir, "edge-bundle", "local.js"))).toBe(true);
    const health = (await (await fetchRetrying(`${url}/v1/health`)).json()) as { checks: Record<string, { state: string }> };
    expect(health.checks.database?.state).toBe("ok");
    expect(health.checks.r2?.state).toBe("ok");
    expect(health.checks.queue?.state).toBe("ok");
    // Local R2 and Durable Object state where `wrangler dev --persist-to` keeps it.
    expect(existsSync(join(dataDir, "wrangler", "v3"))).toBe(true);
  });

  it("serves a transaction over the WebSocket path and a search over the HTTP path", async () => {
    const register = await fetch(`${url}/v1/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: `bundle-${Date.now()}@example.test`, password: "bundle password 123", displayName: "Bundle", role: "buyer" }),
    });
    expect(register.status).toBe(201);
    const search = await fetchRetrying(`${url}/v1/search?q=ocean&mode=keyword`, { headers: { "cache-control": "no-cache" } });
    expect(search.status).toBe(200);
    expect(await search.json()).toMatchObject({ mode: "keyword", degraded: [], total: expect.any(Number) });
  });

  it("leaves the local stand-ins out of the production bundle", () => {
    const out = join(dataDir, "production-bundle");
    execFileSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--outdir", out, "-c", "wrangler.toml"], { stdio: "pipe" });
    const bundle = readFileSync(join(out, "index.js"), "utf8");
    // The /_local routes and the Queues pull stand-in's Durable Object class.
    expect(bundle).not.toContain("/_local");
    expect(bundle).not.toContain("LocalPullQueue");
    // The bundle is minified; its source map names every module bundled.
    const { sources } = JSON.parse(readFileSync(join(out, "index.js.map"), "utf8")) as { sources: string[] };
    expect(sources.filter((source) => /edge\/(dev\/|local\.ts)/.test(source))).toEqual([]);
  });

  it("stops workerd with the stack", async () => {
    const pid = stack.pid as number;
    process.kill(-pid, "SIGINT");
    await new Promise((resolve) => stack.once("exit", resolve));
    expect(output()).toContain("[start] stopped");
    expect(await survivorsNaming(dataDir)).toBe("");
  });
});
