import type { Context, MiddlewareHandler, ValidationTargets } from "hono";
import { validator } from "hono/validator";
import * as v from "valibot";
import type { UserRole } from "../../db/schema";
import type { AppEnv } from "../env";
import type { ApiKeyScope, Principal } from "./principal";
import { ApiError, fieldIssues, problemResponse } from "./problem";
import { type DeclaredResponses, describeContractIssues, isJsonMediaType, responseContractIssues } from "./response-contract";

/** Who may call a route: anyone, or signed-in users of the listed roles. */
export type Access = "public" | readonly UserRole[];

export type RouteSpec = {
  summary: string;
  description?: string;
  tags: string[];
  access: Access;
  /** The API-key scope that lets a key call this route; without it, API keys are refused. */
  apiKeyScope?: ApiKeyScope;
  /** Accepts `Idempotency-Key` (documented in OpenAPI). */
  idempotent?: boolean;
  /** Each status the route answers with and, for a JSON body, its schema (the OpenAPI document and, in tests, the response check use it). */
  responses: { [status: number]: DeclaredResponses[number] & { content?: MediaTypes } };
  /** Documentation only: a body that `input("json", ...)` does not parse (an image, a webhook's raw JSON), by media type. */
  requestBody?: { description: string; content: MediaTypes };
  /** Documentation only: headers the handler reads itself (a webhook's signature). */
  headers?: { name: string; description: string; required: boolean; schema: Record<string, unknown> }[];
};

/** Documentation only: a body other than the JSON a `schema` describes, by media type, each with its JSON Schema (an image is `{ type: "string", format: "binary" }`). */
export type MediaTypes = Record<string, Record<string, unknown>>;

export const SPEC = Symbol("route-spec");
export const INPUT = Symbol("route-input");

export type SpecMiddleware = MiddlewareHandler<AppEnv> & { [SPEC]: RouteSpec };
export type InputMiddleware = MiddlewareHandler & { [INPUT]: { target: keyof ValidationTargets; schema: v.GenericSchema } };

/**
 * Declares a route's access rule and documentation, and enforces the rule. Every route starts
 * with one: the RBAC test walks `app.routes` and fails on a route without it, and the OpenAPI
 * document is generated from it. With VALIDATE_RESPONSES (the edge tests), every JSON response is
 * checked against the schema declared for its status: a mismatch becomes a 500 problem naming the
 * route, status and issues, and an error log line, so the test that made the call fails.
 *
 * @example auth.get("/me", spec({ summary: "Current user", tags: ["auth"], access: ALL_ROLES, responses: {...} }), async (c) => ...)
 */
export function spec(routeSpec: RouteSpec): SpecMiddleware {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const principal = await c.var.authenticate(routeSpec.access !== "public");
    if (routeSpec.access !== "public") {
      if (!principal) throw new ApiError("unauthenticated");
      if (!routeSpec.access.includes(principal.role)) {
        throw new ApiError("forbidden", `this route is for: ${routeSpec.access.join(", ")}`);
      }
    }
    if (principal?.kind === "api_key") checkApiKeyScope(routeSpec, principal.scopes);
    // Read before next(): later handlers move Hono's route index on.
    const operation = `${c.req.method} ${c.req.routePath}`;
    await next();
    if (c.var.config.validateResponses) await enforceResponseContract(c, operation, routeSpec.responses);
  };
  return Object.assign(middleware, { [SPEC]: routeSpec });
}

async function enforceResponseContract(c: Context<AppEnv>, operation: string, declared: DeclaredResponses) {
  // An Idempotency-Key replay is the first response, checked when it was sent, less the secrets
  // shown only once (middleware/idempotency.ts `redact`): it lacks those fields by design.
  if (c.res.headers.get("idempotency-replayed") === "true") return;
  const issues = await responseContractIssues(c.res, declared);
  if (issues.length === 0) return;
  const status = c.res.status;
  c.var.log.error("response does not match its declared schema", { operation, status, issues });
  c.res = problemResponse(c, new ApiError("internal", describeContractIssues(operation, status, issues), { contract: { operation, status, issues } }));
}

/**
 * The one scope rule for API keys, whatever the route's access level: a route that declares a
 * scope needs it; a signed-in route without one refuses keys; a public route without one (docs,
 * health, plans) serves a key as it serves anyone.
 */
function checkApiKeyScope(routeSpec: RouteSpec, scopes: readonly string[]) {
  if (routeSpec.apiKeyScope) {
    if (!scopes.includes(routeSpec.apiKeyScope)) throw new ApiError("insufficient-scope", `this route needs the ${routeSpec.apiKeyScope} scope`);
  } else if (routeSpec.access !== "public") {
    throw new ApiError("insufficient-scope", "this route cannot be called with an API key");
  }
}

/**
 * Parses one part of the request with a valibot schema; handlers read only `c.req.valid(target)`.
 * JSON bodies must say `application/json` (415 otherwise); malformed JSON is a 400 and a body that
 * does not fit the schema a 422 listing every issue.
 */
export function input<T extends keyof ValidationTargets, S extends v.GenericSchema>(target: T, schema: S) {
  const middleware = validator(target, (value, c) => {
    if (target === "json" && !isJsonMediaType(c.req.header("content-type"))) {
      throw new ApiError("unsupported-media-type", "send the body as application/json", { accepted: ["application/json"] });
    }
    // Every JSON body is an object (valibot's object schemas would let an array through).
    if (target === "json" && (typeof value !== "object" || value === null || Array.isArray(value))) {
      throw new ApiError("validation-failed", "invalid body", { errors: [{ path: "", message: "the body must be a JSON object" }] });
    }
    const result = v.safeParse(schema, value);
    if (!result.success) {
      throw new ApiError("validation-failed", `invalid ${target === "json" ? "body" : target}`, { errors: fieldIssues(result.issues) });
    }
    return result.output as v.InferOutput<S>;
  });
  return Object.assign(middleware, { [INPUT]: { target, schema } });
}

/** Every role: for routes any signed-in user may call. */
export const ALL_ROLES = ["buyer", "contributor", "admin"] as const satisfies readonly UserRole[];

/** The caller of a route whose spec requires sign-in (spec() has already refused anonymous calls). */
export function caller(c: Context<AppEnv>): Principal {
  const principal = c.var.principal;
  if (!principal) throw new ApiError("unauthenticated");
  return principal;
}

/** The request's ExecutionContext; undefined under app.request() in a test, where Hono's getter throws. */
export function executionContext(c: Context<AppEnv>): ExecutionContext | undefined {
  try {
    // Hono's own ExecutionContext type lacks the Workers type's optional members.
    return c.executionCtx as ExecutionContext;
  } catch {
    return undefined;
  }
}

/** Work that may finish after the response: the request's waitUntil, or none without an execution context. */
export function background(c: Context<AppEnv>): ((work: Promise<void>) => void) | undefined {
  const ctx = executionContext(c);
  return ctx ? (work) => ctx.waitUntil(work) : undefined;
}
