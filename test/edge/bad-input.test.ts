import { eq, sql } from "drizzle-orm";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROBLEM_BASE_URI, PROBLEMS, type ProblemType } from "../../common/problems";
import { apiKeys, users } from "../../db/schema";
import { app } from "../../edge/app";
import { base64url } from "../../edge/lib/crypto";
import { collectOperations, type Operation } from "../../edge/lib/openapi";
import { encodeCursor } from "../../edge/lib/pagination";
import { type ApiInit, api, isolatedWorker, signUp, testDb } from "./support";

/**
 * Table-driven hostile input: every operation that takes input (JSON body, query, path params)
 * gets malformed, oversized, mistyped and adversarial requests. Each must be refused with a
 * well-formed problem document and leave every table's row count as it was. Requests go to the
 * Worker bound to the isolated database, so no other test file changes the counts meanwhile.
 */

const target = isolatedWorker();
const MAX_JSON_BODY_BYTES = Number(target.env.MAX_JSON_BODY_BYTES);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STACK_TRACE = /\n\s+at |\bat [\w$.<>]+ \(|\.(?:ts|js|mjs):\d+:\d+/;

type Sample = { json?: Record<string, unknown>; query?: Record<string, string>; param?: Record<string, string> };
type InputTarget = keyof Sample;

/** A request each operation accepts; every bad request below breaks one thing in it. */
const VALID_INPUT: Record<string, Sample> = {
  "POST /v1/auth/register": { json: { email: "sample@example.test", password: "a long enough password", displayName: "Sample", role: "buyer" } },
  "POST /v1/auth/login": { json: { email: "sample@example.test", password: "a long enough password" } },
  "POST /v1/auth/refresh": { json: { refreshToken: `esr_${"A".repeat(43)}` } },
  "POST /v1/auth/logout": { json: { refreshToken: `esr_${"A".repeat(43)}` } },
  "POST /v1/api-keys": { json: { name: "sample", scopes: ["account:read"], expiresAt: "2099-01-01T00:00:00Z" } },
  "GET /v1/api-keys": { query: { limit: "10", cursor: encodeCursor({ createdAt: new Date("2030-01-01T00:00:00Z"), id: crypto.randomUUID() }) } },
  "DELETE /v1/api-keys/:id": { param: { id: crypto.randomUUID() } },
  "POST /v1/uploads": { json: { title: "Sample", contentType: "image/jpeg", bytes: 1000, keywords: ["sea"], editorial: false } },
  "POST /v1/uploads/:id/parts": { param: { id: crypto.randomUUID() }, json: { partNumbers: [1] } },
  "POST /v1/uploads/:id/complete": { param: { id: crypto.randomUUID() }, json: { parts: [{ partNumber: 1, etag: "abc" }] } },
  "DELETE /v1/uploads/:id": { param: { id: crypto.randomUUID() } },
  "GET /v1/images/:id": { param: { id: crypto.randomUUID() } },
  "GET /v1/images/:id/similar": { param: { id: crypto.randomUUID() }, query: { perPage: "12", safe: "true" } },
  "GET /v1/images/:id/status": { param: { id: crypto.randomUUID() } },
  "PATCH /v1/images/:id": { param: { id: crypto.randomUUID() }, json: { title: "New title", description: "New description" } },
  "DELETE /v1/images/:id": { param: { id: crypto.randomUUID() } },
  "GET /v1/derivatives/images/:id/:file": { param: { id: crypto.randomUUID(), file: "thumb-450.webp" } },
  "GET /v1/search": {
    query: {
      q: '"sea view" -boat',
      mode: "keyword",
      category: "nature",
      orientation: "landscape",
      colour: "#1e5aa8",
      contributor: crypto.randomUUID(),
      license: "standard",
      minWidth: "100",
      minHeight: "100",
      from: "2020-01-01",
      to: "2030-01-01T00:00:00Z",
      safe: "true",
      sort: "relevance",
      perPage: "24",
      page: "1",
    },
  },
  "GET /v1/search/suggest": { query: { q: "sea", limit: "8" } },
  "GET /v1/admin/search-queries": { query: { q: "sea", blocked: "false", limit: "10" } },
  "POST /v1/admin/search-queries/block": { json: { query: "sea view" } },
  "POST /v1/admin/search-queries/unblock": { json: { query: "sea view" } },
  "POST /v1/search/by-image": { query: { perPage: "12", safe: "true" } },
  "POST /v1/cart": { json: { imageId: crypto.randomUUID(), licenseType: "standard" } },
  "POST /v1/checkout": { json: {} },
  "POST /v1/checkout/subscription": { json: { planId: "basic-25" } },
  "GET /v1/orders": { query: { limit: "10", cursor: encodeCursor({ createdAt: new Date("2030-01-01T00:00:00Z"), id: crypto.randomUUID() }) } },
  "GET /v1/orders/:id": { param: { id: crypto.randomUUID() } },
  "GET /v1/images/:id/download": { param: { id: crypto.randomUUID() }, query: { license: "standard" } },
  "POST /v1/admin/payouts/run": { json: { period: "2030-01" } },
  "GET /v1/admin/payouts": { query: { period: "2030-01" } },
  "PUT /v1/contributor/payout-settings": { json: {} },
  "DELETE /v1/cart/items/:imageId/:licenseType": { param: { imageId: crypto.randomUUID(), licenseType: "enhanced" } },
  "POST /v1/collections": { json: { name: "Moodboard", description: "Harbours at dusk" } },
  "GET /v1/shared/collections/:token": { param: { token: "A".repeat(43) } },
  "GET /v1/collections/:id": { param: { id: crypto.randomUUID() } },
  "PATCH /v1/collections/:id": { param: { id: crypto.randomUUID() }, json: { name: "Renamed" } },
  "DELETE /v1/collections/:id": { param: { id: crypto.randomUUID() } },
  "PUT /v1/collections/:id/items/:imageId": { param: { id: crypto.randomUUID(), imageId: crypto.randomUUID() }, json: { note: "cover" } },
  "DELETE /v1/collections/:id/items/:imageId": { param: { id: crypto.randomUUID(), imageId: crypto.randomUUID() } },
  "PUT /v1/collections/:id/order": { param: { id: crypto.randomUUID() }, json: { imageIds: [crypto.randomUUID()] } },
  "POST /v1/collections/:id/share": { param: { id: crypto.randomUUID() } },
  "DELETE /v1/collections/:id/share": { param: { id: crypto.randomUUID() } },
  "POST /v1/collections/:id/license-all": { param: { id: crypto.randomUUID() }, json: { licenseType: "standard" } },
  "GET /v1/licenses": {
    query: { limit: "10", cursor: encodeCursor({ createdAt: new Date("2030-01-01T00:00:00Z"), id: crypto.randomUUID() }), imageId: crypto.randomUUID(), status: "active" },
  },
  "GET /v1/licenses/:id": { param: { id: crypto.randomUUID() } },
  "GET /v1/licenses/:id/certificate": { param: { id: crypto.randomUUID() } },
  "GET /v1/contributor/portfolio": { query: { limit: "10", cursor: encodeCursor({ createdAt: new Date("2030-01-01T00:00:00Z"), id: crypto.randomUUID() }), status: "approved" } },
  "GET /v1/contributor/earnings": { query: { from: "2026-01", to: "2026-03" } },
  "GET /v1/contributor/payouts": { query: { limit: "10", cursor: encodeCursor({ createdAt: new Date("2030-01-01T00:00:00Z"), id: crypto.randomUUID() }) } },
  "GET /v1/admin/moderation/queue": { query: { limit: "10", cursor: encodeCursor({ createdAt: new Date("2000-01-01T00:00:00Z"), id: crypto.randomUUID() }) } },
  "POST /v1/admin/moderation/:id/approve": { param: { id: crypto.randomUUID() }, json: { note: "Looks fine" } },
  "POST /v1/admin/moderation/:id/reject": { param: { id: crypto.randomUUID() }, json: { reason: "Out of focus" } },
  "POST /v1/admin/images/:id/takedown": { param: { id: crypto.randomUUID() }, json: { reason: "Copyright claim" } },
  "POST /v1/admin/renditions/reconcile": { json: { cursor: "ffffffff-ffff-4fff-bfff-ffffffffffff", limit: 10 } },
  "POST /v1/admin/reprocess": { json: { steps: ["colours"], imageIds: ["ffffffff-ffff-4fff-bfff-ffffffffffff"] } },
  // The audit log's cursor is an id: base64url of {"id":1000}.
  "GET /v1/admin/audit-log": { query: { limit: "10", cursor: "eyJpZCI6MTAwMH0", action: "moderation.approve", actorId: crypto.randomUUID(), targetId: crypto.randomUUID() } },
  "GET /v1/admin/prices": { query: { limit: "10", cursor: encodeCursor({ createdAt: new Date("2030-01-01T00:00:00Z"), id: crypto.randomUUID() }), imageId: crypto.randomUUID() } },
  "PUT /v1/admin/prices": { json: { licenseType: "standard", amountCents: 2900, currency: "usd", imageId: crypto.randomUUID() } },
};

/** Bad requests that only make sense for one operation. */
const ROUTE_SPECIFIC: Record<string, Array<{ name: string; target: InputTarget; patch: Record<string, unknown>; errorPath: string }>> = {
  "POST /v1/auth/register": [{ name: "self-registration as admin", target: "json", patch: { role: "admin" }, errorPath: "role" }],
  "POST /v1/api-keys": [
    { name: "expiry in the past", target: "json", patch: { expiresAt: "2001-01-01T00:00:00Z" }, errorPath: "expiresAt" },
    { name: "expiry that is not a timestamp", target: "json", patch: { expiresAt: "next tuesday" }, errorPath: "expiresAt" },
    { name: "expiry in the year 9999", target: "json", patch: { expiresAt: "9999-12-31T23:59:59Z" }, errorPath: "expiresAt" },
    { name: "unknown scope", target: "json", patch: { scopes: ["admin:everything"] }, errorPath: "scopes.0" },
    { name: "more scopes than exist", target: "json", patch: { scopes: Array(6).fill("account:read") }, errorPath: "scopes" },
  ],
  // Every date input has a range: the last day of year 9999 plus a day is a year Postgres cannot hold (was a 500).
  "GET /v1/search": [
    { name: "to: 9999-12-31", target: "query", patch: { to: "9999-12-31" }, errorPath: "to" },
    { name: "from: 0001-01-01", target: "query", patch: { from: "0001-01-01" }, errorPath: "from" },
    { name: "to: a timestamp in year 9999", target: "query", patch: { to: "9999-12-31T23:59:59Z" }, errorPath: "to" },
  ],
  "POST /v1/uploads": [
    { name: "a file over 200 MB", target: "json", patch: { bytes: 200 * 1024 * 1024 + 1 }, errorPath: "bytes" },
    { name: "an empty file", target: "json", patch: { bytes: 0 }, errorPath: "bytes" },
    { name: "three categories", target: "json", patch: { categories: ["a", "b", "c"] }, errorPath: "categories" },
  ],
  "GET /v1/api-keys": [
    { name: "cursor this API did not issue", target: "query", patch: { cursor: "bm90LWEtY3Vyc29y" }, errorPath: "cursor" },
    {
      name: "cursor with SQL for an id",
      target: "query",
      patch: { cursor: base64url(new TextEncoder().encode(JSON.stringify({ t: "2030-01-01T00:00:00Z", id: "' OR 1=1 --" }))) },
      errorPath: "cursor",
    },
  ],
};

type Expected = { status: number; type: ProblemType; errorPath?: string };
type BadRequest = { name: string; expected: Expected; send: (auth: Record<string, string>) => Promise<Response> };

const operationKey = (op: Pick<Operation, "method" | "path">) => `${op.method} ${op.path}`;
const operations = collectOperations(app.routes).filter((op) => op.inputs.length > 0);

/** Valid text the schema may accept or refuse (refused: 422; accepted: a legitimate request, tested below). */
const MAYBE_VALID_TEXT: Record<string, string> = {
  "SQL ' OR 1=1 --": "' OR 1=1 --",
  'SQL "; drop table users; --': '"; drop table users; --',
  "right-to-left override": "\u202Egnp.exe",
  "combining marks": "Zoe\u0308 Ame\u0301lie",
  emoji: "📷🦄👩🏽‍💻",
};
/** Text no string field may accept: inserted into the valid value, written into the JSON text as is. */
const NEVER_VALID_TEXT: Record<string, string> = {
  "lone high surrogate": "\\ud800",
  "lone low surrogate": "\\udc00",
  NUL: "\\u0000",
  "control character (BEL)": "\\u0007",
  "control character (ESC)": "\\u001b",
  "control character (DEL)": "\\u007f",
};
const WRONG_TYPES_FOR_STRING: unknown[] = [12345, true, null, [], ["x"], { a: 1 }];
const WRONG_TYPES_FOR_ARRAY: unknown[] = ["account:read", 12345, null, { a: 1 }, []];
const WRONG_ITEMS_FOR_ARRAY: unknown[] = [12345, null, ["x"], { a: 1 }, "a".repeat(10_000)];
/** Query and path values, already URL-encoded. */
const BAD_URL_VALUES: Record<string, string> = {
  "10,000 characters": "a".repeat(10_000),
  NUL: "%00",
  "control character": "%07",
  "invalid UTF-8 (an encoded lone surrogate)": "%ED%A0%80",
  "SQL ' OR 1=1 --": encodeURIComponent("' OR 1=1 --"),
  'SQL "; drop table users; --': encodeURIComponent('"; drop table users; --'),
  "path traversal": "..%2F..%2Fetc%2Fpasswd",
  "negative number": "-1",
  zero: "0",
  "exponent notation": "1e3",
  fraction: "10.5",
  "padded number": "%2010",
  "not a UUID": "not-a-uuid",
  "UUID with a trailing statement": `${crypto.randomUUID()}%27%3B%20drop%20table%20users%3B--`,
};

function decodeLikeTheRouter(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function schemaOf(op: Operation, inputTarget: InputTarget) {
  const input = op.inputs.find((i) => i.target === inputTarget);
  if (!input) throw new Error(`${operationKey(op)} has no ${inputTarget} input`);
  return input.schema;
}

/** True when the schema the route validates with accepts this value: then it is not a bad request. */
function accepts(op: Operation, inputTarget: InputTarget, value: unknown): boolean {
  return v.safeParse(schemaOf(op, inputTarget), value).success;
}

function urlFor(op: Operation, param: Record<string, string>, query: Record<string, string> | string | undefined): string {
  const path = op.path.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => param[name] ?? "");
  if (query === undefined) return path;
  const search =
    typeof query === "string"
      ? query
      : Object.entries(query)
          .map(([k, value]) => `${k}=${value}`)
          .join("&");
  return `${path}?${search}`;
}

function encodeAll(values: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(values ?? {}).map(([k, value]) => [k, encodeURIComponent(value)]));
}

/** Every bad request for one operation, with the problem it must get. */
function badRequestsFor(op: Operation, sample: Sample, isProtected: boolean, idempotent: boolean): BadRequest[] {
  const requests: BadRequest[] = [];
  const param = encodeAll(sample.param);
  const query = sample.query ? encodeAll(sample.query) : undefined;
  const jsonRoute = sample.json !== undefined;

  const send =
    (options: {
      body?: BodyInit;
      contentType?: string | null;
      param?: Record<string, string>;
      query?: Record<string, string> | string;
      headers?: Record<string, string>;
      auth?: boolean;
    }) =>
    (auth: Record<string, string>) => {
      const headers: Record<string, string> = { ...(options.auth === false ? {} : auth), ...options.headers };
      const contentType = options.contentType === undefined && jsonRoute ? "application/json" : options.contentType;
      if (contentType) headers["content-type"] = contentType;
      const init: ApiInit = { method: op.method, headers, target };
      if (jsonRoute) init.body = options.body ?? JSON.stringify(sample.json);
      return api(urlFor(op, options.param ?? param, options.query ?? query), init);
    };
  const add = (name: string, expected: Expected, request: Parameters<typeof send>[0]) => requests.push({ name, expected, send: send(request) });
  const invalid = (errorPath?: string): Expected => ({ status: 422, type: "validation-failed", ...(errorPath !== undefined ? { errorPath } : {}) });

  // Credentials.
  if (isProtected) add("no credentials on a protected route", { status: 401, type: "unauthenticated" }, { auth: false });
  add("a forged bearer token", { status: 401, type: "invalid-token" }, { auth: false, headers: { authorization: "Bearer eyJhbGciOiJub25lIn0.e30." } });
  add("a malformed Authorization header", { status: 401, type: "invalid-token" }, { auth: false, headers: { authorization: "Basic dXNlcjpwYXNz" } });
  add("a malformed API key", { status: 401, type: "invalid-token" }, { auth: false, headers: { "x-api-key": "esk_' OR 1=1 --" } });

  if (sample.json) {
    const json = sample.json;
    const withField = (field: string, value: unknown) => JSON.stringify({ ...json, [field]: value });
    /** The sample with `raw` spliced into a field's JSON string, so escapes reach the parser as written. */
    const withRawText = (field: string, raw: string) => {
      const marker = `__${crypto.randomUUID()}__`;
      const original = String(json[field]);
      const middle = Math.floor(original.length / 2);
      return withField(field, original.slice(0, middle) + marker + original.slice(middle)).replace(marker, raw);
    };

    add("malformed JSON", { status: 400, type: "invalid-json" }, { body: '{"a":' });
    add("truncated JSON", { status: 400, type: "invalid-json" }, { body: JSON.stringify(json).slice(0, -1) });
    add("an empty JSON body", { status: 400, type: "invalid-json" }, { body: "" });
    add("JSON sent as text/plain", { status: 415, type: "unsupported-media-type" }, { contentType: "text/plain" });
    add("JSON sent as a form", { status: 415, type: "unsupported-media-type" }, { contentType: "application/x-www-form-urlencoded" });
    add("a body without a content type", { status: 415, type: "unsupported-media-type" }, { contentType: null, body: new TextEncoder().encode(JSON.stringify(json)) });
    const paddedTo = (bytes: number) => {
      const overhead = new TextEncoder().encode(JSON.stringify({ ...json, padding: "" })).length;
      return JSON.stringify({ ...json, padding: "x".repeat(bytes - overhead) });
    };
    add(`a body of ${MAX_JSON_BODY_BYTES + 1} bytes`, { status: 413, type: "payload-too-large" }, { body: paddedTo(MAX_JSON_BODY_BYTES + 1) });
    // At the limit the size is fine: the body is refused for its unknown field, not with a 413.
    add(`a body of exactly ${MAX_JSON_BODY_BYTES} bytes`, invalid("padding"), { body: paddedTo(MAX_JSON_BODY_BYTES) });
    for (const [name, body] of Object.entries({ "a JSON array": "[]", "JSON null": "null", "a JSON string": '"text"', "a JSON number": "42" })) {
      add(`${name} instead of an object`, invalid(), { body });
    }
    add("an unknown extra field", invalid("unexpected"), { body: JSON.stringify({ ...json, unexpected: "x" }) });
    add("a __proto__ field", invalid("__proto__"), { body: `{"__proto__":{"role":"admin"}${Object.keys(json).length > 0 ? "," : ""}${JSON.stringify(json).slice(1)}` });
    if (idempotent) {
      add("a bad body with an Idempotency-Key", invalid("unexpected"), {
        body: JSON.stringify({ ...json, unexpected: "x" }),
        headers: { "idempotency-key": crypto.randomUUID() },
      });
      add("an Idempotency-Key with spaces", invalid("Idempotency-Key"), { headers: { "idempotency-key": "not a valid key" } });
      add("an Idempotency-Key over 255 characters", invalid("Idempotency-Key"), { headers: { "idempotency-key": "k".repeat(256) } });
    }

    for (const [field, value] of Object.entries(json)) {
      const { [field]: _omitted, ...without } = json;
      if (!accepts(op, "json", without)) add(`${field}: missing`, invalid(field), { body: JSON.stringify(without) });
      if (typeof value === "string") {
        for (const wrong of WRONG_TYPES_FOR_STRING) add(`${field}: ${JSON.stringify(wrong)} instead of a string`, invalid(field), { body: withField(field, wrong) });
        add(`${field}: 10,000 characters`, invalid(field), { body: withField(field, "a".repeat(10_000)) });
        add(`${field}: arrays nested 20,000 deep`, invalid(field), { body: withField(field, "@@").replace('"@@"', "[".repeat(20_000) + "]".repeat(20_000)) });
        for (const [name, raw] of Object.entries(NEVER_VALID_TEXT)) add(`${field}: ${name}`, invalid(field), { body: withRawText(field, raw) });
        for (const [name, text] of Object.entries(MAYBE_VALID_TEXT)) {
          if (!accepts(op, "json", { ...json, [field]: text })) add(`${field}: ${name}`, invalid(field), { body: withField(field, text) });
        }
      } else if (Array.isArray(value)) {
        for (const wrong of WRONG_TYPES_FOR_ARRAY) add(`${field}: ${JSON.stringify(wrong)} instead of a valid list`, invalid(field), { body: withField(field, wrong) });
        for (const wrong of WRONG_ITEMS_FOR_ARRAY) {
          add(`${field}: an item ${JSON.stringify(wrong).slice(0, 20)}`, invalid(`${field}.0`), { body: withField(field, [wrong]) });
        }
        for (const [name, raw] of Object.entries(NEVER_VALID_TEXT)) {
          add(`${field}: an item with a ${name}`, invalid(`${field}.0`), { body: JSON.stringify({ ...json, [field]: ["@@"] }).replace("@@", raw) });
        }
      }
    }
  }

  for (const [inputTarget, values] of [
    ["query", sample.query],
    ["param", sample.param],
  ] as const) {
    if (!values) continue;
    for (const field of Object.keys(values)) {
      for (const [name, raw] of Object.entries(BAD_URL_VALUES)) {
        if (accepts(op, inputTarget, { ...values, [field]: decodeLikeTheRouter(raw) })) continue;
        const patched = { ...(inputTarget === "query" ? query : param), [field]: raw };
        add(`${inputTarget} ${field}: ${name}`, invalid(field), inputTarget === "query" ? { query: patched } : { param: patched });
      }
      if (inputTarget === "query" && query) {
        const search = Object.entries(query)
          .map(([k, value]) => `${k}=${value}`)
          .join("&");
        add(`query ${field}: given twice`, invalid(field), { query: `${search}&${field}=${query[field]}` });
      }
    }
    if (inputTarget === "query" && query) add("an unknown query parameter", invalid("unexpected"), { query: { ...query, unexpected: "1" } });
  }

  for (const extra of ROUTE_SPECIFIC[operationKey(op)] ?? []) {
    const patched = { ...sample[extra.target], ...extra.patch };
    if (extra.target === "json") add(extra.name, invalid(extra.errorPath), { body: JSON.stringify(patched) });
    if (extra.target === "query") add(extra.name, invalid(extra.errorPath), { query: encodeAll(patched as Record<string, string>) });
    if (extra.target === "param") add(extra.name, invalid(extra.errorPath), { param: encodeAll(patched as Record<string, string>) });
  }
  return requests;
}

async function expectProblem(res: Response, expected: Expected, context: string) {
  const text = await res.text();
  const where = `${context} -> ${res.status} ${text.slice(0, 400)}`;
  expect(res.status, where).toBe(expected.status);
  expect(res.headers.get("content-type"), where).toBe("application/problem+json");
  const body = JSON.parse(text) as { type: string; status: number; requestId: string; errors?: Array<{ path: string }> };
  expect(body.type, where).toBe(PROBLEM_BASE_URI + expected.type);
  expect(PROBLEMS[body.type.slice(PROBLEM_BASE_URI.length) as ProblemType]?.status, where).toBe(res.status);
  expect(body.status, where).toBe(res.status);
  expect(body.requestId, where).toMatch(UUID);
  expect(body.requestId, where).toBe(res.headers.get("x-request-id"));
  expect(text, where).not.toMatch(STACK_TRACE);
  if (expected.errorPath !== undefined)
    expect(
      body.errors?.map((e) => e.path),
      where,
    ).toContain(expected.errorPath);
}

const { db, pool } = testDb(target);
afterAll(() => pool.end());

let tables: string[] = [];
beforeAll(async () => {
  const result = await db.execute<{ tablename: string }>(sql`select tablename from pg_tables where schemaname = 'public' order by tablename`);
  tables = result.rows.map((r) => r.tablename);
});

/** Row count of every table in the public schema. */
async function rowCounts(): Promise<Record<string, number>> {
  const query = tables.map((t) => `select '${t}' as name, count(*)::int as n from public."${t.replaceAll('"', '""')}"`).join(" union all ");
  const { rows } = await pool.query<{ name: string; n: number }>(query);
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

describe("bad input", () => {
  it("covers the operations that take input, each with a valid sample its schemas accept", () => {
    const keys = operations.map(operationKey);
    expect(keys).toEqual(expect.arrayContaining(["POST /v1/auth/register", "POST /v1/api-keys", "GET /v1/api-keys", "DELETE /v1/api-keys/:id"]));
    const withoutSample = keys.filter((key) => !VALID_INPUT[key]);
    expect(withoutSample, "add a valid request for these operations to VALID_INPUT").toEqual([]);
    for (const op of operations) {
      const sample = VALID_INPUT[operationKey(op)] ?? {};
      for (const { target: inputTarget } of op.inputs) {
        const key = inputTarget as InputTarget;
        expect(sample[key], `${operationKey(op)} sample has ${key}`).toBeDefined();
        expect(accepts(op, key, sample[key]), `${operationKey(op)} sample ${key} is valid`).toBe(true);
      }
    }
  });

  it("snapshots every public table", () => {
    expect(tables).toEqual(expect.arrayContaining(["users", "api_keys", "refresh_tokens", "audit_log", "idempotency_keys"]));
    expect(tables.length).toBeGreaterThanOrEqual(10);
  });

  for (const op of operations) {
    describe(operationKey(op), () => {
      const routeSpec = op.spec;
      const isProtected = routeSpec !== undefined && routeSpec.access !== "public";
      const sample = VALID_INPUT[operationKey(op)] ?? {};
      const auth: Record<string, string> = {};

      beforeAll(async () => {
        // Sign in before any snapshot: sign-up writes users, refresh_tokens and audit_log rows.
        if (routeSpec && routeSpec.access !== "public") {
          const role = routeSpec.access[0];
          if (!role) throw new Error(`${operationKey(op)} allows no role`);
          const user = await signUp(role, target);
          auth.authorization = `Bearer ${user.accessToken}`;
        }
      });

      for (const bad of badRequestsFor(op, sample, isProtected, routeSpec?.idempotent === true)) {
        it(`refuses ${bad.name} with a ${bad.expected.status} problem and changes no row`, async () => {
          const before = await rowCounts();
          await expectProblem(await bad.send(auth), bad.expected, `${operationKey(op)}: ${bad.name}`);
          expect(await rowCounts()).toEqual(before);
        });
      }
    });
  }
});

describe("hostile-looking input that is valid", () => {
  it("stores SQL metacharacters in a display name verbatim (queries are parameterised)", async () => {
    const displayName = "Robert'); DROP TABLE users;--";
    const before = await rowCounts();
    const res = await api("/v1/auth/register", {
      method: "POST",
      json: { email: `bobby-${crypto.randomUUID()}@example.test`, password: "a long enough password", displayName },
      target,
    });
    expect(res.status).toBe(201);
    const { user, tokens } = (await res.json()) as { user: { id: string; displayName: string }; tokens: { accessToken: string } };
    expect(user.displayName).toBe(displayName);
    const [row] = await db.select({ displayName: users.displayName }).from(users).where(eq(users.id, user.id));
    expect(row?.displayName).toBe(displayName);
    expect((await rowCounts()).users).toBe((before.users ?? 0) + 1);

    const me = await api("/v1/auth/me", { token: tokens.accessToken, target });
    expect(((await me.json()) as { user: { displayName: string } }).user.displayName).toBe(displayName);
  });

  it("stores SQL metacharacters in an API key name verbatim", async () => {
    const owner = await signUp("buyer", target);
    for (const name of ['"; drop table users; --', "' OR 1=1 --"]) {
      const res = await api("/v1/api-keys", { method: "POST", token: owner.accessToken, json: { name, scopes: ["account:read"] }, target });
      expect(res.status).toBe(201);
      const { apiKey } = (await res.json()) as { apiKey: { id: string; name: string } };
      expect(apiKey.name).toBe(name);
      const [row] = await db.select({ name: apiKeys.name }).from(apiKeys).where(eq(apiKeys.id, apiKey.id));
      expect(row?.name).toBe(name);
    }
  });

  it("does not let a SQL-shaped password sign in", async () => {
    const user = await signUp("buyer", target);
    for (const password of ["' OR '1'='1' --", "x' OR 1=1; --"]) {
      const res = await api("/v1/auth/login", { method: "POST", json: { email: user.email, password }, target });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM_BASE_URI}invalid-credentials`);
    }
  });

  it("accepts emoji, combining marks and bidi controls in free text, stored NFC-normalised", async () => {
    const owner = await signUp("buyer", target);
    const cases = [
      { sent: "Zoe\u0308 📷", stored: "Zoë 📷" },
      { sent: "\u202Egnp.exe", stored: "\u202Egnp.exe" },
      { sent: "👩🏽‍💻 team", stored: "👩🏽‍💻 team" },
    ];
    for (const { sent, stored } of cases) {
      const res = await api("/v1/api-keys", { method: "POST", token: owner.accessToken, json: { name: sent, scopes: ["account:read"] }, target });
      expect(res.status).toBe(201);
      const { apiKey } = (await res.json()) as { apiKey: { id: string; name: string } };
      expect(apiKey.name).toBe(stored);
      const [row] = await db.select({ name: apiKeys.name }).from(apiKeys).where(eq(apiKeys.id, apiKey.id));
      expect(row?.name).toBe(stored);
    }
  });
});
