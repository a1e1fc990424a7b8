/**
 * The migration benchmark: `bun run migrate` (migrate/main.ts) on generated folders, each run on a
 * fresh local stack (`npm start` without its worker, a new database, empty local R2), and prints:
 *   - images per hour for 12-megapixel JPEGs with ML (NSFW + CLIP ViT-B/32 + tags) and without;
 *   - the share of time per stage (the command's own per-stage wall and CPU times);
 *   - peak memory, and resident memory sampled through the run for 1,000 and 10,000 files (1 MP
 *     JPEGs, no ML: the walk, queues and batches must keep memory flat as the folder grows);
 *   - the projected time for 5,000,000 images on this 2-core machine and, as a projection only, on
 *     a GPU host (ML moved to the GPU, the CPU stages spread over its cores).
 *
 * Folders are generated once under .tmp/bench-migrate (make-folder.ts) and reused. The database is
 * a new one on the PostgreSQL server in BENCH_SERVER_URL (default postgres://postgres@127.0.0.1:5433,
 * scripts/ci/start-postgres.sh) per run, as production writes to Neon; CLIP is the full-size
 * random-weight ViT-B/32 in .data/models/vit-b32-random when present (scripts/models), else the
 * small test model (and the ML figures say so).
 *
 *   bun scripts/bench/migrate/run.ts [--files 200] [--memory 1000,10000] [--only ml,no-ml,memory] [--gpu-cores 16]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../../lib/free-port";
import { writeTestClipModel } from "../../models/make-test-clip";
import { recordFigures } from "../lib/figures";
import { openBenchDatabase } from "../search/db";
import { makeBenchFolder } from "./make-folder";

recordFigures("migrate");

const { values: args } = parseArgs({
  options: { files: { type: "string" }, memory: { type: "string" }, only: { type: "string" }, "gpu-cores": { type: "string" } },
});
const FILES = Number(args.files ?? 200);
const MEMORY_SIZES = (args.memory ?? "1000,10000").split(",").map(Number);
const ONLY = new Set((args.only ?? "ml,no-ml,memory").split(","));
const GPU_CORES = Number(args["gpu-cores"] ?? 16);
const root = resolve(import.meta.dirname, "../../..");
const work = join(root, ".tmp/bench-migrate");
const serverUrl = process.env.BENCH_SERVER_URL ?? "postgres://postgres@127.0.0.1:5433";

type Summary = {
  files: { done: number; failed: number; skipped: number; duplicates: number };
  elapsedMs: number;
  imagesPerHour: number;
  stages: Record<string, { wallMs: number; cpuMs: number }>;
  peakRssMb: number;
};
type Run = { summary: Summary; rssSamplesMb: number[] };

/** A new empty database on the bench server, made over the project's own driver and proxy. */
async function freshDatabase(name: string): Promise<string> {
  const admin = await openBenchDatabase(`${serverUrl}/postgres`, 1);
  try {
    await admin.pool.query(`drop database if exists ${name}`);
    await admin.pool.query(`create database ${name}`);
  } finally {
    await admin.close();
  }
  return `${serverUrl}/${name}`;
}

/** `npm start` without the worker on a fresh data folder and database; returns its env and a stop. */
async function startStack(databaseUrl: string) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "migrate-bench-"));
  const stack = spawn(process.execPath, ["scripts/start.ts"], {
    cwd: root,
    env: { ...process.env, PORT: String(port), EDGESTOCK_DATA_DIR: dataDir, EDGESTOCK_WORKER: "0", DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let log = "";
  stack.stdout?.on("data", (d) => (log += d));
  stack.stderr?.on("data", (d) => (log += d));
  for (const deadline = Date.now() + 120_000; !log.includes("Edgestock is running at"); ) {
    if (Date.now() > deadline || stack.exitCode !== null) throw new Error(`the stack did not start:\n${log}`);
    await Bun.sleep(200);
  }
  const url = `http://127.0.0.1:${port}`;
  const email = `bench-${Date.now()}@example.test`;
  const register = await fetch(`${url}/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "bench password 123", displayName: "Back catalogue", role: "contributor" }),
  });
  if (register.status !== 201) throw new Error(`registering the contributor: ${register.status} ${await register.text()}`);
  const stop = async () => {
    const exited = new Promise((done) => stack.once("exit", done));
    try {
      if (stack.pid) process.kill(-stack.pid, "SIGINT");
    } catch {}
    await Promise.race([exited, Bun.sleep(15_000)]);
    Bun.spawnSync(["pkill", "-9", "-f", dataDir]);
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { dataDir, email, stop };
}

/** Resident memory of a process in MB (Linux /proc), or null once it has exited. */
function rssMb(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
    return line ? Number(line[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function migrate(name: string, folder: string, options: { ml: boolean; clipDir: string }): Promise<Run> {
  const databaseUrl = await freshDatabase(`edgestock_bench_migrate_${name.replace(/\W/g, "_")}`);
  const stack = await startStack(databaseUrl);
  try {
    const summaryPath = join(stack.dataDir, "summary.json");
    const child: ChildProcess = spawn(
      "node_modules/.bin/bun",
      ["migrate/main.ts", folder, "--contributor", stack.email, "--summary-json", summaryPath, "--report", join(stack.dataDir, "report.csv"), ...(options.ml ? [] : ["--no-ml"])],
      {
        cwd: root,
        env: {
          ...process.env,
          EDGESTOCK_DATA_DIR: stack.dataDir,
          CLIP_MODEL_DIR: options.clipDir,
          CLIP_CACHE_DIR: join(stack.dataDir, "clip-cache"),
          CLIP_EXECUTION_PROVIDERS: "cpu",
          MIGRATE_PROGRESS_MS: "10000",
        },
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    const samples: number[] = [];
    const sampler = setInterval(() => {
      const mb = child.pid ? rssMb(child.pid) : null;
      if (mb !== null) samples.push(mb);
    }, 1000);
    const code = await new Promise<number | null>((done) => child.once("exit", done));
    clearInterval(sampler);
    // 1: some files failed (they are in the report, printed here); anything else is the bench's failure.
    if (code !== 0 && code !== 1) throw new Error(`${name}: migrate exited with ${code}`);
    if (code === 1) console.log(`${name}: failed files:\n${readFileSync(join(stack.dataDir, "report.csv"), "utf8").split("\n").slice(0, 6).join("\n")}`);
    return { summary: JSON.parse(readFileSync(summaryPath, "utf8")) as Summary, rssSamplesMb: samples };
  } finally {
    await stack.stop();
  }
}

const perHour = (s: Summary) => s.imagesPerHour;
const hours = (images: number, rate: number) => images / rate;
const fmtHours = (h: number) => (h >= 48 ? `${(h / 24).toFixed(1)} days` : `${h.toFixed(1)} h`);

function stageTable(s: Summary) {
  const total = Object.values(s.stages).reduce((sum, t) => sum + t.cpuMs, 0);
  const done = Math.max(1, s.files.done);
  for (const [stage, t] of Object.entries(s.stages).sort((a, b) => b[1].cpuMs - a[1].cpuMs)) {
    console.log(
      `  ${stage.padEnd(10)} ${(t.cpuMs / done).toFixed(1).padStart(8)} CPU ms/image  ${((100 * t.cpuMs) / Math.max(1, total)).toFixed(1).padStart(5)} %   wall ${(t.wallMs / done).toFixed(1)} ms/image`,
    );
  }
}

let clipDir = join(root, ".data/models/vit-b32-random");
let clipNote = "CLIP ViT-B/32 shape, random weights (real cost)";
if (!existsSync(clipDir)) {
  clipDir = join(work, "test-clip");
  if (!existsSync(clipDir)) await writeTestClipModel(clipDir, { layout: "immich", embedDim: 512 });
  clipNote = "SMALL test CLIP model: the ML figures understate a real model (see scripts/models)";
}

const results: Record<string, Run> = {};
if (ONLY.has("ml") || ONLY.has("no-ml")) {
  const started = performance.now();
  const folder = await makeBenchFolder(join(work, "12mp"), { count: FILES, megapixels: 12 });
  console.log(`folder: ${FILES} generated 12-megapixel JPEGs (ready in ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  for (const ml of [true, false]) {
    if (!ONLY.has(ml ? "ml" : "no-ml")) continue;
    const run = await migrate(ml ? "12mp_ml" : "12mp_no_ml", folder, { ml, clipDir });
    results[ml ? "ml" : "no-ml"] = run;
    const s = run.summary;
    console.log(`\n12 MP, ${ml ? `with ML (NSFW + ${clipNote})` : "without ML"}: ${s.files.done} done, ${s.files.failed} failed in ${(s.elapsedMs / 1000).toFixed(1)} s`);
    console.log(`  ${perHour(s).toFixed(0)} images/hour, peak RSS ${s.peakRssMb.toFixed(0)} MB`);
    stageTable(s);
  }
}

if (ONLY.has("memory")) {
  console.log("\nmemory as the folder grows (1 MP JPEGs, without ML):");
  for (const count of MEMORY_SIZES) {
    const folder = await makeBenchFolder(join(work, `1mp-${count}`), { count, megapixels: 1 });
    const run = await migrate(`mem_${count}`, folder, { ml: false, clipDir });
    results[`memory-${count}`] = run;
    const samples = run.rssSamplesMb;
    const half = samples.slice(Math.floor(samples.length / 2));
    console.log(
      `  ${String(count).padStart(6)} files: ${run.summary.files.done} done in ${(run.summary.elapsedMs / 1000).toFixed(0)} s; RSS first half max ${Math.max(...samples.slice(0, Math.max(1, Math.floor(samples.length / 2)))).toFixed(0)} MB, second half max ${Math.max(...half).toFixed(0)} MB, peak ${run.summary.peakRssMb.toFixed(0)} MB`,
    );
  }
}

const withMl = results.ml?.summary;
const withoutMl = results["no-ml"]?.summary;
if (withMl && withoutMl) {
  const mlCpu = ["nsfw", "clip"].reduce((sum, stage) => sum + (withMl.stages[stage]?.cpuMs ?? 0), 0) / Math.max(1, withMl.files.done);
  const cpuPerImage = (2 * 3_600_000) / perHour(withoutMl); // core-ms per image without ML, on 2 cores
  const gpuRate = (GPU_CORES * 3_600_000) / cpuPerImage;
  console.log("\nprojection for 5,000,000 images:");
  console.log(`  this 2-core machine, with ML:    ${fmtHours(hours(5e6, perHour(withMl)))} (${perHour(withMl).toFixed(0)} images/hour measured)`);
  console.log(`  this 2-core machine, without ML: ${fmtHours(hours(5e6, perHour(withoutMl)))}`);
  console.log(
    `  a GPU host with ${GPU_CORES} cores (PROJECTION: ML on the GPU, ${mlCpu.toFixed(0)} CPU ms/image of ML leaves the cores, the other stages at this machine's ${cpuPerImage.toFixed(0)} core-ms/image spread over ${GPU_CORES} cores, uploads and Postgres assumed to keep up): about ${gpuRate.toFixed(0)} images/hour, ${fmtHours(hours(5e6, gpuRate))}`,
  );
}
process.exit(0);
