/**
 * `npm run bench:pipeline`: the image pipeline's cost per image on this machine.
 *
 * Generates a 24-megapixel JPEG (6000x4000, quality 90, noise over a gradient), then measures:
 *   - CPU ms of each step, run one after another (libvips pinned to one thread, so CPU ms is core time);
 *   - the whole pipeline (validation, hashes, metadata, colours, 4 renditions, both watermarks): CPU ms,
 *     wall ms, and images per second per core;
 *   - the floor: a bare sharp decode plus one 1000 px WebP encode of the same file;
 *   - the NSFW classifier (ML, reported separately) on the working decode.
 * Env: BENCH_RUNS (default 8), BENCH_MP (megapixels, default 24).
 */
import sharp from "sharp";
import { DEFAULT_NSFW_MODEL_PATH } from "../../gpu-worker/config";
import { loadNsfwModel } from "../../gpu-worker/ml/nsfw";
import { analyseImage, renderDerivatives, WEBP_EFFORT } from "../../gpu-worker/pipeline/index";
import { recordFigures } from "./lib/figures";

recordFigures("pipeline");

const runs = Number(process.env.BENCH_RUNS ?? 8);
const megapixels = Number(process.env.BENCH_MP ?? 24);
const width = Math.round(Math.sqrt((megapixels * 1e6 * 3) / 2));
const height = Math.round((width * 2) / 3);
sharp.concurrency(1);
sharp.cache(false);

async function makeJpeg(): Promise<Buffer> {
  const noise = await sharp({ create: { width, height, channels: 3, background: "#808080", noise: { type: "gaussian", mean: 128, sigma: 40 } } })
    .raw()
    .toBuffer();
  const gradient = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1d4e89"/><stop offset="0.5" stop-color="#f2a541"/><stop offset="1" stop-color="#2a9d8f"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`,
  );
  return sharp(noise, { raw: { width, height, channels: 3 } })
    .composite([{ input: await sharp(gradient).png().toBuffer(), blend: "soft-light" }])
    .jpeg({ quality: 90 })
    .toBuffer();
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function measure<T>(work: () => Promise<T>): Promise<{ cpu: number; wall: number; result: T }> {
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  const result = await work();
  return { cpu: cpuMs() - cpu0, wall: performance.now() - wall0, result };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const fmt = (n: number) => n.toFixed(1).padStart(8);

const jpeg = await makeJpeg();
console.log(`input: ${width}x${height} JPEG q90, ${(jpeg.length / 1e6).toFixed(1)} MB; ${runs} runs, medians; libvips on 1 thread; WebP effort ${WEBP_EFFORT}\n`);

// Warm up code paths and the watermark tile.
await renderDerivatives(await analyseImage(jpeg, "image/jpeg", { maxInputPixels: 150e6, sequential: true }), crypto.randomUUID());

const stageCpu: Record<string, number[]> = {};
const whole: { cpu: number[]; wall: number[] } = { cpu: [], wall: [] };
for (let i = 0; i < runs; i++) {
  const { cpu, wall, result } = await measure(async () => {
    const image = await analyseImage(jpeg, "image/jpeg", { maxInputPixels: 150e6, sequential: true });
    await renderDerivatives(image, crypto.randomUUID());
    return image;
  });
  whole.cpu.push(cpu);
  whole.wall.push(wall);
  for (const [stage, ms] of Object.entries(result.cpuTimings)) (stageCpu[stage] ??= []).push(ms);
}

const floor: { cpu: number[]; wall: number[] } = { cpu: [], wall: [] };
for (let i = 0; i < runs; i++) {
  const { cpu, wall } = await measure(() => sharp(jpeg).resize(1000, 1000, { fit: "inside" }).webp({ quality: 80, effort: WEBP_EFFORT }).toBuffer());
  floor.cpu.push(cpu);
  floor.wall.push(wall);
}

// Throughput as the worker runs it: WORKER_CONCURRENCY images at a time (default 2), one libvips thread each.
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 2);
const parallel = await measure(async () => {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < runs) await renderDerivatives(await analyseImage(jpeg, "image/jpeg", { maxInputPixels: 150e6 }), crypto.randomUUID());
    }),
  );
});

let nsfwMs: number | null = null;
try {
  const model = await loadNsfwModel(process.env.NSFW_MODEL_PATH || DEFAULT_NSFW_MODEL_PATH, { intraOpNumThreads: 1 });
  const image = await analyseImage(jpeg, "image/jpeg", { maxInputPixels: 150e6 });
  await model.score([image.working]);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await measure(() => model.score([image.working]))).cpu);
  nsfwMs = median(times);
  await model.close();
} catch (error) {
  console.log(`NSFW model not measured: ${(error as Error).message}`);
}

console.log("step                 CPU ms / image");
for (const [stage, values] of Object.entries(stageCpu)) console.log(`${stage.padEnd(20)} ${fmt(median(values))}`);
const wholeCpu = median(whole.cpu);
const floorCpu = median(floor.cpu);
console.log(`${"whole pipeline".padEnd(20)} ${fmt(wholeCpu)}   (wall ${median(whole.wall).toFixed(1)} ms)`);
console.log(`${"floor".padEnd(20)} ${fmt(floorCpu)}   (sharp decode + one 1000 px WebP; wall ${median(floor.wall).toFixed(1)} ms)`);
console.log(`\nratio whole / floor:          ${(wholeCpu / floorCpu).toFixed(2)}x (aim: within 1.6x)`);
console.log(`images per second per core:   ${(1000 / wholeCpu).toFixed(2)}`);
console.log(`throughput, ${concurrency} at a time:     ${((runs * 1000) / parallel.wall).toFixed(2)} images/s on this machine`);
if (nsfwMs !== null) console.log(`ML (reported apart): NSFW     ${nsfwMs.toFixed(1)} CPU ms / image (onnxruntime, 1 thread)`);
