import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_QUERY_IMAGE_BYTES } from "../../common/embed-service";
import { startEmbedServer } from "../../gpu-worker/embed-server";
import { type ClipModel, loadClipModel } from "../../gpu-worker/ml/clip";
import { writeTestClipModel } from "../../scripts/models/make-test-clip";

/**
 * The query-embedding service over real HTTP with a real (small, generated) CLIP model: what the
 * edge calls for semantic search and search by image. The service uses Bun.serve (the worker runs
 * in Bun), so the test starts it in a Bun process and calls it from here.
 */

const dir = mkdtempSync(join(tmpdir(), "embed-server-"));
let clip: ClipModel;
let server: { url: string; stop(): Promise<void> };

/** Bun.serve is Bun-only: under Node the test starts the service in a Bun process. */
async function startInBun(modelDir: string | null): Promise<{ url: string; stop(): Promise<void> }> {
  const { spawn } = await import("node:child_process");
  const script = `
    import { startEmbedServer } from ${JSON.stringify(resolve("gpu-worker/embed-server.ts"))};
    import { loadClipModel } from ${JSON.stringify(resolve("gpu-worker/ml/clip.ts"))};
    const clip = ${modelDir ? `await loadClipModel(${JSON.stringify(modelDir)}, { executionProviders: ["cpu"], maxBatch: 64, maxWaitMs: 20 })` : "null"};
    const server = startEmbedServer({ port: 0, secret: "test-secret", clip, maxImagePixels: 50e6 });
    console.log("PORT " + server.port);
    setInterval(() => { if (clip) console.log("STATS " + JSON.stringify(clip.stats().texts)); }, 100);
  `;
  const file = join(dir, `serve-${Math.random().toString(36).slice(2)}.ts`);
  (await import("node:fs")).writeFileSync(file, script);
  const child = spawn(resolve("node_modules/.bin/bun"), [file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const deadline = Date.now() + 30_000;
  while (!/PORT (\d+)/.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`embed server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = /PORT (\d+)/.exec(out)?.[1];
  lastOutput = () => out;
  return { url: `http://127.0.0.1:${port}`, stop: async () => void child.kill("SIGKILL") };
}
let lastOutput = () => "";

beforeAll(async () => {
  await writeTestClipModel(dir, { layout: "immich", embedDim: 32 });
  clip = await loadClipModel(dir, { executionProviders: ["cpu"] });
  server = await startInBun(dir);
});
afterAll(async () => {
  await server?.stop();
  await clip?.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: string | Buffer | null, headers: Record<string, string> = {}) =>
  fetch(server.url + path, { method: "POST", headers: { authorization: "Bearer test-secret", ...headers }, body });

describe("the query-embedding service", () => {
  it("embeds a batch of texts exactly as the model does, unit length", async () => {
    const res = await post("/embed/text", JSON.stringify({ texts: ["sunset over the sea", "a red car"] }), { "content-type": "application/json" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; version: string; dimensions: number; embeddings: number[][] };
    expect(body).toMatchObject({ model: clip.modelId, version: clip.version, dimensions: 32 });
    const local = await clip.embedTexts(["sunset over the sea", "a red car"]);
    body.embeddings.forEach((e, i) => {
      expect(Math.hypot(...e)).toBeCloseTo(1, 5);
      e.forEach((x, j) => expect(x).toBeCloseTo(local[i]?.[j] as number, 5));
    });
  });

  it("answers with the model the edge names, and refuses a model it does not serve (409)", async () => {
    const json = { "content-type": "application/json" };
    const named = await post("/embed/text", JSON.stringify({ texts: ["boats"], model: clip.modelId }), json);
    expect(named.status).toBe(200);
    expect(((await named.json()) as { model: string }).model).toBe(clip.modelId);
    const other = await post("/embed/text", JSON.stringify({ texts: ["boats"], model: "ViT-L-14__openai" }), json);
    expect(other.status).toBe(409);
    expect(other.headers.get("content-type")).toBe("application/problem+json");
    expect(((await other.json()) as { models: string[] }).models).toEqual([clip.modelId]);
    const image = await post("/embed/image?model=ViT-L-14__openai", Buffer.from([0xff, 0xd8]), { "content-type": "image/jpeg" });
    expect(image.status).toBe(409);
  });

  it("embeds an uploaded image (search by image), not stored", async () => {
    const photo = readFileSync(resolve("test/fixtures/photos/rocket.jpg"));
    const res = await post("/embed/image", photo, { "content-type": "image/jpeg" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { embedding: number[] };
    expect(body.embedding).toHaveLength(32);
    expect(Math.hypot(...body.embedding)).toBeCloseTo(1, 5);
  });

  it("batches concurrent requests together", async () => {
    const before = JSON.parse(/STATS (.*)\n(?![\s\S]*STATS)/.exec(lastOutput())?.[1] ?? "{}") as { batches?: number; submitted?: number };
    await Promise.all(Array.from({ length: 24 }, (_, i) => post("/embed/text", JSON.stringify({ texts: [`query ${i}`] }), { "content-type": "application/json" })));
    await new Promise((r) => setTimeout(r, 250));
    const after = JSON.parse(/STATS (.*)\n(?![\s\S]*STATS)/.exec(lastOutput())?.[1] ?? "{}") as { batches: number; submitted: number };
    expect(after.submitted - (before.submitted ?? 0)).toBe(24);
    expect(after.batches - (before.batches ?? 0)).toBeLessThan(24);
  });

  it("answers bad requests with problem documents", async () => {
    const cases: [string, Promise<Response>, number, RegExp][] = [
      ["no secret", fetch(`${server.url}/embed/text`, { method: "POST", body: "{}" }), 401, /unauthenticated/],
      ["wrong secret", post("/embed/text", "{}", { authorization: "Bearer nope", "content-type": "application/json" }), 401, /unauthenticated/],
      ["not JSON", post("/embed/text", "texts=a", { "content-type": "text/plain" }), 415, /unsupported-media-type/],
      ["malformed JSON", post("/embed/text", "{", { "content-type": "application/json" }), 400, /invalid-json/],
      ["no texts", post("/embed/text", JSON.stringify({ texts: [] }), { "content-type": "application/json" }), 422, /validation-failed/],
      ["too long", post("/embed/text", JSON.stringify({ texts: ["x".repeat(501)] }), { "content-type": "application/json" }), 422, /validation-failed/],
      ["too many", post("/embed/text", JSON.stringify({ texts: Array(65).fill("a") }), { "content-type": "application/json" }), 422, /validation-failed/],
      ["not an image", post("/embed/image", Buffer.from("hello"), { "content-type": "image/jpeg" }), 422, /validation-failed/],
      ["image too large", post("/embed/image", Buffer.alloc(MAX_QUERY_IMAGE_BYTES + 1), { "content-type": "image/jpeg" }), 413, /payload-too-large/],
      ["GET", fetch(`${server.url}/embed/text`), 405, /method-not-allowed/],
      ["unknown path", post("/embed/video", "{}"), 404, /not-found/],
    ];
    for (const [name, pending, status, type] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(status);
      expect(res.headers.get("content-type"), name).toContain("application/problem+json");
      expect(((await res.json()) as { type: string }).type, name).toMatch(type);
    }
  });

  it("says semantic features are unavailable when no model is installed", async () => {
    const bare = await startInBun(null);
    try {
      const res = await fetch(`${bare.url}/embed/text`, {
        method: "POST",
        headers: { authorization: "Bearer test-secret", "content-type": "application/json" },
        body: JSON.stringify({ texts: ["a"] }),
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/no CLIP model/);
    } finally {
      await bare.stop();
    }
  });
});
