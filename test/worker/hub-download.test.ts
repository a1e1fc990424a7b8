import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_NSFW_MODEL_PATH } from "../../gpu-worker/config";
import { loadClipModel } from "../../gpu-worker/ml/clip";
import { type ClipSourceSettings, ensureClipModel } from "../../gpu-worker/ml/clip-models";
import { getRepoSnapshot, isRepoPath, progressReporter } from "../../gpu-worker/ml/hub-download";
import { loadModels } from "../../gpu-worker/ml/models";
import { writeTestClipModel } from "../../scripts/models/make-test-clip";
import { type LocalHub, startLocalHub } from "../support/hub-server";

/**
 * First-start download of a CLIP model from the Hub (gpu-worker/ml/hub-download.ts, clip-models.ts), against
 * a local server speaking the Hub's HTTP contract (test/support/hub-server.ts) that serves generated models in
 * both layouts, with the real loader reading the result.
 */

let work: string;
let hub: LocalHub;
let immichSrc: string;
let hfSrc: string;
const logs: { level: string; msg: string; extra?: Record<string, unknown> }[] = [];
const log = (level: "info" | "warn", msg: string, extra?: Record<string, unknown>) => void logs.push({ level, msg, extra });
const quick = { retryDelayMs: 10, stallTimeoutMs: 5_000 };

// Files Immich's repositories carry that the loader does not read: they must stay on the Hub.
/** What a download of an Immich model keeps: the files the loader reads. */
const IMMICH_TREE = ["config.json", "textual/model.onnx", "textual/tokenizer.json", "textual/tokenizer_config.json", "visual/model.onnx", "visual/preprocess_cfg.json"];

const IMMICH_EXTRAS = {
  "README.md": Buffer.from("# ViT-B-32__openai\n"),
  "visual/fp16/model.onnx": Buffer.alloc(4096, 7),
  "visual/model.armnn": Buffer.alloc(2048, 3),
  "textual/vocab.json": Buffer.from("{}"),
};
const HF_EXTRAS = { "onnx/vision_model_quantized.onnx": Buffer.alloc(4096, 1), "onnx/text_model_fp16.onnx": Buffer.alloc(4096, 2), "README.md": Buffer.from("x") };

const sha256 = async (path: string) =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

function settings(model: string, dir: string, extra: Partial<ClipSourceSettings> = {}): ClipSourceSettings {
  return { CLIP_MODEL: model, clipModelDir: dir, CLIP_MODEL_REVISION: "main", HF_ENDPOINT: hub.url, HF_TOKEN: "", HF_HUB_OFFLINE: false, ...extra };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "edgestock-hub-"));
  hub = await startLocalHub();
  immichSrc = join(work, "src-immich");
  hfSrc = join(work, "src-hf");
  // 512 wide: what loadModels accepts for the images.embedding column.
  await writeTestClipModel(immichSrc, { layout: "immich", embedDim: 512, seed: 3 });
  await writeTestClipModel(hfSrc, { layout: "hf", embedDim: 32, seed: 3 });
  await hub.addRepoFromDir("immich-app/ViT-B-32__openai", immichSrc, IMMICH_EXTRAS);
  await hub.addRepoFromDir("Xenova/clip-test", hfSrc, HF_EXTRAS);
});

afterAll(async () => {
  await hub?.close();
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  hub.requests.length = 0;
  hub.dropAfter.clear();
  hub.corrupt.clear();
  hub.token = null;
  hub.chunkDelayMs = 0;
  logs.length = 0;
});

describe("first start: the worker downloads the CLIP model and loads it", () => {
  it("loadModels fetches immich-app/<CLIP_MODEL> into CLIP_MODEL_DIR, only the files the loader reads, and loads it; the token goes to the Hub, not the CDN", async () => {
    hub.token = "hf_secret";
    const dir = join(work, "models", "ViT-B-32__openai");
    const loaded = await loadModels(
      {
        NSFW_MODEL_PATH: DEFAULT_NSFW_MODEL_PATH,
        CLIP_MODEL: "ViT-B-32__openai",
        CLIP_MODEL_DIR: dir,
        CLIP_MODEL_REVISION: "main",
        HF_ENDPOINT: hub.url,
        HF_TOKEN: "hf_secret",
        HF_HUB_OFFLINE: false,
        CLIP_CACHE_DIR: join(work, "clip-cache"),
        CLIP_EXECUTION_PROVIDERS: ["cpu"],
        ORT_INTRA_OP_THREADS: 0,
      },
      { maxBatch: 8, maxWaitMs: 0 },
      log,
    );
    try {
      expect(loaded.clipUnavailable).toBeNull();
      expect(loaded.clip?.modelId).toBe("ViT-B-32__openai");
      expect(loaded.clip?.embedDim).toBe(512);
      expect(loaded.tagger).not.toBeNull();
      const [embedding] = (await loaded.clip?.embedTexts(["a red bicycle"])) ?? [];
      expect(embedding?.length).toBe(512);
    } finally {
      await loaded.clip?.close();
      await loaded.nsfw?.close();
    }
    expect(await listTree(dir)).toEqual(IMMICH_TREE);
    for (const file of ["visual/model.onnx", "textual/model.onnx", "textual/tokenizer.json"]) expect(await sha256(join(dir, file))).toBe(await sha256(join(immichSrc, file)));
    expect(await exists(`${dir}.partial`)).toBe(false);
    expect(await exists(`${dir}.lock`)).toBe(false);

    const api = hub.requests.filter((r) => r.path.startsWith("/api/"));
    expect(api.map((r) => r.path)).toEqual(["/api/models/immich-app/ViT-B-32__openai/revision/main"]);
    expect(api[0]?.authorization).toBe("Bearer hf_secret");
    const resolves = hub.requests.filter((r) => r.path.includes("/resolve/"));
    expect(resolves.every((r) => r.authorization === "Bearer hf_secret")).toBe(true);
    // Pinned to the listed commit, not "main".
    expect(resolves.every((r) => /\/resolve\/[0-9a-f]{40}\//.test(r.path))).toBe(true);
    const cdn = hub.requests.filter((r) => r.path.startsWith("/cdn/"));
    expect(cdn).toHaveLength(2);
    expect(cdn.every((r) => r.authorization === null)).toBe(true);
    expect(hub.requests.some((r) => r.path.includes("fp16") || r.path.includes("armnn") || r.path.includes("README"))).toBe(false);
    expect(logs.some((l) => l.msg.startsWith("downloading immich-app/ViT-B-32__openai"))).toBe(true);
  });

  it("a multilingual model (M-CLIP, SentencePiece tokenizer) downloads with its tokenizer config and answers queries in any language", async () => {
    const src = join(work, "src-mclip");
    await writeTestClipModel(src, { layout: "immich", textTower: "mclip", embedDim: 512, seed: 4 });
    await hub.addRepoFromDir("immich-app/XLM-Roberta-Large-Vit-B-32", src, IMMICH_EXTRAS);
    const dir = join(work, "models", "XLM-Roberta-Large-Vit-B-32");
    const settings = { CLIP_MODEL: "XLM-Roberta-Large-Vit-B-32", clipModelDir: dir, CLIP_MODEL_REVISION: "main", HF_ENDPOINT: hub.url, HF_TOKEN: "", HF_HUB_OFFLINE: false };
    expect(await ensureClipModel(settings, log)).toBeNull();
    expect(await listTree(dir)).toContain("textual/tokenizer_config.json");
    const [downloaded, original] = await Promise.all([loadClipModel(dir, { executionProviders: ["cpu"] }), loadClipModel(src, { executionProviders: ["cpu"] })]);
    try {
      const queries = ["ein rotes Fahrrad", "红色自行车", "a red bicycle"];
      const [a, b] = await Promise.all([downloaded.embedTexts(queries), original.embedTexts(queries)]);
      expect(a.map((e) => Array.from(e))).toEqual(b.map((e) => Array.from(e)));
      expect(Array.from(a[0] as Float32Array)).not.toEqual(Array.from(a[2] as Float32Array));
    } finally {
      await Promise.all([downloaded.close(), original.close()]);
    }
  });

  it("a second start finds the folder and asks the Hub nothing", async () => {
    const dir = join(work, "second-start");
    expect(await ensureClipModel(settings("ViT-B-32__openai", dir), log, quick)).toBeNull();
    hub.requests.length = 0;
    expect(await ensureClipModel(settings("ViT-B-32__openai", dir), log, quick)).toBeNull();
    expect(hub.requests).toEqual([]);
  });

  it("fetches the Hugging Face layout (onnx/ pair, configs, tokenizer) and skips the quantised and fp16 variants; loadClipModel reads it", async () => {
    const dir = join(work, "hf", "clip-test");
    expect(await ensureClipModel(settings("Xenova/clip-test", dir), log, quick)).toBeNull();
    expect(await listTree(dir)).toEqual(["config.json", "onnx/text_model.onnx", "onnx/vision_model.onnx", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"]);
    const clip = await loadClipModel(dir, { executionProviders: ["cpu"] });
    try {
      expect(clip.layout).toBe("hf");
      expect(clip.modelId).toBe("clip-test");
      expect((await clip.embedTexts(["harbour at dusk"]))[0]?.length).toBe(32);
    } finally {
      await clip.close();
    }
  });
});

describe("interrupted, corrupted and concurrent downloads", () => {
  it("a connection dropped mid-file is resumed with a Range request from the bytes already on disk", async () => {
    const dir = join(work, "dropped");
    hub.dropAfter.set("textual/model.onnx", 1_000_000);
    expect(await ensureClipModel(settings("ViT-B-32__openai", dir), log, quick)).toBeNull();
    const textual = hub.requests.filter((r) => r.file === "textual/model.onnx");
    expect(textual.map((r) => r.range)).toEqual([null, expect.stringMatching(/^bytes=\d+-$/)]);
    const resumedFrom = Number(/bytes=(\d+)-/.exec(textual[1]?.range ?? "")?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(1_000_000);
    expect(await sha256(join(dir, "textual/model.onnx"))).toBe(await sha256(join(immichSrc, "textual/model.onnx")));
  });

  it("a download killed part-way leaves no model folder, and the next start resumes the partial file with a Range request", async () => {
    const dir = join(work, "killed");
    hub.dropAfter.set("visual/model.onnx", 5_000);
    const reason = (await ensureClipModel(settings("ViT-B-32__openai", dir), log, { ...quick, attempts: 1 }))?.detail;
    expect(reason).toMatch(/the Hub is unreachable: .*failed 1 times.*the next start resumes it/);
    expect(await exists(dir)).toBe(false);
    expect(await exists(`${dir}.lock`)).toBe(false);
    const kept = await stat(join(`${dir}.partial`, "visual/model.onnx.incomplete"));
    expect(kept.size).toBeGreaterThan(0);

    hub.requests.length = 0;
    expect(await ensureClipModel(settings("ViT-B-32__openai", dir), log, quick)).toBeNull();
    const visual = hub.requests.filter((r) => r.file === "visual/model.onnx");
    expect(visual.map((r) => r.range)).toEqual([`bytes=${kept.size}-`]);
    expect(await sha256(join(dir, "visual/model.onnx"))).toBe(await sha256(join(immichSrc, "visual/model.onnx")));
  });

  it("a file whose sha256 differs from the listing is refused: no model folder, a reason naming the file", async () => {
    const dir = join(work, "corrupt");
    hub.corrupt.add("visual/model.onnx");
    const reason = (await ensureClipModel(settings("ViT-B-32__openai", dir), log, quick))?.detail;
    expect(reason).toMatch(/failed verification/);
    expect(reason).toMatch(/visual\/model\.onnx.*sha256/);
    expect(await exists(dir)).toBe(false);
    expect(await exists(join(`${dir}.partial`, "visual/model.onnx"))).toBe(false);
    expect(await exists(join(`${dir}.partial`, "visual/model.onnx.incomplete"))).toBe(false);
    const loaded = await loadClipModel(dir).then(
      () => "loaded",
      (error: Error) => error.message,
    );
    expect(loaded).toMatch(/does not exist/);
  });

  it("a small file whose git blob sha1 differs from the listing is refused too", async () => {
    const dir = join(work, "corrupt-small");
    hub.corrupt.add("config.json");
    const reason = (await ensureClipModel(settings("ViT-B-32__openai", dir), log, quick))?.detail;
    expect(reason).toMatch(/config\.json.*git blob/);
    expect(await exists(dir)).toBe(false);
  });

  it("two pulls at once: one downloads, the other waits on the lock, and one correct folder results", async () => {
    const dir = join(work, "concurrent", "ViT-B-32__openai");
    hub.chunkDelayMs = 2;
    const [a, b] = await Promise.all([ensureClipModel(settings("ViT-B-32__openai", dir), log, quick), ensureClipModel(settings("ViT-B-32__openai", dir), log, quick)]);
    expect([a, b]).toEqual([null, null]);
    expect(logs.some((l) => l.msg.includes("another process is downloading"))).toBe(true);
    // Each LFS file crossed the wire once.
    const cdn = hub.requests.filter((r) => r.path.startsWith("/cdn/")).map((r) => r.path);
    expect(cdn.length).toBe(2);
    expect(new Set(cdn).size).toBe(2);
    expect(await listTree(dir)).toEqual(IMMICH_TREE);
    expect(await readdir(join(work, "concurrent"))).toEqual(["ViT-B-32__openai"]);
    const clip = await loadClipModel(dir, { executionProviders: ["cpu"] });
    expect(clip.embedDim).toBe(512);
    await clip.close();
  });
});

describe("a listing that names paths outside the repository", () => {
  it("is refused before anything is written, and no file lands outside the model folder", async () => {
    const src = join(work, "escape-src");
    await writeTestClipModel(src, { layout: "immich", embedDim: 512, seed: 9 });
    await hub.addRepoFromDir("evil/escape", src, { "../../escape/visual/model.onnx": Buffer.from("not a model") });
    await expect(getRepoSnapshot("evil/escape", { endpoint: hub.url })).rejects.toMatchObject({ kind: "refused" });
    expect(await readdir(work)).not.toContain("escape");
    for (const path of ["a.onnx", "visual/model.onnx", "onnx/text_model.onnx"]) expect(isRepoPath(path), path).toBe(true);
    for (const path of ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\..\\b", "a\0b", ""]) expect(isRepoPath(path), JSON.stringify(path)).toBe(false);
  });
});

describe("the lock left by a process that died", () => {
  it("is taken over: a lock naming a dead process on this host does not block the download", async () => {
    const dir = join(work, "stale-lock", "ViT-B-32__openai");
    const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid as number;
    await mkdir(join(work, "stale-lock"), { recursive: true });
    await writeFile(`${dir}.lock`, JSON.stringify({ token: "old", pid: dead, host: hostname() }));
    expect(await ensureClipModel(settings("ViT-B-32__openai", dir), log, quick)).toBeNull();
    expect(await readdir(join(work, "stale-lock"))).toEqual(["ViT-B-32__openai"]);
  });
});

describe("no model to be had: one warning, CLIP off, the reason kept", () => {
  const base = {
    NSFW_MODEL_PATH: join(tmpdir(), "no-such-nsfw.onnx"),
    CLIP_MODEL_DIR: "",
    CLIP_MODEL_REVISION: "main",
    HF_TOKEN: "",
    HF_HUB_OFFLINE: false,
    CLIP_CACHE_DIR: "",
    CLIP_EXECUTION_PROVIDERS: ["cpu" as const],
    ORT_INTRA_OP_THREADS: 0,
  };

  it("401 (a wrong token): loadModels returns null CLIP with the Hub's refusal as the reason and logs one CLIP warning", async () => {
    hub.token = "right";
    const dir = join(work, "unauthorised");
    const loaded = await loadModels(
      { ...base, CLIP_MODEL: "ViT-B-32__openai", CLIP_MODEL_DIR: dir, HF_ENDPOINT: hub.url, HF_TOKEN: "wrong", CLIP_CACHE_DIR: join(work, "cc") },
      { maxBatch: 4, maxWaitMs: 0 },
      log,
    );
    expect(loaded.clip).toBeNull();
    expect(loaded.tagger).toBeNull();
    expect(loaded.clipUnavailable?.why).toBe("the Hub refused the download (check HF_TOKEN)");
    expect(loaded.clipUnavailable?.detail).toMatch(/immich-app\/ViT-B-32__openai from http.*HTTP 401 Invalid credentials/);
    expect(logs.filter((l) => l.level === "warn" && l.msg.startsWith("no CLIP model"))).toHaveLength(1);
    expect(await exists(dir)).toBe(false);
  });

  it("404 (a model the Hub does not have) and offline (nothing listening) give their own reasons and no folder", async () => {
    const missing = (await ensureClipModel(settings("ViT-B-16__openai", join(work, "missing")), log, quick))?.detail;
    expect(missing).toMatch(/immich-app\/ViT-B-16__openai from .*the model is not on the Hub: .*HTTP 404/);
    const offline = (await ensureClipModel(settings("ViT-B-32__openai", join(work, "offline"), { HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}` }), log, quick))?.detail;
    expect(offline).toMatch(/the Hub is unreachable: cannot reach .*ECONNREFUSED/);
    expect(await exists(join(work, "missing"))).toBe(false);
    expect(await exists(join(work, "offline"))).toBe(false);
  });

  it("HF_HUB_OFFLINE: no request at all, and the reason says how to fetch the model", async () => {
    const reason = (await ensureClipModel(settings("ViT-B-32__openai", join(work, "hub-offline"), { HF_HUB_OFFLINE: true }), log, quick))?.detail;
    expect(reason).toMatch(/HF_HUB_OFFLINE.*models:pull/);
    expect(hub.requests).toEqual([]);
  });
});

describe("progress display", () => {
  const p = { file: "visual/model.onnx", fileBytes: 500, fileSize: 1000, doneBytes: 500, totalBytes: 2000 };

  it("draws a bar on a terminal and ends the line when done", () => {
    let out = "";
    const stream = { isTTY: true, columns: 200, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
    const bar = progressReporter("ViT-B-32__openai", { stream });
    bar.progress(p);
    bar.done();
    expect(out).toMatch(/^\rViT-B-32__openai \[#+-+\]\s+25% 0\.0\/0\.0 MB .* visual\/model\.onnx/);
    expect(out.endsWith("\n")).toBe(true);
  });

  it("logs plain lines at most once per interval when stderr is not a terminal", () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
    const bar = progressReporter("m", { stream, intervalMs: 60_000, log: (msg) => lines.push(msg) });
    bar.progress(p);
    bar.progress({ ...p, doneBytes: 1500 });
    bar.done();
    expect(lines).toEqual(["downloading m: 25%"]);
  });
});
