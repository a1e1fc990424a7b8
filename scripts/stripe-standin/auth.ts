import type { MiddlewareHandler } from "hono";
import { StripeApiError } from "./errors";

/** The secret key in `Authorization: Bearer <key>` (or curl's `-u <key>:`, Basic auth). */
function presentedKey(authorization: string | undefined): string | undefined {
  const [scheme, value] = authorization?.split(" ", 2) ?? [];
  if (!value) return undefined;
  if (scheme?.toLowerCase() === "bearer") return value;
  if (scheme?.toLowerCase() === "basic") return Buffer.from(value, "base64").toString("utf8").split(":")[0] || undefined;
  return undefined;
}

/** `sk_test_abcd…wxyz`: enough to recognize a key in an error, never the whole of it. */
function redact(key: string): string {
  return key.length > 12 ? `${key.slice(0, 8)}${"*".repeat(key.length - 12)}${key.slice(-4)}` : "*".repeat(key.length);
}

/**
 * Stripe's API-key check: only `apiKey` when one is configured, otherwise any test-mode secret
 * key (`sk_test_…`). Anything else is a 401 as Stripe words it.
 */
export function requireApiKey(apiKey: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    const key = presentedKey(c.req.header("authorization"));
    if (!key) {
      throw new StripeApiError(
        401,
        "invalid_request_error",
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
      );
    }
    const accepted = apiKey ? key === apiKey : key.startsWith("sk_test_");
    if (!accepted) throw new StripeApiError(401, "invalid_request_error", `Invalid API Key provided: ${redact(key)}`);
    await next();
  };
}
