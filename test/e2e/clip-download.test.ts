import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTestClipModel } from "../../scripts/models/make-test-clip";
import { fetchRetrying } from "../support/http";
import { type LocalHub, startLocalHub } from "../support/hub-server";
import { runNpmStart, stopStack, survivorsNaming } from "../support/stack";

/**
 * A new user's first `npm start` with CLIP: the worker finds no model folder, downloads
 * immich-app/ViT-B-32__openai from the Hub (here the local stand-in, through HF_ENDPOINT), loads it, and
 * semantic search runs on it. The model is a generated one in Immich's layout (512 wide, random weights), so
 * rankings mean nothing; what is proved is the wiring from download to query embedding.
 */

let stack: ChildProcess;
let url = "";
let output = () => "";
let hub: LocalHub;
const dataDir = mkdtempSync(join(tmpdir(), "edgestock-e2e-clip-"));
const clipDir = join(dataDir, "models", "clip", "ViT-B-32__openai");

beforeAll(async () => {
  hub = await startLocalHub();
  const source = join(dataDir, "hub-source");
  await writeTestClipModel(source, { layout: "immich", embedDim: 512, seed: 5 });
  await hub.addRepoFromDir("immich-app/ViT-B-32__openai", source, { "visual/fp16/model.onnx": Buffer.alloc(1024) });
  // A slow CDN until the test has seen the worker report the download in progress.
  hub.chunkDelayMs = 2000;
  ({
    child: stack,
    url,
    output,
  } = await runNpmStart(dataDir, {
    HF_ENDPOINT: hub.url,
    CLIP_MODEL: "ViT-B-32__openai",
    CLIP_MODEL_DIR: clipDir,
    CLIP_CACHE_DIR: join(dataDir, "clip-cache"),
    CLIP_EXECUTION_PROVIDERS: "cpu",
  }));
});

afterAll(async () => {
  // Ctrl-C stops every process the stack started, the worker with a loaded CLIP model included.
  if (stack) expect(await stopStack(stack, dataDir), output()).toBe("");
  await hub?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("first start downloads the CLIP model", () => {
  it("the worker fetches it from HF_ENDPOINT (reporting the download in /v1/health meanwhile), then names it there, and semantic search uses it", async () => {
    const workerCheck = async () => ((await (await fetchRetrying(`${url}/v1/health`)).json()) as { checks: Record<string, { detail?: string }> }).checks.worker?.detail ?? "";
    // While it downloads, the worker beats and says so.
    let worker = "";
    for (let i = 0; i < 240 && !worker.includes("loading its models"); i++) {
      worker = await workerCheck();
      if (!worker.includes("loading its models")) await new Promise((r) => setTimeout(r, 500));
    }
    expect(worker, output()).toContain("no CLIP model (semantic features off: the worker is loading its models (a first start downloads the CLIP model))");
    hub.chunkDelayMs = 0;

    for (let i = 0; i < 240 && !worker.includes("CLIP ViT-B-32__openai"); i++) {
      worker = await workerCheck();
      if (!worker.includes("CLIP ViT-B-32__openai")) await new Promise((r) => setTimeout(r, 500));
    }
    expect(worker, output()).toContain("CLIP ViT-B-32__openai");

    expect(hub.requests.map((r) => r.path)).toContain("/api/models/immich-app/ViT-B-32__openai/revision/main");
    expect(hub.requests.some((r) => r.path.includes("fp16"))).toBe(false);
    expect((await readdir(clipDir, { recursive: true })).sort()).toEqual([
      "config.json",
      "textual",
      "textual/model.onnx",
      "textual/tokenizer.json",
      "textual/tokenizer_config.json",
      "visual",
      "visual/model.onnx",
      "visual/preprocess_cfg.json",
    ]);
    expect(output()).toMatch(/downloaded immich-app\/ViT-B-32__openai/);

    const search = await fetchRetrying(`${url}/v1/search?mode=semantic&q=${encodeURIComponent("a lighthouse at dusk")}`);
    expect(search.status).toBe(200);
    const body = (await search.json()) as { mode: string; degraded: string[] };
    expect(body.mode).toBe("semantic");
    expect(body.degraded).not.toContain("semantic");
  });

  it("the seed lists the demo catalogue with that model's embeddings, and semantic search finds it", async () => {
    const seeded = await new Promise<{ status: number | null; out: string }>((resolve) => {
      const child = spawn("npm", ["run", "seed"], {
        env: {
          ...process.env,
          EDGESTOCK_DATA_DIR: dataDir,
          SEED_GENERATED: "2",
          HF_ENDPOINT: hub.url,
          CLIP_MODEL: "ViT-B-32__openai",
          CLIP_MODEL_DIR: clipDir,
          CLIP_CACHE_DIR: join(dataDir, "clip-cache"),
          CLIP_EXECUTION_PROVIDERS: "cpu",
        },
      });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      child.on("close", (status) => resolve({ status, out }));
    });
    expect(seeded.status, seeded.out).toBe(0);
    const search = await fetchRetrying(`${url}/v1/search?mode=semantic&perPage=50&q=${encodeURIComponent("a cheetah resting in the grass")}`);
    const body = (await search.json()) as { mode: string; degraded: string[]; total: number; results: { id: string }[] };
    expect(body.mode).toBe("semantic");
    expect(body.degraded).toEqual([]);
    // Every listed, scored image has an embedding now: semantic search reaches the seeded photographs.
    expect(body.results.length).toBeGreaterThanOrEqual(40);
    const similar = await fetchRetrying(`${url}/v1/images/${body.results[0]?.id}/similar`);
    expect(similar.status).toBe(200);
    expect(((await similar.json()) as { results: unknown[] }).results.length).toBeGreaterThan(0);
  }, 300_000);

  it("stops every process it started, the worker with its model included, when npm itself gets SIGTERM (a service manager's stop)", async () => {
    const exited = new Promise((resolve) => stack.once("exit", resolve));
    stack.kill("SIGTERM"); // npm's own pid: npm does not pass it on; start.ts notices it was orphaned
    await exited;
    let survivors = "";
    for (let i = 0; i < 4; i++) {
      survivors = await survivorsNaming(dataDir);
      if (!survivors) break;
    }
    expect(survivors, output()).toBe("");
    // Its last words may still be in the pipe when the processes are gone.
    for (let i = 0; i < 40 && !output().includes("[start] stopped"); i++) await new Promise((r) => setTimeout(r, 250));
    expect(output().slice(-3000)).toContain("[start] stopped");
  }, 60_000);
});
