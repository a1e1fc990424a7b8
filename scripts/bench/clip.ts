/**
 * `npm run bench:clip [model-dir]`: CLIP throughput and the query-embedding service's latency.
 *
 *   - images/s and texts/s by batch size 1, 8, 32 (CPU here; the execution provider is printed);
 *   - /embed/text p50/p99 under 20 concurrent clients, with dynamic batching on, and the same load
 *     one request at a time through the model (batching off) for the speed-up;
 * Default model: .data/models/vit-b32-random (a full-size ViT-B/32 with RANDOM weights made by
 * scripts/models/export-vit-b32.py: right shapes and cost, meaningless embeddings). Falls back to the
 * small generated test model when that is missing, and says so.
 * Env: BENCH_SECONDS per measurement (default 4), BENCH_CLIENTS (20), BENCH_REQUESTS (400).
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startEmbedServer } from "../../gpu-worker/embed-server";
import { loadClipModel } from "../../gpu-worker/ml/clip";
import { writeTestClipModel } from "../models/make-test-clip";
import { recordFigures } from "./lib/figures";

recordFigures("clip");

const root = resolve(import.meta.dirname, "../..");
let dir = process.argv[2] ?? join(root, ".data/models/vit-b32-random");
let note = "ViT-B/32-shaped, random weights";
if (!existsSync(dir)) {
  dir = mkdtempSync(join(tmpdir(), "clip-bench-"));
  await writeTestClipModel(dir, { layout: "immich" });
  note = "SMALL generated test model (run scripts/models/export-vit-b32.py for the ViT-B/32 figures)";
}
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const clients = Number(process.env.BENCH_CLIENTS ?? 20);
const requests = Number(process.env.BENCH_REQUESTS ?? 400);

const QUERIES = [
  "sunset over the sea",
  "business team meeting",
  "a dog running on the beach",
  "healthy breakfast flat lay",
  "city skyline at night",
  "mountain lake reflection",
  "doctor with a patient",
  "abstract blue background",
];
const raster = (i: number) => {
  const data = Buffer.alloc(640 * 480 * 3);
  for (let p = 0; p < data.length; p++) data[p] = (p * (i + 7) + (p >> 9)) & 255;
  return { data, width: 640, height: 480, channels: 3 as const };
};

const maxBatch = Number(process.env.CLIP_MAX_BATCH ?? 8);
const model = await loadClipModel(dir, { maxBatch, maxWaitMs: 5, executionProviders: ["cpu"] });
console.log(`model: ${model.modelId} (${note}); provider ${model.provider}; ${model.embedDim} dimensions\n`);

async function rate(label: string, batch: number, run: () => Promise<unknown>) {
  await run();
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    await run();
    done += batch;
  }
  const perSecond = (done * 1000) / (performance.now() - started);
  console.log(`${label.padEnd(8)} batch ${String(batch).padStart(2)}: ${perSecond.toFixed(1).padStart(8)} /s`);
}

for (const batch of [1, 8, 16, 32]) {
  const images = Array.from({ length: batch }, (_, i) => raster(i));
  await rate("images", batch, () => model.embedImages(images));
}
for (const batch of [1, 8, 16, 32]) {
  const texts = Array.from({ length: batch }, (_, i) => `${QUERIES[i % QUERIES.length]} ${i}`);
  await rate("texts", batch, () => model.embedTexts(texts));
}

async function load(url: string): Promise<{ p50: number; p99: number; perSecond: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests) {
        const i = next++;
        const t0 = performance.now();
        const res = await fetch(`${url}/embed/text`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer bench" },
          body: JSON.stringify({ texts: [`${QUERIES[i % QUERIES.length]} ${i}`] }),
        });
        if (!res.ok) throw new Error(`embed/text answered ${res.status}`);
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const wall = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return { p50: latencies[Math.floor(latencies.length * 0.5)] as number, p99: latencies[Math.floor(latencies.length * 0.99)] as number, perSecond: (requests * 1000) / wall };
}

const batched = startEmbedServer({ port: 0, secret: "bench", clip: model, maxImagePixels: 50e6 });
const withBatching = await load(`http://127.0.0.1:${batched.port}`);
await batched.stop();
const single = await loadClipModel(dir, { maxBatch: 1, maxWaitMs: 0, executionProviders: ["cpu"] });
const unbatched = startEmbedServer({ port: 0, secret: "bench", clip: single, maxImagePixels: 50e6 });
const withoutBatching = await load(`http://127.0.0.1:${unbatched.port}`);
await unbatched.stop();

console.log(`\n/embed/text, ${clients} concurrent clients, ${requests} requests:`);
console.log(`  dynamic batching (≤${maxBatch}, 5 ms): p50 ${withBatching.p50.toFixed(1)} ms, p99 ${withBatching.p99.toFixed(1)} ms, ${withBatching.perSecond.toFixed(0)} req/s`);
console.log(`  one at a time:                p50 ${withoutBatching.p50.toFixed(1)} ms, p99 ${withoutBatching.p99.toFixed(1)} ms, ${withoutBatching.perSecond.toFixed(0)} req/s`);
console.log(`  speed-up from batching:       ${(withBatching.perSecond / withoutBatching.perSecond).toFixed(2)}x throughput`);
await model.close();
await single.close();
