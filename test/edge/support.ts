import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import { PROBLEM_BASE_URI } from "../../common/problems";
import { connectDatabase, type Database } from "../../db/connect";
import { registerModel, type SearchModel, storeEmbeddings } from "../../db/embedding-models";
import { users } from "../../db/schema";
import { hashPassword } from "../../edge/lib/password";
import type { Problem } from "../../edge/lib/problem";
import worker from "../../edge/local";
import type { SignedIn } from "../../edge/services/accounts/sessions";

export const BASE = "http://edgestock.test";

/** The Worker under test and the bindings it runs with (its database in particular). */
export type WorkerTarget = { env: Env; fetch(request: Request): Promise<Response> };

/** The Worker as `npm start` runs it (SELF: edge/local.ts, the production app plus the stand-ins), on the database every test file shares. */
export const sharedWorker: WorkerTarget = { env, fetch: (request) => SELF.fetch(request) };

let isolated: WorkerTarget | undefined;
/**
 * The same Worker code bound to a database no other test file touches (made by global-setup),
 * for a test that compares whole-database state before and after its requests: files run in
 * parallel, so the shared database changes under such a test. One file uses it: bad-input.
 */
export function isolatedWorker(): WorkerTarget {
  const bindings = env as Env & { ISOLATED_DATABASE_URL: string; ISOLATED_DB_LOCAL_PROXY: string };
  isolated ??= workerWith({ DATABASE_URL: bindings.ISOLATED_DATABASE_URL, DB_LOCAL_PROXY: bindings.ISOLATED_DB_LOCAL_PROXY });
  return isolated;
}

/** The Worker with some bindings changed, run in this isolate (so a stubbed fetch reaches it). */
export function workerWith(overrides: Partial<Record<keyof Env, string>> & Record<string, string>): WorkerTarget {
  const bindings = { ...env, ...overrides } as Env;
  return {
    env: bindings,
    async fetch(request) {
      const ctx = createExecutionContext();
      const response = await worker.fetch(request, bindings, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    },
  };
}

let ipCounter = 0;
/** A distinct client IP per caller, so per-IP rate limits of one test do not leak into another. */
export function freshIp(): string {
  ipCounter += 1;
  return `198.51.${Math.floor(Math.random() * 250)}.${ipCounter % 250}`;
}

export type ApiInit = RequestInit & { json?: unknown; token?: string; apiKey?: string; ip?: string; target?: WorkerTarget };

/** Calls the Worker (SELF unless `target` says otherwise) from a fresh client IP; `json` sets the body and content type. */
export function api(path: string, init: ApiInit = {}) {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    init.body = JSON.stringify(init.json);
  }
  if (init.token) headers.set("authorization", `Bearer ${init.token}`);
  if (init.apiKey) headers.set("x-api-key", init.apiKey);
  headers.set("cf-connecting-ip", init.ip ?? freshIp());
  const { json: _json, token: _token, apiKey: _apiKey, ip: _ip, target = sharedWorker, ...request } = init;
  return target.fetch(new Request(BASE + path, { ...request, headers }));
}

/** The test's own connection to the database the Worker uses. */
export function testDb(target: WorkerTarget = sharedWorker) {
  return connectDatabase(target.env.DATABASE_URL, { localProxy: target.env.DB_LOCAL_PROXY || undefined });
}

export const uniqueEmail = (tag = "user") => `${tag}-${crypto.randomUUID()}@example.test`;

/** Registers a buyer or contributor through the API; admins are inserted directly (no self-service). */
export async function signUp(role: "buyer" | "contributor" | "admin" = "buyer", target: WorkerTarget = sharedWorker) {
  const email = uniqueEmail(role);
  const password = "correct horse battery";
  if (role === "admin") {
    const { db, pool } = testDb(target);
    await db.insert(users).values({ email, passwordHash: await hashPassword(password), role, displayName: "Admin" });
    await pool.end();
    const res = await api("/v1/auth/login", { method: "POST", json: { email, password }, target });
    if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as SignedIn;
    return { email, password, userId: body.user.id, ...body.tokens };
  }
  const res = await api("/v1/auth/register", { method: "POST", json: { email, password, displayName: `Test ${role}`, role }, target });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as SignedIn;
  return { email, password, userId: body.user.id, ...body.tokens };
}

export type ProblemBody = Problem & Record<string, unknown>;

/** Asserts an RFC 9457 problem response of this status and type, and returns its body. */
export async function expectProblem(res: Response, status: number, type: string): Promise<ProblemBody> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type"), text).toBe("application/problem+json");
  const body = JSON.parse(text) as ProblemBody;
  expect(body.type, text).toBe(PROBLEM_BASE_URI + type);
  // RFC 9457: the status member repeats the HTTP status; a route's own members never replace it.
  expect(body.status, text).toBe(status);
  return body;
}

/** A secret production may leave unset but the tests' bindings (test/edge/global-setup.ts) always set. */
export function testSecret(name: "R2_S3_ENDPOINT" | "LOCAL_QUEUES_TOKEN"): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not in the test bindings (test/edge/global-setup.ts)`);
  return value;
}

/**
 * The CLIP model of the edge tests' embeddings: the test files' fake embedding services answer as
 * it, and it is the catalogue's active model (the first registered; every file registers the same).
 */
export const TEST_MODEL = { model: "fake-clip", version: "1", dimensions: 512 } as const;

/** Registers {@link TEST_MODEL} (idempotent) and returns it as search reads it. */
export async function testSearchModel(db: Database): Promise<SearchModel> {
  const row = await registerModel(db, TEST_MODEL);
  return { id: row.id, model: row.model, version: row.version, dimensions: row.dimensions };
}

/** Stores `vector` as the image's embedding by {@link TEST_MODEL}. */
export async function storeTestEmbedding(db: Database, imageId: string, vector: readonly number[]): Promise<void> {
  await testSearchModel(db);
  await storeEmbeddings(db, imageId, [{ ...TEST_MODEL, vector }]);
}
