import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { apiKeys, images, users } from "../../db/schema";
import { api, signUp, testDb, uniqueEmail, type WorkerTarget, workerWith } from "./support";

type Problem = { type: string; status: number; requestId: string; errors?: Array<{ path: string }> };

describe("auth", () => {
  it("registers, logs in, and reads /me with the access token", async () => {
    const email = uniqueEmail();
    const register = await api("/v1/auth/register", {
      method: "POST",
      json: { email: email.toUpperCase(), password: "a long enough password", displayName: "Ada" },
    });
    expect(register.status).toBe(201);
    const registered = (await register.json()) as { user: { email: string; role: string }; tokens: { accessToken: string } };
    expect(registered.user).toMatchObject({ email, role: "buyer" });

    const login = await api("/v1/auth/login", { method: "POST", json: { email, password: "a long enough password" } });
    expect(login.status).toBe(200);
    const { tokens } = (await login.json()) as { tokens: { accessToken: string; expiresIn: number } };
    expect(tokens.expiresIn).toBe(900);

    const me = await api("/v1/auth/me", { token: tokens.accessToken });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe(email);
  });

  it("refuses a duplicate email with 409 and a wrong password with 401", async () => {
    const user = await signUp();
    const again = await api("/v1/auth/register", { method: "POST", json: { email: user.email, password: "another password!", displayName: "X" } });
    expect(again.status).toBe(409);
    expect(((await again.json()) as Problem).type).toMatch(/email-taken$/);
    const wrong = await api("/v1/auth/login", { method: "POST", json: { email: user.email, password: "not the password" } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("content-type")).toBe("application/problem+json");
  });

  it("rotates refresh tokens and revokes the family when an old one is reused", async () => {
    const user = await signUp();
    const first = await api("/v1/auth/refresh", { method: "POST", json: { refreshToken: user.refreshToken } });
    expect(first.status).toBe(200);
    const rotated = (await first.json()) as { refreshToken: string; accessToken: string };
    expect(rotated.refreshToken).not.toBe(user.refreshToken);

    const reuse = await api("/v1/auth/refresh", { method: "POST", json: { refreshToken: user.refreshToken } });
    expect(reuse.status).toBe(401);
    expect(((await reuse.json()) as Problem).type).toMatch(/refresh-token-reused$/);

    // The legitimate newer token died with its family.
    const afterReuse = await api("/v1/auth/refresh", { method: "POST", json: { refreshToken: rotated.refreshToken } });
    expect(afterReuse.status).toBe(401);
  });

  it("logout revokes the session's refresh token", async () => {
    const user = await signUp();
    const out = await api("/v1/auth/logout", { method: "POST", token: user.accessToken, json: { refreshToken: user.refreshToken } });
    expect(out.status).toBe(204);
    const refresh = await api("/v1/auth/refresh", { method: "POST", json: { refreshToken: user.refreshToken } });
    expect(refresh.status).toBe(401);
  });

  it("rejects tampered, foreign and alg-none tokens", async () => {
    const user = await signUp();
    const [h, p, s] = user.accessToken.split(".");
    const tampered = `${h}.${p}x.${s}`;
    const none = `${btoa(JSON.stringify({ alg: "none", typ: "JWT" })).replace(/=+$/, "")}.${p}.`;
    for (const token of [tampered, none, "not-a-jwt"]) {
      const res = await api("/v1/auth/me", { token });
      expect(res.status).toBe(401);
      expect(((await res.json()) as Problem).type).toMatch(/invalid-token$/);
    }
  });

  it("rate-limits repeated logins for one email with 429 and Retry-After", async () => {
    const user = await signUp();
    let last: Response | undefined;
    for (let i = 0; i < 11; i++) last = await api("/v1/auth/login", { method: "POST", json: { email: user.email, password: "wrong password!" } });
    expect(last?.status).toBe(429);
    expect(Number(last?.headers.get("retry-after"))).toBeGreaterThan(0);
    // Even the right password is refused while the limit holds: brute force gains nothing.
    const right = await api("/v1/auth/login", { method: "POST", json: { email: user.email, password: user.password } });
    expect(right.status).toBe(429);
  });

  it("rate-limits one IP across auth routes", async () => {
    const ip = "203.0.113.77";
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) {
      const res = await api("/v1/auth/refresh", { method: "POST", ip, json: { refreshToken: `esr_${"A".repeat(43)}` } });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe("register with Idempotency-Key", () => {
  it("creates one account and replays it without tokens", async () => {
    const email = uniqueEmail("idem");
    const body = { email, password: "a long enough password", displayName: "Idem" };
    const headers = { "idempotency-key": `reg-${crypto.randomUUID()}` };
    const ip = "198.18.0.7";
    const first = await api("/v1/auth/register", { method: "POST", json: body, headers, ip });
    expect(first.status).toBe(201);
    const firstBody = (await first.json()) as { user: { id: string }; tokens?: unknown };
    expect(firstBody.tokens).toBeDefined();
    const replay = await api("/v1/auth/register", { method: "POST", json: body, headers, ip });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotency-replayed")).toBe("true");
    const replayBody = (await replay.json()) as { user: { id: string }; tokens?: unknown };
    expect(replayBody.user.id).toBe(firstBody.user.id);
    expect(replayBody.tokens).toBeUndefined();
  });
});

describe("an account disabled or deleted while its access token is still valid", () => {
  const uploadBody = { contentType: "image/jpeg", bytes: 1000, title: "A title" };

  it("is refused on every write at once (401), while nothing is written", async () => {
    const { db, pool } = testDb();
    try {
      for (const fate of ["disabled", "deleted"] as const) {
        const user = await signUp("contributor");
        if (fate === "disabled") await db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.userId));
        else await db.delete(users).where(eq(users.id, user.userId));
        for (const [path, json] of [
          ["/v1/api-keys", { name: "late key", scopes: ["search:read"] }],
          ["/v1/uploads", uploadBody],
        ] as const) {
          const res = await api(path, { method: "POST", token: user.accessToken, json });
          expect(res.status, `${fate}: POST ${path} -> ${await res.clone().text()}`).toBe(401);
          expect(((await res.json()) as Problem).type).toMatch(/invalid-token$/);
        }
        expect(await db.select().from(apiKeys).where(eq(apiKeys.userId, user.userId))).toHaveLength(0);
        expect(await db.select().from(images).where(eq(images.contributorId, user.userId))).toHaveLength(0);
      }
    } finally {
      await pool.end();
    }
  });

  it("takes a role change into account on the next write", async () => {
    const { db, pool } = testDb();
    try {
      const user = await signUp("contributor");
      await db.update(users).set({ role: "buyer" }).where(eq(users.id, user.userId));
      const res = await api("/v1/uploads", { method: "POST", token: user.accessToken, json: uploadBody });
      expect(res.status).toBe(403);
    } finally {
      await pool.end();
    }
  });
});

describe("per-IP limits and a client-sent CF-Connecting-IP", () => {
  /** The same Worker where nothing in front sets CF-Connecting-IP (npm start, a plain server). */
  const untrusted = workerWith({ TRUST_CF_CONNECTING_IP: "false" });
  const login = (target?: WorkerTarget) => api("/v1/auth/login", { method: "POST", json: { email: uniqueEmail(), password: "not the password" }, target });

  it("counts every caller as one client unless Cloudflare is in front, so a forged header buys no fresh limit", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await login(untrusted)).status); // each from a fresh forged IP
    expect(statuses.slice(0, 30).every((status) => status === 401)).toBe(true);
    expect(statuses[30]).toBe(429);
  });

  it("trusts the header behind Cloudflare (the test harness plays its part): fresh addresses, fresh limits", async () => {
    for (let i = 0; i < 31; i++) expect((await login()).status).toBe(401);
  });
});
