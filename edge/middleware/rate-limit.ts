import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/problem";

export type RateLimitRule = {
  /** Short name used in the counter key and the problem detail. */
  name: string;
  limit: number;
  windowSeconds: number;
  /** What is limited: an IP, an email, a user or key id. Returning null skips the rule. */
  key: (c: Context<AppEnv>) => string | null | Promise<string | null>;
};

/**
 * The client's address for per-IP limits. Behind Cloudflare (production) CF-Connecting-IP is set
 * by Cloudflare on every request and a client's own value is overwritten, so it is trusted there;
 * anywhere else (npm start, a server without Cloudflare in front) a client could send any value
 * and pick a fresh limit per request, so it is ignored unless TRUST_CF_CONNECTING_IP says otherwise.
 */
export function clientIp(c: Context<AppEnv>): string {
  if (!c.var.config.trustCfConnectingIp) return "local";
  return c.req.header("cf-connecting-ip") ?? "local";
}

/** Who is signing in, as the session records it: user agent, address and the request id (API and web sign-in). */
export function signInClient(c: Context<AppEnv>) {
  return { userAgent: c.req.header("user-agent"), ip: clientIp(c), requestId: c.var.requestId };
}

/**
 * Sliding-window limit (the two-window estimate Upstash's and Cloudflare's limiters use):
 * `previous window count x the share of it still inside the window + current count`. Refused
 * attempts still count, so a brute-force client cannot probe at the limit forever.
 */
export async function checkRateLimit(c: Context<AppEnv>, rule: RateLimitRule, now = Date.now()): Promise<void> {
  const subject = await rule.key(c);
  if (subject === null) return;
  const windowMs = rule.windowSeconds * 1000;
  const index = Math.floor(now / windowMs);
  const prefix = `rl:${rule.name}:${subject}:`;
  const { value, other } = await c.var.store.incrementAndGet(prefix + index, windowMs * 2, prefix + (index - 1));
  const elapsed = (now % windowMs) / windowMs;
  const estimate = other * (1 - elapsed) + value;
  if (estimate > rule.limit) {
    const retryAfter = Math.max(1, Math.ceil(((1 - elapsed) * windowMs) / 1000));
    throw new ApiError(
      "rate-limited",
      `limit ${rule.limit} per ${rule.windowSeconds}s (${rule.name}) reached; retry after ${retryAfter}s`,
      { retryAfter },
      { "retry-after": String(retryAfter) },
    );
  }
}

/** Middleware form of {@link checkRateLimit}; rules are checked in order. */
export function rateLimit(...rules: RateLimitRule[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    for (const rule of rules) await checkRateLimit(c, rule);
    await next();
  };
}

/** Brute-force guard on password checks: per target email, whoever is asking (API and web sign-in). */
export const LOGIN_PER_EMAIL = { name: "login-email", limit: 10, windowSeconds: 15 * 60 } as const;

/** Limits shared by the auth routes (and the web app's sign-in forms). */
export const AUTH_LIMITS = {
  perIp: { name: "auth-ip", limit: 30, windowSeconds: 60, key: (c) => clientIp(c) } satisfies RateLimitRule,
  perUser: { name: "auth-user", limit: 60, windowSeconds: 60, key: (c) => c.var.principal?.userId ?? null } satisfies RateLimitRule,
} as const;

/** Search (the API and the search page): anonymous and signed-in callers are limited per IP; API-key clients per key (servers share IPs). */
export const SEARCH_LIMITS = {
  perIp: {
    name: "search-ip",
    limit: 120,
    windowSeconds: 60,
    key: (c) => (c.var.principal?.kind === "api_key" ? null : clientIp(c)),
  } satisfies RateLimitRule,
  perApiKey: {
    name: "search-key",
    limit: 600,
    windowSeconds: 60,
    key: (c) => (c.var.principal?.kind === "api_key" ? c.var.principal.apiKeyId : null),
  } satisfies RateLimitRule,
} as const;
