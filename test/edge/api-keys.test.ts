import { and, eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { apiKeys } from "../../db/schema";
import type { ApiKeyPage, ApiKeyView, NewApiKey } from "../../edge/services/accounts/api-keys";
import { api, signUp, testDb } from "./support";

type ApiKey = ApiKeyView;
type Created = NewApiKey;
type Page = ApiKeyPage;
type Problem = { type: string; status: number };

const PUBLIC_FIELDS = ["createdAt", "expiresAt", "id", "lastUsedAt", "name", "prefix", "revokedAt", "scopes"];

const { db, pool } = testDb();
afterAll(() => pool.end());

async function createKey(token: string, body: { name: string; scopes: string[] }, headers: Record<string, string> = {}) {
  return api("/v1/api-keys", { method: "POST", token, json: body, headers });
}

async function createdKey(token: string, name: string, scopes = ["account:read"]): Promise<Created> {
  const res = await createKey(token, { name, scopes });
  expect(res.status).toBe(201);
  return (await res.json()) as Created;
}

async function keyRows(userId: string) {
  return db.select().from(apiKeys).where(eq(apiKeys.userId, userId));
}

describe("API keys", () => {
  it("shows the secret once, at creation, and never in lists or the database", async () => {
    const user = await signUp();
    const res = await createKey(user.accessToken, { name: "ci", scopes: ["account:read", "search:read"] });
    expect(res.status).toBe(201);
    const { apiKey, secret } = (await res.json()) as Created;
    expect(secret).toMatch(/^esk_[A-Za-z0-9_-]{40,}$/);
    expect(apiKey.prefix).toBe(secret.slice(0, 12));
    expect(apiKey.scopes).toEqual(["account:read", "search:read"]);
    expect(res.headers.get("location")).toBe(`/v1/api-keys/${apiKey.id}`);

    const list = await api("/v1/api-keys", { token: user.accessToken });
    expect(list.status).toBe(200);
    const text = await list.text();
    expect(text).not.toContain(secret);
    const { items } = JSON.parse(text) as Page;
    expect(items.map((k) => k.id)).toEqual([apiKey.id]);
    for (const item of items) expect(Object.keys(item).sort()).toEqual(PUBLIC_FIELDS);

    const rows = await keyRows(user.userId);
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(secret);
  });

  it("lists keys newest first in pages that follow nextCursor without duplicates or gaps", async () => {
    const user = await signUp();
    const created: string[] = [];
    for (const name of ["first", "second", "third"]) created.push((await createdKey(user.accessToken, name)).apiKey.id);

    const first = await api("/v1/api-keys?limit=2", { token: user.accessToken });
    expect(first.status).toBe(200);
    const page1 = (await first.json()) as Page;
    expect(page1.items).toHaveLength(2);
    expect(page1.nextCursor).toEqual(expect.any(String));

    const second = await api(`/v1/api-keys?limit=2&cursor=${page1.nextCursor}`, { token: user.accessToken });
    expect(second.status).toBe(200);
    const page2 = (await second.json()) as Page;
    expect(page2.nextCursor).toBeNull();

    const all = [...page1.items, ...page2.items];
    expect(all.map((k) => k.name)).toEqual(["third", "second", "first"]);
    expect(all.map((k) => k.id)).toEqual([...created].reverse());
    expect(new Set(all.map((k) => k.id)).size).toBe(3);
    const times = all.map((k) => Date.parse(k.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it("pages through keys created within the same millisecond without skipping any", async () => {
    const user = await signUp();
    // Postgres keeps microseconds, the cursor carries milliseconds: rows that share the page's last
    // millisecond but sort after it must still come on the next page. Concurrent creations can
    // land like this; the rows are written directly to pin the timestamps.
    const stamps = ["2030-01-01 00:00:00.123900+00", "2030-01-01 00:00:00.123500+00", "2030-01-01 00:00:00.123100+00"];
    for (const [i, stamp] of stamps.entries()) {
      await db.insert(apiKeys).values({
        userId: user.userId,
        name: `same-ms-${i}`,
        prefix: `esk_samems${i}`,
        keyHash: `same-ms-${crypto.randomUUID()}`,
        scopes: ["account:read"],
        createdAt: sql`${stamp}::timestamptz`,
      });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 5; pages++) {
      const res = await api(`/v1/api-keys?limit=1${cursor ? `&cursor=${cursor}` : ""}`, { token: user.accessToken });
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page;
      seen.push(...page.items.map((k) => k.name));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toHaveLength(3);
    expect(new Set(seen)).toEqual(new Set(["same-ms-0", "same-ms-1", "same-ms-2"]));
  });

  it("authenticates X-Api-Key on /v1/auth/me when the key has account:read, and records its use", async () => {
    const user = await signUp();
    const { apiKey, secret } = await createdKey(user.accessToken, "reader", ["account:read"]);
    const me = await api("/v1/auth/me", { apiKey: secret });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { id: string; email: string } }).user).toMatchObject({ id: user.userId, email: user.email });

    const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, apiKey.id));
    expect(row?.lastUsedAt).toBeInstanceOf(Date);
  });

  it("refuses a key without account:read on /v1/auth/me with 403 insufficient-scope", async () => {
    const user = await signUp();
    const { secret } = await createdKey(user.accessToken, "search only", ["search:read"]);
    const me = await api("/v1/auth/me", { apiKey: secret });
    expect(me.status).toBe(403);
    expect(((await me.json()) as Problem).type).toBe("https://edgestock.dev/problems/insufficient-scope");
  });

  it("refuses unknown, malformed and expired keys with 401", async () => {
    const user = await signUp();
    const { apiKey, secret } = await createdKey(user.accessToken, "soon expired");
    await db
      .update(apiKeys)
      .set({ expiresAt: new Date(Date.now() - 60_000) })
      .where(eq(apiKeys.id, apiKey.id));
    for (const key of [secret, `esk_${"A".repeat(43)}`, "esk_short", "not-a-key"]) {
      const res = await api("/v1/auth/me", { apiKey: key });
      expect(res.status, key).toBe(401);
      expect(((await res.json()) as Problem).type).toBe("https://edgestock.dev/problems/invalid-token");
    }
  });

  it("revokes a key: it stops authenticating at once, and revoking again changes nothing", async () => {
    const user = await signUp();
    const { apiKey, secret } = await createdKey(user.accessToken, "to revoke");
    expect((await api("/v1/auth/me", { apiKey: secret })).status).toBe(200);

    const revoke = await api(`/v1/api-keys/${apiKey.id}`, { method: "DELETE", token: user.accessToken });
    expect(revoke.status).toBe(200);
    const revoked = ((await revoke.json()) as { apiKey: ApiKey }).apiKey;
    expect(revoked.revokedAt).toEqual(expect.any(String));

    const after = await api("/v1/auth/me", { apiKey: secret });
    expect(after.status).toBe(401);
    expect(((await after.json()) as Problem).type).toBe("https://edgestock.dev/problems/invalid-token");

    const again = await api(`/v1/api-keys/${apiKey.id}`, { method: "DELETE", token: user.accessToken });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { apiKey: ApiKey }).apiKey.revokedAt).toBe(revoked.revokedAt);
  });

  it("answers 404 to revoking someone else's key and leaves that key working", async () => {
    const owner = await signUp();
    const other = await signUp();
    const { apiKey, secret } = await createdKey(owner.accessToken, "not yours");
    const res = await api(`/v1/api-keys/${apiKey.id}`, { method: "DELETE", token: other.accessToken });
    expect(res.status).toBe(404);
    expect(((await res.json()) as Problem).type).toBe("https://edgestock.dev/problems/not-found");
    expect((await api("/v1/auth/me", { apiKey: secret })).status).toBe(200);
    const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, apiKey.id));
    expect(row?.revokedAt).toBeNull();
  });

  it("never lists another user's keys", async () => {
    const owner = await signUp();
    const other = await signUp();
    await createdKey(owner.accessToken, "owner's");
    const list = (await (await api("/v1/api-keys", { token: other.accessToken })).json()) as Page;
    expect(list.items).toEqual([]);
  });
});

describe("API key creation with Idempotency-Key", () => {
  it("creates one key for a retried request and replays the first response without the secret", async () => {
    const user = await signUp();
    const body = { name: "retried", scopes: ["account:read"] };
    const idempotencyKey = `create-${crypto.randomUUID()}`;

    const first = await createKey(user.accessToken, body, { "idempotency-key": idempotencyKey });
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotency-replayed")).toBeNull();
    const original = (await first.json()) as Created;
    expect(original.secret).toMatch(/^esk_/);

    const retry = await createKey(user.accessToken, body, { "idempotency-key": idempotencyKey });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotency-replayed")).toBe("true");
    expect(retry.headers.get("location")).toBe(first.headers.get("location"));
    const replayed = (await retry.json()) as Partial<Created>;
    expect(replayed).not.toHaveProperty("secret");
    expect(replayed.apiKey).toEqual(original.apiKey);

    expect(await keyRows(user.userId)).toHaveLength(1);
  });

  it("refuses the same Idempotency-Key with a different body with 422 idempotency-key-reused", async () => {
    const user = await signUp();
    const idempotencyKey = `create-${crypto.randomUUID()}`;
    const first = await createKey(user.accessToken, { name: "one", scopes: ["account:read"] }, { "idempotency-key": idempotencyKey });
    expect(first.status).toBe(201);

    const reused = await createKey(user.accessToken, { name: "two", scopes: ["account:read"] }, { "idempotency-key": idempotencyKey });
    expect(reused.status).toBe(422);
    expect(reused.headers.get("content-type")).toBe("application/problem+json");
    expect(((await reused.json()) as Problem).type).toBe("https://edgestock.dev/problems/idempotency-key-reused");

    const rows = await keyRows(user.userId);
    expect(rows.map((r) => r.name)).toEqual(["one"]);
  });

  it("scopes Idempotency-Keys to the caller: another user's identical request creates their own key", async () => {
    const alice = await signUp();
    const bob = await signUp();
    const idempotencyKey = `shared-${crypto.randomUUID()}`;
    const body = { name: "same", scopes: ["account:read"] };
    const fromAlice = await createKey(alice.accessToken, body, { "idempotency-key": idempotencyKey });
    const fromBob = await createKey(bob.accessToken, body, { "idempotency-key": idempotencyKey });
    expect(fromAlice.status).toBe(201);
    expect(fromBob.status).toBe(201);
    expect(fromBob.headers.get("idempotency-replayed")).toBeNull();
    expect(((await fromBob.json()) as Created).secret).toMatch(/^esk_/);
    expect(await keyRows(bob.userId)).toHaveLength(1);
    const [aliceRow] = await db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.userId, alice.userId), eq(apiKeys.name, "same")));
    expect(aliceRow).toBeDefined();
  });
});
