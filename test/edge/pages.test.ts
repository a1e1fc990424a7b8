import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { users, webSessions } from "../../db/schema";
import { app } from "../../edge/app";
import { type PageSpec, pageSpecOf } from "../../edge/web/page";
import { api, expectProblem, signUp, testDb, workerWith } from "./support";
import { Browser, signedInBrowser } from "./web-support";

/**
 * The web app's walk, as rbac.test.ts walks the API: every page declares its access with page(),
 * anonymous visitors are sent to sign in, other roles get 403, no form post goes through without
 * the CSRF token, and nothing answers 500. Then the session cookie itself.
 */

type PageRoute = { method: string; path: string; spec: PageSpec };

function pageRoutes(): { pages: PageRoute[]; undeclared: string[] } {
  const pages = new Map<string, PageRoute>();
  const seen = new Set<string>();
  for (const route of app.routes) {
    if (route.method === "ALL" || route.path.startsWith("/v1")) continue;
    const key = `${route.method} ${route.path}`;
    seen.add(key);
    const spec = pageSpecOf(route.handler);
    if (spec) pages.set(key, { method: route.method, path: route.path, spec });
  }
  return { pages: [...pages.values()], undeclared: [...seen].filter((key) => !pages.has(key)) };
}

const { pages, undeclared } = pageRoutes();
const concrete = (path: string) => path.replace(/:[A-Za-z0-9_]+(\{[^}]*\})?/g, () => crypto.randomUUID());
const label = (p: PageRoute) => `${p.method} ${p.path}`;

describe("the page walk", () => {
  it("finds the pages, each declared with page()", () => {
    expect(undeclared, "pages without page(): add one (it declares who may open the page)").toEqual([]);
    expect(pages.map(label)).toEqual(expect.arrayContaining(["GET /", "GET /login", "POST /login", "GET /account"]));
  });

  it("sends anonymous visitors of signed-in pages to sign in, and never answers 500", async () => {
    const browser = new Browser();
    for (const p of pages.filter((p) => p.method === "GET")) {
      const path = concrete(p.path);
      const res = await browser.fetch(path);
      if (p.spec.access === "public") {
        expect(res.status, label(p)).toBeLessThan(500);
      } else {
        expect(res.status, label(p)).toBe(303);
        expect(res.headers.get("location"), label(p)).toBe(`/login?next=${encodeURIComponent(path)}`);
      }
    }
  });

  for (const role of ["buyer", "contributor", "admin"] as const) {
    it(`lets a ${role} open the pages for ${role}s and refuses the others with 403`, async () => {
      const { browser } = await signedInBrowser(role);
      for (const p of pages.filter((p) => p.method === "GET")) {
        const res = await browser.fetch(concrete(p.path));
        const allowed = p.spec.access === "public" || p.spec.access.includes(role);
        if (allowed) {
          expect([401, 403], `${label(p)} as ${role}`).not.toContain(res.status);
          expect(res.status, `${label(p)} as ${role}: ${(await res.text()).slice(0, 300)}`).toBeLessThan(500);
        } else {
          expect(res.status, `${label(p)} as ${role}`).toBe(403);
          expect(res.headers.get("content-type"), label(p)).toMatch(/^text\/html/);
        }
      }
    });
  }

  it("refuses every form post without the CSRF token, or with another browser's, before doing anything", async () => {
    const { browser } = await signedInBrowser("admin");
    const other = new Browser();
    await other.page("/login");
    for (const p of pages.filter((p) => p.method !== "GET")) {
      const path = concrete(p.path);
      for (const token of [undefined, "x", other.csrf]) {
        const res = await browser.fetch(path, { method: p.method, headers: { accept: "application/json" }, form: token === undefined ? {} : { _csrf: token } });
        await expectProblem(res, 403, "csrf-token-invalid");
      }
    }
  });

  it("answers a form post with its token but nothing filled in with a page, never a 500", async () => {
    const { browser } = await signedInBrowser("admin");
    for (const p of pages.filter((p) => p.method !== "GET" && p.path !== "/logout")) {
      const res = await browser.fetch(concrete(p.path), { method: p.method, form: { _csrf: browser.csrf } });
      expect(res.status, `${label(p)}: ${(await res.clone().text()).slice(0, 300)}`).toBeLessThan(500);
    }
  });

  it("shows a page, not JSON, for an address that does not exist", async () => {
    const res = await new Browser().fetch("/no/such/page");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const api404 = await api("/v1/no/such/route");
    await expectProblem(api404, 404, "not-found");
  });
});

describe("the web session", () => {
  it("signs in through the form with an HttpOnly, SameSite=Lax cookie that the API accepts too", async () => {
    const account = await signUp("buyer");
    const browser = new Browser();
    await browser.page("/login");
    const res = await browser.submit("/login", { email: account.email, password: account.password, next: "/account" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/account");
    const cookie = res.headers.getSetCookie().find((line) => line.startsWith("es_session="));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\//);
    const me = await browser.fetch("/v1/auth/me", { headers: { accept: "application/json" } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe(account.email);
  });

  it("uses the __Host- prefix and Secure when the app is served over HTTPS", async () => {
    const account = await signUp("buyer");
    const browser = new Browser(workerWith({ PUBLIC_APP_URL: "https://shop.example" }));
    await browser.page("/login");
    const csrfCookie = [...browser.cookies.keys()];
    expect(csrfCookie).toEqual(["__Host-es_csrf"]);
    const res = await browser.submit("/login", { email: account.email, password: account.password });
    const cookie = res.headers.getSetCookie().find((line) => line.startsWith("__Host-es_session="));
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/HttpOnly/);
  });

  it("refuses a wrong password with the form again, and never redirects off the site", async () => {
    const account = await signUp("buyer");
    const browser = new Browser();
    await browser.page("/login");
    const wrong = await browser.submit("/login", { email: account.email, password: "not the password" });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("do not match");
    expect(browser.cookies.has("es_session")).toBe(false);
    for (const next of ["//evil.example/", "https://evil.example/", "/\\evil.example"]) {
      await browser.page("/login");
      const res = await browser.submit("/login", { email: account.email, password: account.password, next });
      expect(res.headers.get("location"), next).toBe("/");
    }
  });

  it("needs the page's CSRF token for an API write made with the cookie", async () => {
    const { browser } = await signedInBrowser("buyer");
    const body = JSON.stringify({ name: "from the web", scopes: ["search:read"] });
    const without = await browser.fetch("/v1/api-keys", { method: "POST", headers: { accept: "application/json", "content-type": "application/json" }, body });
    await expectProblem(without, 403, "csrf-token-invalid");
    const withToken = await browser.fetch("/v1/api-keys", {
      method: "POST",
      headers: { accept: "application/json", "content-type": "application/json", "x-csrf-token": browser.csrf },
      body,
    });
    expect(withToken.status, await withToken.clone().text()).toBe(201);
  });

  it("signs out for good: the old cookie is nobody afterwards", async () => {
    const { browser } = await signedInBrowser("buyer");
    const stolen = new Map(browser.cookies);
    const res = await browser.submit("/logout", {});
    expect(res.status).toBe(303);
    expect(browser.cookies.has("es_session")).toBe(false);
    const replay = new Browser();
    for (const [k, v] of stolen) replay.cookies.set(k, v);
    expect((await replay.fetch("/account")).status).toBe(303);
    expect((await replay.fetch("/v1/auth/me", { headers: { accept: "application/json" } })).status).toBe(401);
  });

  it("treats the cookie of a disabled account as nobody, at once", async () => {
    const { account, browser } = await signedInBrowser("buyer");
    expect((await browser.fetch("/account")).status).toBe(200);
    const { db, pool } = testDb();
    await db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, account.userId));
    await pool.end();
    expect((await browser.fetch("/account")).status).toBe(303);
  });

  it("stores only a hash of the session token", async () => {
    const { account, browser } = await signedInBrowser("buyer");
    const token = browser.cookies.get("es_session") ?? "";
    const { db, pool } = testDb();
    const rows = await db.select().from(webSessions).where(eq(webSessions.userId, account.userId));
    await pool.end();
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
  });
});
