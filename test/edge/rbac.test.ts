import { env } from "cloudflare:test";
import { Hono } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import { PROBLEM_BASE_URI } from "../../common/problems";
import { app } from "../../edge/app";
import type { AppEnv } from "../../edge/env";
import { collectOperations, type Operation } from "../../edge/lib/openapi";
import { API_KEY_SCOPES, type ApiKeyScope } from "../../edge/lib/principal";
import { ApiError, type Problem, problemResponse } from "../../edge/lib/problem";
import { type RouteSpec, spec } from "../../edge/lib/route";
import { requestContext } from "../../edge/middleware/request-context";
import { api, signUp } from "./support";

/**
 * Walks every route in `app.routes` with every kind of caller and checks the answer against the
 * route's own spec(): RBAC is declared there, so a route that forgets it, or a spec that is not
 * enforced, fails here.
 */

type Role = "buyer" | "contributor" | "admin";
const CALLER_NAMES = ["anonymous", "buyer", "contributor", "admin", "buyer API key (all scopes)", "buyer API key without this route's scope"] as const;
type Caller = { name: (typeof CALLER_NAMES)[number]; role: Role | null; apiKeyScopes?: readonly ApiKeyScope[]; headers: Record<string, string> };

const operations = collectOperations(app.routes);
const label = (op: Pick<Operation, "method" | "path">) => `${op.method} ${op.path}`;

/** What the spec promises this caller: through (no 401/403), or the problem that refuses it. */
function expectedOutcome(routeSpec: RouteSpec, caller: Caller): "through" | "unauthenticated" | "forbidden" | "insufficient-scope" {
  if (routeSpec.access !== "public") {
    if (caller.role === null) return "unauthenticated";
    if (!routeSpec.access.includes(caller.role)) return "forbidden";
  }
  // One scope rule at every access level: a declared scope is needed; a signed-in route without one refuses keys.
  if (caller.apiKeyScopes) {
    if (routeSpec.apiKeyScope) return caller.apiKeyScopes.includes(routeSpec.apiKeyScope) ? "through" : "insufficient-scope";
    if (routeSpec.access !== "public") return "insufficient-scope";
  }
  return "through";
}

const STATUS = { unauthenticated: 401, forbidden: 403, "insufficient-scope": 403 } as const;

async function checkOutcome(response: Response, expected: ReturnType<typeof expectedOutcome>, context: string) {
  if (expected === "through") {
    expect([401, 403], `${context}: got ${response.status} ${await response.clone().text()}`).not.toContain(response.status);
    // A request the spec lets through must not crash the handler either (`{}` bodies and random ids).
    expect(response.status, context).toBeLessThan(500);
    return;
  }
  expect(response.status, context).toBe(STATUS[expected]);
  expect(response.headers.get("content-type"), context).toBe("application/problem+json");
  expect(((await response.json()) as Problem).type, context).toBe(PROBLEM_BASE_URI + expected);
}

/** The request an operation gets in the walk: random UUIDs for path params, `{}` for bodies. */
function walkRequest(op: Operation): { path: string; init: RequestInit } {
  const path = op.path.replace(/:[A-Za-z0-9_]+(\{[^}]*\})?/g, () => crypto.randomUUID());
  const hasBody = ["POST", "PUT", "PATCH"].includes(op.method);
  return { path, init: { method: op.method, ...(hasBody ? { headers: { "content-type": "application/json" }, body: "{}" } : {}) } };
}

describe("RBAC walk over every route", () => {
  const callers: Caller[] = [];
  const keysLacking = new Map<ApiKeyScope, { scopes: ApiKeyScope[]; secret: string }>();

  beforeAll(async () => {
    const buyer = await signUp("buyer");
    const contributor = await signUp("contributor");
    const admin = await signUp("admin");
    const created = await api("/v1/api-keys", {
      method: "POST",
      token: buyer.accessToken,
      json: { name: "rbac walk", scopes: [...API_KEY_SCOPES] },
    });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    // One key per scope, holding every scope but that one: the walk sends each route the key that lacks its scope.
    for (const missing of API_KEY_SCOPES) {
      const scopes = API_KEY_SCOPES.filter((scope) => scope !== missing);
      const res = await api("/v1/api-keys", { method: "POST", token: buyer.accessToken, json: { name: `rbac walk without ${missing}`, scopes } });
      expect(res.status).toBe(201);
      keysLacking.set(missing, { scopes, secret: ((await res.json()) as { secret: string }).secret });
    }
    callers.push(
      { name: "anonymous", role: null, headers: {} },
      { name: "buyer", role: "buyer", headers: { authorization: `Bearer ${buyer.accessToken}` } },
      { name: "contributor", role: "contributor", headers: { authorization: `Bearer ${contributor.accessToken}` } },
      { name: "admin", role: "admin", headers: { authorization: `Bearer ${admin.accessToken}` } },
      { name: "buyer API key (all scopes)", role: "buyer", apiKeyScopes: API_KEY_SCOPES, headers: { "x-api-key": secret } },
    );
  });

  it("declares a spec() on every operation", () => {
    const withoutSpec = operations.filter((op) => !op.spec).map(label);
    expect(withoutSpec, "routes without spec(): add one (it declares access and documents the route)").toEqual([]);
  });

  it("walks the known routes (an empty walk proves nothing)", () => {
    const walked = operations.map(label);
    for (const known of ["GET /v1/auth/me", "POST /v1/auth/login", "POST /v1/api-keys", "GET /v1/api-keys", "DELETE /v1/api-keys/:id", "GET /v1/health"]) {
      expect(walked).toContain(known);
    }
    expect(operations.some((op) => op.spec && op.spec.access !== "public")).toBe(true);
    expect(operations.some((op) => op.spec?.apiKeyScope)).toBe(true);
  });

  for (const op of operations) {
    describe(label(op), () => {
      for (const callerName of CALLER_NAMES) {
        it(`answers ${callerName} as its spec says`, async () => {
          let caller = callers.find((c) => c.name === callerName);
          const lacking = op.spec?.apiKeyScope ? keysLacking.get(op.spec.apiKeyScope) : undefined;
          if (callerName === "buyer API key without this route's scope") {
            // A route without a scope: any key lacks it, so the all-scopes key stands in.
            const full = callers.find((c) => c.name === "buyer API key (all scopes)");
            caller = lacking ? { name: callerName, role: "buyer", apiKeyScopes: lacking.scopes, headers: { "x-api-key": lacking.secret } } : full && { ...full, name: callerName };
          }
          expect(caller, "callers are set up").toBeDefined();
          expect(op.spec, "the operation has a spec").toBeDefined();
          if (!caller || !op.spec) return;
          const { path, init } = walkRequest(op);
          const headers = new Headers(init.headers);
          for (const [name, value] of Object.entries(caller.headers)) headers.set(name, value);
          const response = await api(path, { ...init, headers });
          await checkOutcome(response, expectedOutcome(op.spec, caller), `${op.method} ${path} as ${caller.name}`);
        });
      }
    });
  }
});

/**
 * Every route today allows all three roles, so the walk never sees a role refused. This probe
 * route, guarded by the same spec(), shows that a role list and an API-key scope are enforced.
 */
describe("spec() enforcement on a role-restricted route", () => {
  const probe = new Hono<AppEnv>()
    .use(requestContext())
    .get("/admins-only", spec({ summary: "probe", tags: ["test"], access: ["admin"], apiKeyScope: "account:read", responses: { 200: { description: "ok" } } }), (c) => c.text("ok"))
    .get("/contributors-and-admins", spec({ summary: "probe", tags: ["test"], access: ["contributor", "admin"], responses: { 200: { description: "ok" } } }), (c) => c.text("ok"))
    .onError((error, c) => (error instanceof ApiError ? problemResponse(c, error) : c.text(String(error), 500)));

  const call = (path: string, headers: Record<string, string>) => probe.request(path, { headers }, env);

  it("refuses roles outside the list with 403 forbidden and lets listed roles through", async () => {
    const buyer = await signUp("buyer");
    const contributor = await signUp("contributor");
    const admin = await signUp("admin");
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    await checkOutcome(await call("/admins-only", {}), "unauthenticated", "anonymous on admins-only");
    await checkOutcome(await call("/admins-only", bearer(buyer.accessToken)), "forbidden", "buyer on admins-only");
    await checkOutcome(await call("/admins-only", bearer(contributor.accessToken)), "forbidden", "contributor on admins-only");
    const adminCall = await call("/admins-only", bearer(admin.accessToken));
    expect(adminCall.status).toBe(200);

    await checkOutcome(await call("/contributors-and-admins", bearer(buyer.accessToken)), "forbidden", "buyer on contributors-and-admins");
    expect((await call("/contributors-and-admins", bearer(contributor.accessToken))).status).toBe(200);
    expect((await call("/contributors-and-admins", bearer(admin.accessToken))).status).toBe(200);
  });

  it("checks an API key's owner role first, then the route's scope", async () => {
    const buyer = await signUp("buyer");
    const admin = await signUp("admin");
    const keyFor = async (token: string) => {
      const created = await api("/v1/api-keys", { method: "POST", token, json: { name: "probe", scopes: ["account:read"] } });
      expect(created.status).toBe(201);
      return ((await created.json()) as { secret: string }).secret;
    };
    const buyerKey = await keyFor(buyer.accessToken);
    const adminKey = await keyFor(admin.accessToken);
    await checkOutcome(await call("/admins-only", { "x-api-key": buyerKey }), "forbidden", "buyer key on admins-only");
    expect((await call("/admins-only", { "x-api-key": adminKey })).status).toBe(200);
    // The route names no scope, so no key may call it, whatever the owner's role.
    await checkOutcome(await call("/contributors-and-admins", { "x-api-key": adminKey }), "insufficient-scope", "admin key on a route without a scope");
  });
});
