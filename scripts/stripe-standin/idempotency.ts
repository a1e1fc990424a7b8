import type { MiddlewareHandler } from "hono";
import { StripeApiError } from "./errors";
import type { StandinState } from "./state";

const KEEP_MS = 24 * 60 * 60 * 1000;

function forgetExpired(state: StandinState, now: number): void {
  for (const [key, answer] of Object.entries(state.idempotency)) {
    if (now - answer.savedAt > KEEP_MS) delete state.idempotency[key];
  }
}

/**
 * Stripe's idempotent requests (https://docs.stripe.com/api/idempotent_requests) for POSTs with an
 * `Idempotency-Key`: the first answer is kept for 24 hours and replayed byte for byte (with
 * `Idempotent-Replayed: true`) to a retry with the same method, path and body; the same key with a
 * different request is an `idempotency_error`, and so is a retry while the first is still running.
 * As at Stripe, requests refused before they ran (4xx) save nothing, so a corrected retry can run.
 */
export function idempotentRequests(state: StandinState): MiddlewareHandler {
  const running = new Set<string>();
  return async (c, next) => {
    const key = c.req.header("idempotency-key");
    if (c.req.method !== "POST" || !key) return next();
    forgetExpired(state, Date.now());
    const fingerprint = `${c.req.method} ${c.req.path} ${await c.req.text()}`;
    const saved = state.idempotency[key];
    if (saved && saved.fingerprint !== fingerprint) {
      throw new StripeApiError(
        400,
        "idempotency_error",
        `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    if (saved) return new Response(saved.body, { status: saved.status, headers: { "content-type": "application/json", "idempotent-replayed": "true" } });
    if (running.has(key)) {
      throw new StripeApiError(
        409,
        "idempotency_error",
        "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please try again later.",
        "idempotency_key_in_use",
      );
    }
    running.add(key);
    try {
      await next();
    } finally {
      running.delete(key);
    }
    if (c.res.status < 400 || c.res.status >= 500) {
      state.idempotency[key] = { fingerprint, savedAt: Date.now(), status: c.res.status, body: await c.res.clone().text() };
    }
  };
}
