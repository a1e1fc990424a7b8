import { describe, expect, it } from "vitest";
import { api, signUp, uniqueEmail } from "./support";

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
