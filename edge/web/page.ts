import type { Context, MiddlewareHandler } from "hono";
import type * as v from "valibot";
import type { AppEnv } from "../env";
import type { Principal } from "../lib/principal";
import { ApiError, fieldIssues } from "../lib/problem";
import type { Access } from "../lib/route";
import { CSRF_FIELD, CSRF_HEADER, csrfMatches } from "../lib/session-cookies";

/** A page's access rule: who may open it (or post its forms). */
export type PageSpec = { access: Access };

export const PAGE = Symbol("page-spec");
export type PageMiddleware = MiddlewareHandler<AppEnv> & { [PAGE]: PageSpec };

const SAFE_METHODS = new Set(["GET", "HEAD"]);

/**
 * Declares and enforces a page's access rule, as spec() does for API routes; every page starts with
 * one (test/edge/pages.test.ts walks them all). A form post (any method but GET/HEAD) must carry the
 * page's CSRF token in `_csrf` (or `X-CSRF-Token` from a script) or it is refused before anything
 * else runs. An anonymous visitor to a signed-in page is sent to sign in and brought back; a signed-in
 * user of another role gets 403.
 */
export function page(pageSpec: PageSpec): PageMiddleware {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method)) {
      const presented = c.req.header(CSRF_HEADER) ?? (await formField(c, CSRF_FIELD));
      if (!(await csrfMatches(c, presented))) throw new ApiError("csrf-token-invalid");
      c.set("csrfVerified", true);
    }
    const principal = await c.var.authenticate(false);
    if (pageSpec.access !== "public") {
      if (!principal) {
        if (!SAFE_METHODS.has(c.req.method)) throw new ApiError("unauthenticated", "sign in first");
        const url = new URL(c.req.url);
        return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
      }
      if (!pageSpec.access.includes(principal.role)) throw new ApiError("forbidden", `this page is for: ${pageSpec.access.join(", ")}`);
    }
    await next();
  };
  return Object.assign(middleware, { [PAGE]: pageSpec });
}

/** One field of a urlencoded or multipart form body (Hono caches the parse for the handler). */
async function formField(c: Context<AppEnv>, name: string): Promise<string | undefined> {
  const type = c.req.header("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded") && !type.startsWith("multipart/form-data")) return undefined;
  try {
    const value = (await c.req.parseBody())[name];
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The signed-in visitor of a page whose spec requires sign-in (page() has already redirected anyone else). */
export function visitor(c: Context<AppEnv>): Principal {
  const principal = c.var.principal;
  if (!principal) throw new ApiError("unauthenticated");
  return principal;
}

/** A failed parse's issues as people read them on a page: `field: message` (`form` when no field is named). */
export function issueMessages(issues: readonly v.BaseIssue<unknown>[]): string[] {
  return fieldIssues(issues).map((issue) => `${issue.path || "form"}: ${issue.message}`);
}

/**
 * A submitted form's fields, as strings (a file field or repeated field keeps its last text value).
 * Validate them with the same valibot schema the API route uses.
 */
export async function formFields(c: Context<AppEnv>): Promise<Record<string, string>> {
  const body = await c.req.parseBody({ all: true });
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === CSRF_FIELD) continue;
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (typeof last === "string") fields[key] = last;
  }
  return fields;
}

/**
 * The page spec of a route handler in `app.routes`, or undefined. Hono wraps the handlers of a
 * sub-app with its own error handler (edge/web/app.tsx has one) and keeps the original under
 * `__COMPOSED_HANDLER`, so look there too.
 */
export function pageSpecOf(handler: unknown): PageSpec | undefined {
  let current = handler as ({ [PAGE]?: PageSpec; __COMPOSED_HANDLER?: unknown } & object) | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current[PAGE]) return current[PAGE];
    current = current.__COMPOSED_HANDLER as typeof current;
  }
  return undefined;
}
