import { env, SELF } from "cloudflare:test";
import { connectDatabase } from "../../db/connect";
import { users } from "../../db/schema";
import { hashPassword } from "../../edge/lib/password";

export const BASE = "http://edgestock.test";

let ipCounter = 0;
/** A distinct client IP per caller, so per-IP rate limits of one test do not leak into another. */
export function freshIp(): string {
  ipCounter += 1;
  return `198.51.${Math.floor(Math.random() * 250)}.${ipCounter % 250}`;
}

export function api(path: string, init: RequestInit & { json?: unknown; token?: string; apiKey?: string; ip?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    init.body = JSON.stringify(init.json);
  }
  if (init.token) headers.set("authorization", `Bearer ${init.token}`);
  if (init.apiKey) headers.set("x-api-key", init.apiKey);
  headers.set("cf-connecting-ip", init.ip ?? freshIp());
  return SELF.fetch(BASE + path, { ...init, headers });
}

/** The test's own connection to the same database the Worker uses. */
export function testDb() {
  return connectDatabase(env.DATABASE_URL, { localProxy: env.DB_LOCAL_PROXY || undefined });
}

export const uniqueEmail = (tag = "user") => `${tag}-${crypto.randomUUID()}@example.test`;

type Tokens = { accessToken: string; refreshToken: string };

/** Registers a buyer or contributor through the API; admins are inserted directly (no self-service). */
export async function signUp(role: "buyer" | "contributor" | "admin" = "buyer") {
  const email = uniqueEmail(role);
  const password = "correct horse battery";
  if (role === "admin") {
    const { db, pool } = testDb();
    await db.insert(users).values({ email, passwordHash: await hashPassword(password), role, displayName: "Admin" });
    await pool.end();
    const res = await api("/v1/auth/login", { method: "POST", json: { email, password } });
    const body = (await res.json()) as { user: { id: string }; tokens: Tokens };
    return { email, password, userId: body.user.id, ...body.tokens };
  }
  const res = await api("/v1/auth/register", { method: "POST", json: { email, password, displayName: `Test ${role}`, role } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { user: { id: string }; tokens: Tokens };
  return { email, password, userId: body.user.id, ...body.tokens };
}
