import { env } from "cloudflare:test";
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import * as v from "valibot";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AppEnv } from "../../edge/env";
import { ApiError, problemResponse } from "../../edge/lib/problem";
import { spec } from "../../edge/lib/route";
import { requestContext } from "../../edge/middleware/request-context";
import { expectProblem } from "./support";

/**
 * In the edge tests (VALIDATE_RESPONSES=true, set by global-setup) spec() checks every JSON
 * response against the schema its route declares for that status. These probe routes answer
 * wrongly on purpose: each mismatch must turn into a 500 problem naming the route, status and
 * issue, and an error log line, so whichever test made the call fails.
 */
const Thing = v.object({ id: v.string(), tags: v.array(v.object({ name: v.string() })) });
const declared = { 200: { description: "a thing", schema: Thing }, 204: { description: "nothing" } };
const probeSpec = spec({ summary: "probe", tags: ["test"], access: "public", responses: declared });

const probe = new Hono<AppEnv>()
  .use(requestId())
  .use(requestContext())
  .get("/right", probeSpec, (c) => c.json({ id: "a", tags: [{ name: "sea" }] }))
  .get("/wrong-type", probeSpec, (c) => c.json({ id: 7, tags: [] }))
  .get("/extra-key", probeSpec, (c) => c.json({ id: "a", tags: [{ name: "sea", secret: "x" }], internal: true }))
  .get("/undeclared-status", probeSpec, (c) => c.json({ id: "a", tags: [] }, 201))
  .get("/no-content", probeSpec, (c) => c.body(null, 204))
  .get("/thrown-problem", probeSpec, () => {
    throw new ApiError("not-found", "no such thing");
  })
  .get("/hand-made-problem", probeSpec, (c) => c.json({ message: "gone" }, 404, { "content-type": "application/problem+json" }))
  .onError((error, c) => (error instanceof ApiError ? problemResponse(c, error) : c.text(String(error), 500)));

const call = (path: string, bindings: Env = env) => probe.request(path, {}, bindings);

afterEach(() => {
  vi.restoreAllMocks();
});

describe("response contract check (VALIDATE_RESPONSES)", () => {
  it("lets a response that fits its declared schema through unchanged", async () => {
    const res = await call("/right");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: "a", tags: [{ name: "sea" }] });
    expect((await call("/no-content")).status).toBe(204);
  });

  it("turns a body that breaks the schema into a 500 problem naming route, status and issue, and logs it", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const problem = await expectProblem(await call("/wrong-type"), 500, "internal");
    expect(problem.detail).toContain("GET /wrong-type 200 does not match its declared response");
    expect(problem.detail).toContain("id:");
    const logged = errors.mock.calls.map(([line]) => JSON.parse(String(line)) as { msg: string; operation?: string; status?: number });
    expect(logged).toContainEqual(expect.objectContaining({ msg: "response does not match its declared schema", operation: "GET /wrong-type", status: 200 }));
  });

  it("refuses members the schema does not declare, at any depth", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const problem = await expectProblem(await call("/extra-key"), 500, "internal");
    expect(problem.detail).toContain("tags.0.secret: not declared by the schema");
    expect(problem.detail).toContain("internal: not declared by the schema");
  });

  it("refuses a status the route does not declare", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const problem = await expectProblem(await call("/undeclared-status"), 500, "internal");
    expect(problem.detail).toContain("GET /undeclared-status 201");
    expect(problem.detail).toContain("the status is not declared");
  });

  it("checks problems against the RFC 9457 problem schema", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await expectProblem(await call("/thrown-problem"), 404, "not-found");
    const problem = await expectProblem(await call("/hand-made-problem"), 500, "internal");
    expect(problem.detail).toContain("GET /hand-made-problem 404");
  });

  it("checks nothing when VALIDATE_RESPONSES is not set (production)", async () => {
    const res = await call("/extra-key", { ...env, VALIDATE_RESPONSES: "" } as Env);
    expect(res.status).toBe(200);
  });
});
