import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { Config } from "../config";
import type { AppEnv } from "../env";

/**
 * CORS for the API (/v1), so a front end on another origin (a customer's own storefront, a CMS
 * plugin) can call it from the browser. Allowed origins come from CORS_ORIGINS: `*` (the default:
 * any origin) or a comma-separated list of origins. Credentials are never allowed across origins:
 * the API's credentials are the Authorization and X-Api-Key headers, which a page sends on purpose
 * (no `Access-Control-Allow-Credentials` is needed for them), and the web app's session cookie is
 * for its own pages only (SameSite=Lax, and no cross-origin response carrying it is ever readable).
 * Preflights are answered for every path with the methods and request headers the API uses.
 */
export const apiCors: MiddlewareHandler<AppEnv> = cors({
  origin: (origin, c) => {
    const allowed = (c.get("config") as Config).corsOrigins;
    if (allowed === "*") return "*";
    return allowed.includes(origin) ? origin : null;
  },
  allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
  allowHeaders: ["authorization", "content-type", "x-api-key", "idempotency-key", "x-request-id"],
  exposeHeaders: ["x-request-id", "location", "retry-after", "idempotency-replayed", "x-cache", "content-disposition"],
  maxAge: 600,
  credentials: false,
});
