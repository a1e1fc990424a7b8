import { env, SELF } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { PROBLEM_BASE_URI } from "../../common/problems";
import { workerHeartbeats } from "../../db/schema";
import { app } from "../../edge/app";
import { readConfig } from "../../edge/config";
import { collectOperations, type OpenApiDocument } from "../../edge/lib/openapi";
import type { Problem } from "../../edge/lib/problem";
import type { Health } from "../../edge/services/admin/health";
import { api, signUp, testDb } from "./support";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const operations = collectOperations(app.routes);
const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

const { db, pool } = testDb();
afterAll(() => pool.end());

async function expectProblem(res: Response, status: number, type: string): Promise<Problem & { allowed?: string[] }> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = (await res.json()) as Problem & { allowed?: string[] };
  expect(body.type).toBe(PROBLEM_BASE_URI + type);
  expect(body.requestId).toBe(res.headers.get("x-request-id"));
  return body;
}

describe("routing conventions", () => {
  it("answers an unknown route with a 404 problem (a script outside /v1 too; browsers get a page)", async () => {
    for (const path of ["/v1/no-such-thing", "/no-such-page", "/v2/auth/me", "/v1/api-keys/a/b"]) {
      await expectProblem(await api(path), 404, "not-found");
    }
  });

  it("answers a known path with the wrong method with 405 and an Allow header that lists the methods that work", async () => {
    const cases = [
      { method: "DELETE", path: "/v1/auth/me", allowed: ["GET", "HEAD"] },
      { method: "GET", path: "/v1/auth/login", allowed: ["POST"] },
      { method: "PUT", path: "/v1/api-keys", allowed: ["GET", "HEAD", "POST"] },
      { method: "GET", path: `/v1/api-keys/${crypto.randomUUID()}`, allowed: ["DELETE"] },
    ];
    for (const { method, path, allowed } of cases) {
      const res = await api(path, { method });
      expect(res.headers.get("allow"), `${method} ${path}`).toBe(allowed.join(", "));
      const body = await expectProblem(res, 405, "method-not-allowed");
      expect(body.allowed).toEqual(allowed);
      // Every method the Allow header names is really routed there.
      for (const other of allowed) {
        const answer = await api(path, { method: other });
        expect([404, 405], `${other} ${path} is listed in Allow`).not.toContain(answer.status);
      }
    }
  });

  it("treats a trailing slash as a different path: 404, not a 405 that allows the method used", async () => {
    for (const path of ["/v1/auth/me/", "/v1/api-keys/", "/v1/health/"]) {
      await expectProblem(await api(path), 404, "not-found");
    }
  });
});

describe("request ids", () => {
  it("puts an x-request-id on every response, successes, problems and HTML alike", async () => {
    const user = await signUp();
    const responses = {
      "200 json": await api("/v1/health"),
      "200 html": await api("/v1/docs"),
      "200 authenticated": await api("/v1/auth/me", { token: user.accessToken }),
      "201": await api("/v1/api-keys", { method: "POST", token: user.accessToken, json: { name: "rid", scopes: ["account:read"] } }),
      "400": await api("/v1/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: '{"a":' }),
      "401": await api("/v1/auth/me"),
      "404": await api("/v1/nowhere"),
      "405": await api("/v1/auth/me", { method: "DELETE" }),
      "413": await api("/v1/auth/login", { method: "POST", json: { email: "x".repeat(70_000) } }),
      "415": await api("/v1/auth/login", { method: "POST", body: "email=a" }),
      "422": await api("/v1/auth/login", { method: "POST", json: {} }),
    };
    const ids = new Set<string>();
    for (const [name, res] of Object.entries(responses)) {
      expect(String(res.status), name).toBe(name.slice(0, 3));
      const id = res.headers.get("x-request-id");
      expect(id, name).toMatch(UUID);
      ids.add(id ?? "");
    }
    expect(ids.size).toBe(Object.keys(responses).length);
  });

  it("echoes an incoming X-Request-Id in the header and in problem bodies", async () => {
    const id = `trace-${crypto.randomUUID()}`;
    const ok = await api("/v1/health", { headers: { "x-request-id": id } });
    expect(ok.headers.get("x-request-id")).toBe(id);
    const problem = await api("/v1/auth/me", { headers: { "x-request-id": id } });
    expect(problem.headers.get("x-request-id")).toBe(id);
    expect(((await problem.json()) as Problem).requestId).toBe(id);
  });

  it("replaces an incoming X-Request-Id that is too long or has unsafe characters", async () => {
    for (const unsafe of ["has spaces; and=semicolons", "x".repeat(300), "<script>"]) {
      const res = await api("/v1/health", { headers: { "x-request-id": unsafe } });
      expect(res.headers.get("x-request-id")).toMatch(UUID);
    }
  });
});

describe("API documentation", () => {
  it("names the configured public URL as its server, whatever Host the request carries", async () => {
    const expected = new URL(readConfig(env).PUBLIC_APP_URL).origin;
    for (const path of ["/v1/openapi.json", "/v1/docs"]) {
      const res = await SELF.fetch(new Request(`http://evil.example${path}`, { headers: { host: "evil.example", "x-forwarded-host": "evil.example" } }));
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text, path).not.toContain("evil.example");
      if (path.endsWith(".json")) expect((JSON.parse(text) as { servers: { url: string }[] }).servers).toEqual([{ url: expected }]);
    }
  });

  it("serves an OpenAPI 3.1 document listing every operation with its summary and access", async () => {
    const res = await api("/v1/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as OpenApiDocument;
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);

    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    const routed = operations.map((op) => `${op.method} ${openApiPath(op.path)}`);
    expect(routed.length).toBeGreaterThanOrEqual(10);
    expect(new Set(documented)).toEqual(new Set(routed));
    expect(documented).toHaveLength(routed.length);

    for (const op of operations) {
      const entry = doc.paths[openApiPath(op.path)]?.[op.method.toLowerCase()];
      expect(entry?.summary, `${op.method} ${op.path} summary`).toBe(op.spec?.summary);
      expect(entry?.summary?.length).toBeGreaterThan(0);
      expect(entry?.["x-access"], `${op.method} ${op.path} x-access`).toEqual(op.spec?.access);
    }
  });

  it("serves an HTML reference that mentions every operation", async () => {
    const res = await api("/v1/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    for (const op of operations) expect(html, `${op.method} ${op.path}`).toContain(`${op.method} ${openApiPath(op.path)}`);
  });
});

describe("health", () => {
  const workerId = `conventions-test-${crypto.randomUUID()}`;
  afterAll(() => db.delete(workerHeartbeats).where(eq(workerHeartbeats.workerId, workerId)));

  async function health(): Promise<Health> {
    const res = await api("/v1/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    return (await res.json()) as Health;
  }

  it("reports each dependency, and the GPU worker down (status degraded) until a fresh heartbeat arrives", async () => {
    const before = await health();
    expect(Object.keys(before.checks).sort()).toEqual(["cache", "database", "queue", "r2", "worker"]);
    expect(before.checks.database?.state).toBe("ok");
    // No GPU worker runs in tests and the test database has no heartbeat rows yet.
    expect(before.checks.worker?.state).toBe("down");
    expect(before.status).toBe("degraded");

    // A heartbeat older than the staleness limit still counts as down.
    await db.insert(workerHeartbeats).values({ workerId, lastSeenAt: new Date(Date.now() - 10 * 60_000) });
    const stale = await health();
    expect(stale.checks.worker?.state).toBe("down");
    expect(stale.checks.worker?.detail).toContain(workerId);
    expect(stale.status).toBe("degraded");

    await db
      .update(workerHeartbeats)
      .set({ lastSeenAt: new Date(), capabilities: { clip: null, nsfw: true } })
      .where(eq(workerHeartbeats.workerId, workerId));
    const fresh = await health();
    expect(fresh.checks.worker?.state).toBe("ok");
    expect(fresh.checks.worker?.detail).toContain(workerId);
    // It says what the worker can do: here, no CLIP model.
    expect(fresh.checks.worker?.detail).toContain("no CLIP model (semantic features off), NSFW classifier");
    const othersOk = Object.values(fresh.checks).every((check) => check.state === "ok");
    expect(fresh.status).toBe(othersOk ? "ok" : "degraded");
    expect(othersOk, JSON.stringify(fresh.checks)).toBe(true);

    // And why there is none, when the worker says: its short phrase, not the details (paths, URLs) of its log.
    const clipUnavailable = { why: "the Hub is unreachable", detail: "immich-app/ViT-B-32__openai from https://huggingface.co: cannot reach it (ENOTFOUND) /srv/models" };
    await db
      .update(workerHeartbeats)
      .set({ lastSeenAt: new Date(), capabilities: { clip: null, clipUnavailable, nsfw: true } })
      .where(eq(workerHeartbeats.workerId, workerId));
    const offline = await health();
    expect(offline.checks.worker?.detail).toContain("no CLIP model (semantic features off: the Hub is unreachable), NSFW classifier");
    expect(offline.checks.worker?.detail).not.toContain("/srv/models");

    // During a CLIP model switch (gpu-worker/reembed.ts): which model search reads, and how far the new one has got.
    const reembed = { model: "ViT-B-16-SigLIP2__webli", done: 3, total: 12, failed: 1, checkedAt: new Date().toISOString() };
    await db
      .update(workerHeartbeats)
      .set({ lastSeenAt: new Date(), capabilities: { clip: "ViT-B-16-SigLIP2__webli", searchModel: "ViT-B-32__openai", reembed, nsfw: true } })
      .where(eq(workerHeartbeats.workerId, workerId));
    const switching = await health();
    expect(switching.checks.worker?.detail).toContain(
      "CLIP ViT-B-16-SigLIP2__webli, NSFW classifier; search reads ViT-B-32__openai, switching to ViT-B-16-SigLIP2__webli: 3 of 12 images re-embedded (25%), 1 unreadable",
    );
  });
});
