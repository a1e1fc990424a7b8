import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchRetrying } from "../support/http";
import { runNpmStart, survivorsNaming } from "../support/stack";

let stack: ChildProcess;
let url = "";
let output = () => "";
const dataDir = mkdtempSync(join(tmpdir(), "edgestock-e2e-"));
/** No network: the worker and the importer must not try to fetch a CLIP model from the Hub. */
const OFFLINE = { HF_HUB_OFFLINE: "1" };

/** demo/manifest.csv: the real photographs the seed lists, with their titles and credits. */
const DEMO_PHOTOS = (parse(readFileSync(join(import.meta.dirname, "../../demo/manifest.csv")), { columns: true }) as Record<string, string>[]).map((row) => ({
  title: row.title as string,
  credit: row.credit as string,
  license: row.credit_license as string,
}));

/** The README's start command, run as a new user would, on a fresh data folder (the embedded database). */
beforeAll(async () => {
  ({ child: stack, url, output } = await runNpmStart(dataDir, OFFLINE));
});

afterAll(async () => {
  if (stack.exitCode === null) {
    stack.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 8000));
    if (stack.pid) {
      try {
        process.kill(-stack.pid, "SIGKILL");
      } catch {}
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

describe("the local stack from `npm start`", () => {
  it("reports every dependency healthy, the GPU worker included", async () => {
    let body: { status: string; checks: Record<string, { state: string }> } = { status: "", checks: {} };
    for (let i = 0; i < 40; i++) {
      body = await json(await fetchRetrying(`${url}/v1/health`));
      if (body.status === "ok") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(body.status).toBe("ok");
    expect(Object.keys(body.checks).sort()).toEqual(["cache", "database", "queue", "r2", "worker"]);
  });

  it("registers, logs in, refreshes and reads /me over HTTP", async () => {
    const email = `e2e-${Date.now()}@example.test`;
    const post = (path: string, body: unknown, token?: string) =>
      fetch(url + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    const register = await post("/v1/auth/register", { email, password: "e2e password 123", displayName: "E2E", role: "contributor" });
    expect(register.status).toBe(201);
    const login = await post("/v1/auth/login", { email, password: "e2e password 123" });
    expect(login.status).toBe(200);
    const { tokens } = await json<{ tokens: { accessToken: string; refreshToken: string } }>(login);
    const refreshed = await json<{ accessToken: string }>(await post("/v1/auth/refresh", { refreshToken: tokens.refreshToken }));
    const me = await fetchRetrying(`${url}/v1/auth/me`, { headers: { authorization: `Bearer ${refreshed.accessToken}` } });
    expect(me.status).toBe(200);
    expect((await json<{ user: { email: string; role: string } }>(me)).user).toMatchObject({ email, role: "contributor" });
  });

  it("seeds the demo catalogue through the bulk importer, idempotently", async () => {
    // Run without blocking this process: a spawnSync would freeze the event loop for the seed's
    // seconds, so fetch could not notice the stack closing an idle keep-alive connection meanwhile,
    // and the next test's first request would go out on the dead socket.
    const seed = () =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn("npm", ["run", "seed"], { env: { ...process.env, ...OFFLINE, EDGESTOCK_DATA_DIR: dataDir, SEED_GENERATED: "6" } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
      });
    const first = await seed();
    expect(first.status, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(first.stdout).toContain(`finished: ${DEMO_PHOTOS.length} listed, 0 duplicates, 0 failed`);
    expect(first.stdout).toContain("finished: 6 listed, 0 duplicates, 0 failed");
    const catalogue = /Catalogue: .*/.exec(first.stdout)?.[0];
    expect(catalogue).toMatch(/\d+ approved/);
    const second = await seed();
    expect(second.status, `${second.stdout}\n${second.stderr}`).toBe(0);
    expect(second.stdout).toContain(`finished: 0 listed, 0 duplicates, 0 failed, ${DEMO_PHOTOS.length} skipped`);
    expect(second.stdout).toContain("finished: 0 listed, 0 duplicates, 0 failed, 6 skipped");
    expect(/Catalogue: .*/.exec(second.stdout)?.[0]).toBe(catalogue);
  }, 240_000);

  it("lists at least 40 of the real photographs, each with renditions, an NSFW score and its credit", async () => {
    // Safe search (the default) lists only images the NSFW classifier scored.
    const listed = await json<{ total: number; results: { id: string; title: string; thumbnailUrl: string; previewUrl: string; contributor: { displayName: string } }[] }>(
      await fetchRetrying(`${url}/v1/search?mode=keyword&sort=newest&perPage=100`),
    );
    const photos = listed.results.filter((r) => r.contributor.displayName === "Ada Photographer");
    expect(photos.length).toBeGreaterThanOrEqual(40);
    const titles = new Set(DEMO_PHOTOS.map((p) => p.title));
    for (const photo of photos) {
      expect(titles.has(photo.title), photo.title).toBe(true);
      for (const rendition of [photo.thumbnailUrl, photo.previewUrl]) {
        const res = await fetch(rendition);
        expect(res.status, rendition).toBe(200);
        expect(res.headers.get("content-type")).toBe("image/webp");
        await res.arrayBuffer();
      }
      const page = await json<{ credit: { author: string; license: string | null } | null; derivatives: Record<string, string> }>(
        await fetchRetrying(`${url}/v1/images/${photo.id}`),
      );
      const row = DEMO_PHOTOS.find((p) => p.title === photo.title);
      expect(page.credit).toMatchObject({ author: row?.credit, license: row?.license });
      expect(Object.keys(page.derivatives).sort()).toEqual(["preview", "thumb1000", "thumb150", "thumb450"]);
    }
    // The generated backgrounds are labelled as such.
    const generated = await json<{ results: { contributor: { displayName: string } }[] }>(await fetchRetrying(`${url}/v1/search?mode=keyword&q=generated&perPage=100`));
    expect(generated.results.length).toBe(6);
    expect(new Set(generated.results.map((r) => r.contributor.displayName))).toEqual(new Set(["Generated demo"]));
  });

  it("finds the photographs by their subjects, with facets, and shows the credit on the image page", async () => {
    const search = async (query: string) =>
      json<{ total: number; results: { id: string; title: string }[]; facets: { categories: Record<string, number>; orientations: Record<string, number> } }>(
        await fetchRetrying(`${url}/v1/search?mode=keyword&${query}`),
      );
    const subjects: [string, RegExp][] = [
      ["cheetah", /^Cheetah/],
      ["espresso", /coffee/i],
      ["dandelion", /^Dandelion/],
      ["beijing", /Summer Palace/],
      ["astronaut", /^Astronaut/],
      ["kingfisher", /^Kingfisher/],
      ["galaxies", /^Hubble/],
    ];
    for (const [q, title] of subjects) {
      const found = await search(`q=${encodeURIComponent(q)}`);
      expect(found.results[0]?.title, q).toMatch(title);
    }
    const mountains = await search("q=mountains");
    expect(mountains.results.map((r) => r.title)).toEqual(expect.arrayContaining(["Hiking trail in the Picos de Europa", "Autumn meadow below the Aitzgorri mountains"]));

    const animals = await search("q=wildlife&perPage=100");
    expect(animals.facets.categories.animals).toBeGreaterThanOrEqual(15);
    expect(Object.values(animals.facets.orientations).reduce((a, b) => a + b, 0)).toBe(animals.total);
    const food = await search("category=food&perPage=100");
    expect(Object.keys(food.facets.categories)).toEqual(["food"]);
    expect(food.results.map((r) => r.title)).toEqual(expect.arrayContaining(["Cup of coffee on a red saucer", "Halved fig in a red bowl"]));

    const cheetah = (await search("q=cheetah")).results[0];
    const page = await json<{ title: string; credit: { author: string; license: string; source: string }; categories: { slug: string }[]; tags: { tag: string }[] }>(
      await fetchRetrying(`${url}/v1/images/${cheetah?.id}`),
    );
    expect(page.credit).toEqual({ author: "Charles J. Sharp", license: "CC-BY-SA-4.0", source: expect.stringContaining("commons.wikimedia.org") });
    expect(page.categories.map((c) => c.slug)).toContain("animals");
    expect(page.tags.map((t) => t.tag)).toContain("savanna");
  });

  it("completes a purchase without Stripe keys: stand-in checkout page → signed webhook → license → download", async () => {
    const post = (path: string, body: unknown, token?: string) =>
      fetch(url + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    const register = await post("/v1/auth/register", { email: `buyer-${Date.now()}@example.test`, password: "e2e password 123", displayName: "Buyer", role: "buyer" });
    const { tokens } = await json<{ tokens: { accessToken: string } }>(register);
    const auth = { authorization: `Bearer ${tokens.accessToken}` };

    // A seeded photograph (the seed test above ran first) that sells under the standard license.
    const search = await json<{ results: { id: string }[] }>(await fetchRetrying(`${url}/v1/search?mode=keyword&q=wildlife&perPage=50`));
    let imageId = "";
    for (const { id } of search.results) {
      const page = await json<{ editorial: boolean; prices: { licenseType: string }[] }>(await fetch(`${url}/v1/images/${id}`));
      if (!page.editorial && page.prices.some((p) => p.licenseType === "standard")) {
        imageId = id;
        break;
      }
    }
    expect(imageId).not.toBe("");
    expect((await post("/v1/cart", { imageId, licenseType: "standard" }, tokens.accessToken)).status).toBe(201);
    const checkout = await post("/v1/checkout", {}, tokens.accessToken);
    expect(checkout.status).toBe(201);
    const { checkoutUrl } = await json<{ checkoutUrl: string }>(checkout);

    // The buyer's browser: the checkout page, then its Pay button (a form post).
    const pageHtml = await (await fetch(checkoutUrl)).text();
    expect(pageHtml).toContain("Pay");
    const paid = await fetch(`${checkoutUrl}/complete`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
      body: "outcome=paid",
      redirect: "manual",
    });
    expect(paid.status).toBe(303);
    expect(paid.headers.get("location")).toMatch(/\/checkout\/order\/success\?session_id=cs_/);

    // The stand-in posted the signed event to the edge's webhook route before answering.
    const licenses = await json<{ items: { id: string; imageId: string; licenseType: string }[] }>(await fetch(`${url}/v1/licenses`, { headers: auth }));
    expect(licenses.items).toEqual([expect.objectContaining({ imageId, licenseType: "standard" })]);
    const ticket = await json<{ url: string; filename: string }>(await fetch(`${url}/v1/images/${imageId}/download?license=standard`, { headers: auth }));
    const original = await fetch(ticket.url);
    expect(original.status).toBe(200);
    expect(original.headers.get("content-disposition")).toBe(`attachment; filename="${ticket.filename}"`);
    expect((await original.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    const certificate = await fetch(`${url}/v1/licenses/${licenses.items[0]?.id}/certificate`, { headers: auth });
    expect(certificate.headers.get("content-type")).toMatch(/text\/html/);
  });

  it("serves the OpenAPI document and the reference page", async () => {
    const doc = await json<{ openapi: string; paths: Record<string, unknown> }>(await fetchRetrying(`${url}/v1/openapi.json`));
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.paths)).toContain("/v1/auth/login");
    expect(await (await fetchRetrying(`${url}/v1/docs`)).text()).toContain("/v1/auth/register");
  });

  it("stops every process it started on Ctrl-C", async () => {
    const pid = stack.pid as number;
    // Ctrl-C in a terminal signals the whole foreground process group.
    process.kill(-pid, "SIGINT");
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => stack.once("exit", (c, s) => resolve([c, s])));
    expect(code === 0 || signal === "SIGINT").toBe(true);
    expect(output()).toContain("[start] stopped");
    await expect(fetch(`${url}/v1/health`)).rejects.toThrow();
    // wrangler and workerd ran in their own process group; none may survive (they name the data folder).
    expect(await survivorsNaming(dataDir)).toBe("");
  });
});
