import { describe, expect, it } from "vitest";
import { app } from "../../edge/app";
import { readConfig } from "../../edge/config";
import { collectOperations } from "../../edge/lib/openapi";
import { api, signUp, workerWith } from "./support";
import { Browser } from "./web-support";

/** CORS for the API (edge/middleware/cors.ts): CORS_ORIGINS decides who may call it from a browser. */

const SHOP = "https://shop.example";
const preflight = (path: string, origin: string, method = "GET", target?: ReturnType<typeof workerWith>) =>
  api(path, { method: "OPTIONS", headers: { origin, "access-control-request-method": method, "access-control-request-headers": "authorization,content-type" }, target });

describe("CORS with the default (any origin)", () => {
  it("answers a preflight for every route of the API, never with credentials", async () => {
    const paths = [...new Set(collectOperations(app.routes).map((op) => op.path.replace(/:[A-Za-z0-9_]+(\{[^}]*\})?/g, crypto.randomUUID())))];
    expect(paths.length).toBeGreaterThan(40);
    for (const path of paths) {
      const res = await preflight(path, "https://anywhere.example", "POST");
      expect(res.status, path).toBe(204);
      expect(res.headers.get("access-control-allow-origin"), path).toBe("*");
      expect(res.headers.get("access-control-allow-methods"), path).toContain("POST");
      expect(res.headers.get("access-control-allow-headers"), path).toContain("authorization");
      expect(res.headers.get("access-control-allow-credentials"), path).toBeNull();
    }
  });

  it("lets another origin read public search and exposes the request id", async () => {
    const res = await api("/v1/search?q=anything", { headers: { origin: "https://anywhere.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-expose-headers")).toContain("x-request-id");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("serves a bearer-token call from another origin as it serves any other", async () => {
    const buyer = await signUp("buyer");
    const res = await api("/v1/auth/me", { token: buyer.accessToken, headers: { origin: "https://anywhere.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("adds no CORS headers to the web app's pages", async () => {
    const res = await new Browser().fetch("/", { headers: { origin: "https://anywhere.example", accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS limited to listed origins", () => {
  const target = workerWith({ CORS_ORIGINS: `${SHOP}, https://cms.example:8443` });

  it("allows a listed origin by name, and says the answer varies by Origin", async () => {
    const res = await preflight("/v1/cart/items", SHOP, "POST", target);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(res.headers.get("vary")).toMatch(/origin/i);
    const get = await api("/v1/search?q=x", { headers: { origin: "https://cms.example:8443" }, target });
    expect(get.headers.get("access-control-allow-origin")).toBe("https://cms.example:8443");
    expect(get.headers.get("vary")).toMatch(/origin/i);
  });

  it("gives an unlisted origin no Access-Control-Allow-Origin, so its browser withholds the answer", async () => {
    for (const origin of ["https://evil.example", "https://shop.example.evil", "http://shop.example", "null"]) {
      const res = await preflight("/v1/search", origin, "GET", target);
      expect(res.headers.get("access-control-allow-origin"), origin).toBeNull();
      const get = await api("/v1/search?q=x", { headers: { origin }, target });
      expect(get.headers.get("access-control-allow-origin"), origin).toBeNull();
    }
  });

  it("refuses a CORS_ORIGINS entry that is not an origin, naming it", () => {
    for (const bad of ["shop.example", "https://shop.example/path", "ftp://shop.example", "https://shop.example,https://x/"]) {
      expect(() => readConfig({ ...target.env, CORS_ORIGINS: bad } as Env), bad).toThrow(/CORS_ORIGINS/);
    }
  });
});
