import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { count, sql } from "drizzle-orm";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { derivativeKey, originalKey, privateRenditionKey, RENDITIONS, type RenditionName } from "../../common/images";
import { seededRandom } from "../../common/random";
import { type ListedObject, S3Client } from "../../common/s3";
import { connectDatabase } from "../../db/connect";
import { embeddingsOf } from "../../db/embedding-models";
import { imageCategories, imageEmbeddings, images, imageTags, migrationFiles, migrationManifest } from "../../db/schema";
import { imageIdFor } from "../../migrate/ids";
import { writeTestClipModel } from "../../scripts/models/make-test-clip";
import { fetchRetrying } from "../support/http";
import { type ImageLibrary, writeImageLibrary } from "../support/image-library";
import { runNpmStart } from "../support/stack";

/**
 * The batch migration (`bun run migrate`) end to end: two local stacks (`npm start` without its
 * worker), one migrated in a single run (A) and one killed with SIGKILL at three random points and
 * then finished (B), over the same generated folder of a few hundred images with corrupt files,
 * copies, files that are not images, IPTC/XMP text and a manifest. Real PGlite, real local R2 (read
 * back through ListObjectsV2), real sharp and onnxruntime (a generated CLIP model, the NSFW model).
 *
 * The kill points come from a seed, printed when a test fails: MIGRATE_TEST_SEED=<seed> repeats them.
 */

const SEED = Number(process.env.MIGRATE_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
const seedNote = `MIGRATE_TEST_SEED=${SEED}`;
console.log(`migrate e2e: ${seedNote}`);

const work = mkdtempSync(join(tmpdir(), "edgestock-migrate-"));
const folder = join(work, "photos");
const clipDir = join(work, "clip");
let library: ImageLibrary;

type StackInfo = { url: string; databaseUrl: string; databaseProxy: string; workerEnv: Record<string, string> };
type Stack = {
  name: string;
  dataDir: string;
  child: ChildProcess;
  output: () => string;
  info: StackInfo;
  db: ReturnType<typeof connectDatabase>["db"];
  pool: ReturnType<typeof connectDatabase>["pool"];
  s3: S3Client;
  contributor: { id: string; email: string };
};
const stacks: Stack[] = [];
/** Every migration process started, so none outlives the file. */
const runs: ChildProcess[] = [];

/** `npm start` on a fresh data folder, as a new user starts it, without the GPU worker. */
async function startStack(name: string): Promise<Stack> {
  const dataDir = join(work, `stack-${name}`);
  const { child, output } = await runNpmStart(dataDir, { EDGESTOCK_WORKER: "0" });
  const partial = { name, dataDir, child, output } as Stack;
  stacks.push(partial);
  const info = JSON.parse(readFileSync(join(dataDir, "stack.json"), "utf8")) as StackInfo;
  // neonConfig (the proxy) is global to the process: the last stack's proxy serves both databases,
  // which it can, as it forwards to any loopback Postgres. Both stacks live until afterAll.
  const { db, pool } = connectDatabase(info.databaseUrl, { localProxy: info.databaseProxy, webSocket: WebSocket });
  const s3 = new S3Client({
    endpoint: info.workerEnv.R2_S3_ENDPOINT as string,
    accessKeyId: info.workerEnv.R2_ACCESS_KEY_ID as string,
    secretAccessKey: info.workerEnv.R2_SECRET_ACCESS_KEY as string,
  });
  const email = `migrator-${name}@example.test`;
  const registered = await fetchRetrying(`${info.url}/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "migration test 123", displayName: `Archive ${name}`, role: "contributor" }),
  });
  expect(registered.status, await registered.clone().text()).toBe(201);
  const { user } = (await registered.json()) as { user: { id: string } };
  return Object.assign(partial, { info, db, pool, s3, contributor: { id: user.id, email } });
}

beforeAll(async () => {
  library = await writeImageLibrary(folder, { seed: SEED });
  // A small generated CLIP model (right names and shapes, random weights) so the ML steps run for real.
  await writeTestClipModel(clipDir, { layout: "immich", embedDim: 512 });
  // One after the other: two starts at once would compete for the two cores while booting.
  await startStack("a");
  await startStack("b");
});

afterAll(async () => {
  for (const run of runs) if (run.exitCode === null && run.signalCode === null && run.pid) process.kill(-run.pid, "SIGKILL");
  for (const stack of stacks) await stack.pool?.end().catch(() => undefined);
  for (const stack of stacks) {
    if (stack.child.exitCode === null && stack.child.pid) {
      // As Ctrl-C does: the whole process group, so npm start stops wrangler, workerd and itself.
      const exited = new Promise((done) => stack.child.once("exit", done));
      process.kill(-stack.child.pid, "SIGINT");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    }
    // Anything still naming the data folder (wrangler, workerd) must not outlive the test.
    spawnSync("pkill", ["-9", "-f", stack.dataDir]);
  }
  rmSync(work, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------------
// Running the command
// ------------------------------------------------------------------------------------------------

type Finished = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** `bun migrate/main.ts <args>` against a stack (its stack.json supplies the database and R2). */
function startMigrate(stack: Stack, args: string[]) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EDGESTOCK_DATA_DIR: stack.dataDir,
    CLIP_MODEL_DIR: clipDir,
    CLIP_CACHE_DIR: join(work, "clip-cache"),
    CLIP_EXECUTION_PROVIDERS: "cpu",
    MIGRATE_PROGRESS_MS: "250",
  };
  delete env.DATABASE_URL;
  const child = spawn("node_modules/.bin/bun", ["migrate/main.ts", ...args], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  runs.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  const done = new Promise<Finished>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, log: () => `${stdout}\n${stderr}` };
}

const baseArgs = (stack: Stack, extra: string[] = []) => [
  folder,
  "--contributor",
  stack.contributor.email,
  "--manifest",
  library.manifest.csv,
  "--batch",
  "8",
  "--concurrency",
  "2",
  ...extra,
];

async function migrate(stack: Stack, extra: string[] = [], args = baseArgs(stack, extra)): Promise<Finished> {
  return startMigrate(stack, args).done;
}

// ------------------------------------------------------------------------------------------------
// Reading what a stack holds
// ------------------------------------------------------------------------------------------------

const rel = (path: string) => relative(folder, resolve(folder, path)).split("\\").join("/");

/** Every object in a bucket, by key, through ListObjectsV2. */
async function bucketListing(stack: Stack, bucket: string): Promise<Map<string, ListedObject>> {
  const out = new Map<string, ListedObject>();
  for await (const object of stack.s3.listAllObjects(bucket, { pageSize: 250 })) out.set(object.key, object);
  return out;
}

const ORIGINALS = "edgestock-originals";
const DERIVATIVES = "edgestock-derivatives";

/**
 * Everything a migration writes, comparable between stacks: contributor ids replaced by a marker,
 * timestamps dropped, floats (embeddings, scores, confidences) kept apart to compare within 1e-5.
 */
async function snapshot(stack: Stack) {
  const me = stack.contributor.id;
  const anonymise = (text: string | null) => text?.replaceAll(me, "<contributor>") ?? null;
  const imageRows = (await stack.db.select().from(images)).sort((a, b) => a.id.localeCompare(b.id));
  const listed = imageRows.map(({ createdAt, updatedAt, uploadedAt, publishedAt, nsfwScore, contributorId, originalKey, ...rest }) => ({
    ...rest,
    contributorId: anonymise(contributorId),
    originalKey: anonymise(originalKey),
    published: publishedAt !== null,
  }));
  const vectors = new Map((await stack.db.select().from(imageEmbeddings)).map((row) => [row.imageId, row.embedding]));
  const floats = new Map(imageRows.map((row) => [row.id, { embedding: vectors.get(row.id) ?? null, nsfwScore: row.nsfwScore }]));
  const tagRows = (await stack.db.select().from(imageTags)).sort((a, b) => a.imageId.localeCompare(b.imageId) || a.tag.localeCompare(b.tag));
  const categoryRows = (await stack.db.select().from(imageCategories)).sort((a, b) => a.imageId.localeCompare(b.imageId) || a.categorySlug.localeCompare(b.categorySlug));
  const checkpoint = Object.fromEntries(
    (await stack.db.select().from(migrationFiles))
      .map((row) => [rel(row.sourcePath), { stage: row.stage, imageId: row.imageId, error: row.error, duplicate: row.duplicate, sha256: row.sha256, bytes: row.bytes }] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  const objects = async (bucket: string) =>
    Object.fromEntries(
      [...(await bucketListing(stack, bucket)).values()]
        .map((o) => [anonymise(o.key) as string, { size: o.size, etag: o.etag }])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
    );
  return {
    images: listed,
    floats,
    tags: tagRows.map(({ confidence, ...rest }) => rest),
    tagConfidences: tagRows.map((row) => row.confidence),
    categories: categoryRows.map(({ confidence, ...rest }) => rest),
    categoryConfidences: categoryRows.map((row) => row.confidence),
    checkpoint,
    originals: await objects(ORIGINALS),
    derivatives: await objects(DERIVATIVES),
  };
}

type Snapshot = Awaited<ReturnType<typeof snapshot>>;

function expectClose(actual: (number | null)[], expected: (number | null)[], what: string) {
  expect(actual.length, what).toBe(expected.length);
  for (const [i, value] of expected.entries()) {
    if (value === null) expect(actual[i], `${what}[${i}]`).toBeNull();
    else expect(Math.abs((actual[i] ?? Number.NaN) - value), `${what}[${i}]: ${actual[i]} vs ${value}`).toBeLessThanOrEqual(1e-5);
  }
}

function expectSameContents(actual: Snapshot, expected: Snapshot, note: string) {
  expect(actual.checkpoint, `checkpoint (${note})`).toEqual(expected.checkpoint);
  expect(actual.images, `images (${note})`).toEqual(expected.images);
  expect(actual.tags, `image_tags (${note})`).toEqual(expected.tags);
  expect(actual.categories, `image_categories (${note})`).toEqual(expected.categories);
  expectClose(actual.tagConfidences, expected.tagConfidences, `tag confidences (${note})`);
  expectClose(actual.categoryConfidences, expected.categoryConfidences, `category confidences (${note})`);
  for (const [id, { embedding, nsfwScore }] of expected.floats) {
    const other = actual.floats.get(id);
    expectClose([other?.nsfwScore ?? null], [nsfwScore], `nsfw score of ${id} (${note})`);
    expectClose(other?.embedding ?? [], embedding ?? [], `embedding of ${id} (${note})`);
  }
  expect(actual.originals, `originals bucket (${note})`).toEqual(expected.originals);
  expect(actual.derivatives, `derivatives bucket (${note})`).toEqual(expected.derivatives);
}

/** RFC 4180: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") row.push(field), (field = "");
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field), rows.push(row), (row = []), (field = "");
    } else field += ch;
  }
  if (field !== "" || row.length > 0) row.push(field), rows.push(row);
  return rows;
}

/** What `--summary-json` wrote. */
const summaryOf = (name: string) => JSON.parse(readFileSync(join(work, name), "utf8")) as { files: Record<string, number>; failuresReported: number; stoppedBy: string | null };

const REASONS: Record<ImageLibrary["corrupt"][number]["kind"], RegExp> = {
  // Read from the bytes (no end-of-image marker), so the same in every run whatever else decodes.
  "truncated jpeg": /^the image is truncated \(it ends before its end-of-image marker\)$/,
  "random bytes": /not a JPEG, PNG, TIFF, WebP or AVIF/,
  empty: /empty/,
  text: /not a JPEG, PNG, TIFF, WebP or AVIF/,
};

const renditionKeys = (id: string) => (Object.keys(RENDITIONS) as RenditionName[]).map((name) => derivativeKey(id, name));

// ------------------------------------------------------------------------------------------------

describe("an uninterrupted migration (stack A)", () => {
  let first: Finished;
  let afterFirst: Snapshot;

  it("lists every good image exactly once, with the original and four renditions in R2", async () => {
    const a = stacks[0] as Stack;
    const report = join(work, "report-a.csv");
    first = await migrate(a, ["--report", report, "--summary-json", join(work, "summary-a.json")]);
    const log = `${first.stdout}\n${first.stderr}`;
    // Exit 1: the corrupt files failed.
    afterFirst = await snapshot(a);
    expect(first.code, log).toBe(1);
    expect(summaryOf("summary-a.json")).toMatchObject({
      files: { done: library.images.length, duplicates: library.duplicates.length, failed: library.corrupt.length, skipped: 0 },
      failuresReported: library.corrupt.length,
      stoppedBy: null,
    });

    const rows = await a.db.select().from(images);
    const expectedIds = library.images.map((image) => imageIdFor(image.sha256));
    expect(rows.map((row) => row.id).sort()).toEqual([...expectedIds].sort());
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const image of library.images) {
      const id = imageIdFor(image.sha256);
      const row = byId.get(id);
      expect(row, image.path).toMatchObject({
        contributorId: a.contributor.id,
        sha256: image.sha256,
        width: image.width,
        height: image.height,
        format: image.format,
        bytes: image.bytes,
        stage: "done",
        mlStatus: "done",
        duplicateOf: null,
        originalKey: originalKey(a.contributor.id, id, image.contentType),
      });
      expect(Object.values(row?.derivativeKeys ?? {}).sort(), image.path).toEqual(renditionKeys(id).sort());
      const [embedding] = await embeddingsOf(a.db, id);
      expect(embedding?.vector, image.path).toHaveLength(512);
      expect(Math.hypot(...(embedding?.vector ?? [])), image.path).toBeCloseTo(1, 4);
      // Moderated as a live upload is (the same NSFW threshold, 0.1 by default): listed only when clean.
      const clean = (row?.nsfwScore ?? 1) < 0.1;
      expect(row, image.path).toMatchObject(clean ? { status: "approved", statusReason: null } : { status: "pending_review", statusReason: expect.stringMatching(/NSFW score/) });
      expect(row?.publishedAt !== null, image.path).toBe(clean);
    }
    // The ML steps ran: AI tags beside the contributors'.
    const aiTags = await a.db.select().from(imageTags).where(sql`${imageTags.source} = 'ai'`);
    expect(new Set(aiTags.map((t) => t.imageId)).size).toBeGreaterThan(library.images.length / 2);

    const originals = await bucketListing(a, ORIGINALS);
    const derivatives = await bucketListing(a, DERIVATIVES);
    // Every image's renditions are kept privately beside its original; only listed (approved) images have public copies.
    expect([...originals.keys()].sort()).toEqual(
      [
        ...library.images.map((image) => originalKey(a.contributor.id, imageIdFor(image.sha256), image.contentType)),
        ...expectedIds.flatMap(renditionKeys).map(privateRenditionKey),
      ].sort(),
    );
    const listedIds = rows.filter((row) => row.status === "approved").map((row) => row.id);
    expect(listedIds.length).toBeGreaterThan(0);
    expect([...derivatives.keys()].sort()).toEqual(listedIds.flatMap(renditionKeys).sort());
    for (const image of library.images) {
      expect(originals.get(originalKey(a.contributor.id, imageIdFor(image.sha256), image.contentType))?.size, image.path).toBe(image.bytes);
    }
  });

  it("records every file in the checkpoint: good ones indexed, copies as duplicates of the one listing, corrupt ones failed with the reason, non-images not at all", async () => {
    const a = stacks[0] as Stack;
    const checkpoint = new Map((await a.db.select().from(migrationFiles)).map((row) => [rel(row.sourcePath), row]));
    const expectedPaths = [...library.images.map((i) => i.path), ...library.duplicates.map((d) => d.path), ...library.corrupt.map((c) => c.path)];
    expect([...checkpoint.keys()].sort()).toEqual(expectedPaths.sort());
    for (const ignored of library.ignored) expect(checkpoint.has(ignored), ignored).toBe(false);

    const copies = new Set(library.duplicates.flatMap((d) => [d.path, d.originalPath]));
    for (const image of library.images.filter((i) => !copies.has(i.path))) {
      expect(checkpoint.get(image.path), image.path).toMatchObject({
        stage: "indexed",
        imageId: imageIdFor(image.sha256),
        sha256: image.sha256,
        duplicate: false,
        error: null,
        bytes: image.bytes,
      });
    }
    // Which of two identical files is listed depends on the walk's order; exactly one is, the other points at it.
    for (const { path, originalPath } of library.duplicates) {
      const sha256 = library.images.find((i) => i.path === originalPath)?.sha256 as string;
      const pair = [checkpoint.get(path), checkpoint.get(originalPath)];
      for (const row of pair) expect(row, `${path} / ${originalPath}`).toMatchObject({ stage: "indexed", imageId: imageIdFor(sha256), sha256, error: null });
      expect(pair.map((row) => row?.duplicate).sort(), `${path} / ${originalPath}`).toEqual([false, true]);
    }
    for (const { path, kind } of library.corrupt) {
      const row = checkpoint.get(path);
      expect(row, path).toMatchObject({ stage: "failed", imageId: null });
      expect(row?.error, path).toMatch(REASONS[kind]);
    }

    const report = parseCsv(readFileSync(join(work, "report-a.csv"), "utf8"));
    expect(report[0]).toEqual(["path", "error"]);
    const reported = new Map(report.slice(1).map(([path, error]) => [rel(path as string), error as string]));
    expect([...reported.keys()].sort()).toEqual(library.corrupt.map((c) => c.path).sort());
    for (const { path, kind } of library.corrupt) expect(reported.get(path), path).toMatch(REASONS[kind]);
  });

  it("takes titles, descriptions, keywords, editorial and category from the manifest, else from the file's IPTC/XMP", async () => {
    const a = stacks[0] as Stack;
    const byId = new Map((await a.db.select().from(images)).map((row) => [row.id, row]));
    const tags = await a.db.select().from(imageTags);
    const categories = await a.db.select().from(imageCategories);
    const contributorTags = (id: string) =>
      tags
        .filter((t) => t.imageId === id && t.source === "contributor")
        .map((t) => t.tag)
        .sort();
    const tagged = { manifest: 0, xmp: 0, iptc: 0 };
    for (const image of library.images) {
      const id = imageIdFor(image.sha256);
      const row = byId.get(id);
      const text = image.manifest ?? image.embedded;
      if (image.manifest) {
        tagged.manifest++;
        expect(row, image.path).toMatchObject({ title: image.manifest.title, description: image.manifest.description ?? null, editorial: image.manifest.editorial });
        if (image.manifest.category)
          expect(
            categories.filter((c) => c.imageId === id).map((c) => c.categorySlug),
            image.path,
          ).toContain(image.manifest.category);
      } else if (image.embedded) {
        tagged[image.embedded.via]++;
        expect(row?.title, image.path).toBe(image.embedded.title);
        expect(row?.editorial, image.path).toBe(false);
      } else {
        expect(row?.title.trim(), image.path).not.toBe("");
      }
      expect(contributorTags(id), image.path).toEqual((text?.keywords ?? []).map((k) => k.toLowerCase()).sort());
      // tag_text mirrors image_tags (search ranks on it).
      expect(row?.tagText.split(" ").filter(Boolean).sort(), image.path).toEqual(
        tags
          .filter((t) => t.imageId === id)
          .flatMap((t) => t.tag.split(" "))
          .sort(),
      );
    }
    // The library exercises every source, including manifest rows that override embedded text.
    expect(tagged.manifest).toBeGreaterThan(20);
    expect(tagged.xmp).toBeGreaterThan(20);
    expect(tagged.iptc).toBeGreaterThan(5);
    expect(library.images.some((image) => image.manifest && image.embedded)).toBe(true);
  });

  it("changes nothing when run again: the same rows, untouched, and the same objects", async () => {
    const a = stacks[0] as Stack;
    const rawBefore = { files: await a.db.select().from(migrationFiles), images: await a.db.select({ id: images.id, updatedAt: images.updatedAt }).from(images) };
    const objectsBefore = [...(await bucketListing(a, ORIGINALS)).values(), ...(await bucketListing(a, DERIVATIVES)).values()];
    const again = await migrate(a, ["--report", join(work, "report-a2.csv"), "--summary-json", join(work, "summary-a2.json")]);
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(1);
    expect(summaryOf("summary-a2.json")).toMatchObject({
      files: { done: 0, duplicates: 0, failed: 0, skipped: library.images.length + library.duplicates.length + library.corrupt.length },
      failuresReported: library.corrupt.length,
    });
    expectSameContents(await snapshot(a), afterFirst, "second run");
    // Not rewritten either: the checkpoint and images rows keep their timestamps, objects their upload time.
    expect(await a.db.select().from(migrationFiles)).toEqual(rawBefore.files);
    expect(await a.db.select({ id: images.id, updatedAt: images.updatedAt }).from(images)).toEqual(rawBefore.images);
    const objectsAfter = [...(await bucketListing(a, ORIGINALS)).values(), ...(await bucketListing(a, DERIVATIVES)).values()];
    expect(objectsAfter).toEqual(objectsBefore);
  });
});

describe("a migration killed with SIGKILL three times, then finished (stack B)", () => {
  it("ends with the same database rows and bucket contents as the uninterrupted run", async () => {
    const a = stacks[0] as Stack;
    const b = stacks[1] as Stack;
    const random = seededRandom(SEED);
    const total = library.images.length + library.duplicates.length + library.corrupt.length;
    // Kill points: a share of the files finished (early, middle, late; the last leaves a few dozen to
    // go, so the run cannot end by itself first), then a delay that lands anywhere in a batch.
    const points = [0, 1, 2].map((k) => ({ finished: Math.floor(total * (k * 0.27 + random() * 0.27)), delayMs: Math.floor(random() * 1000) }));
    const finishedFiles = async () => Number((await b.db.select({ n: count() }).from(migrationFiles).where(sql`${migrationFiles.stage} in ('indexed', 'failed')`))[0]?.n ?? 0);

    const afterKills: Record<string, number>[] = [];
    for (const [k, point] of points.entries()) {
      const run = startMigrate(b, baseArgs(b));
      const deadline = Date.now() + 120_000;
      while ((await finishedFiles()) < point.finished) {
        if (run.child.exitCode !== null) throw new Error(`run ${k + 1} ended before its kill point ${JSON.stringify(point)} (${seedNote}):\n${run.log()}`);
        if (Date.now() > deadline) throw new Error(`run ${k + 1} did not reach ${point.finished} files (${seedNote}):\n${run.log()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, point.delayMs));
      process.kill(-(run.child.pid as number), "SIGKILL");
      const killed = await run.done;
      expect(killed.signal, `run ${k + 1} was killed, not finished (${seedNote}, kill point ${JSON.stringify(point)})`).toBe("SIGKILL");
      const stages = await b.db.select({ stage: migrationFiles.stage, n: count() }).from(migrationFiles).groupBy(migrationFiles.stage);
      afterKills.push(Object.fromEntries(stages.map((row) => [row.stage, row.n])));
      // Indexed means listed, at every instant: the checkpoint and the images table never disagree.
      const indexed = await b.db.select().from(migrationFiles).where(sql`${migrationFiles.stage} = 'indexed' and not ${migrationFiles.duplicate}`);
      const listed = await b.db.select({ id: images.id }).from(images);
      expect(listed.map((row) => row.id).sort(), `after kill ${k + 1} (${seedNote})`).toEqual(indexed.map((row) => row.imageId).sort());
    }

    const last = await migrate(b, ["--report", join(work, "report-b.csv")]);
    expect(last.code, `${last.stdout}\n${last.stderr}`).toBe(1);
    const note = `${seedNote}, kill points ${JSON.stringify(points)}, checkpoint stages after each kill ${JSON.stringify(afterKills)}`;
    console.log(note);
    expectSameContents(await snapshot(b), await snapshot(a), note);
  });

  it("--retry-failed re-runs only the failed files: a fixed one becomes listed, the others stay failed", async () => {
    const b = stacks[1] as Stack;
    const fixed = library.corrupt.find((c) => c.kind === "truncated jpeg")?.path as string;
    const bytes = await sharp({ create: { width: 96, height: 80, channels: 3, background: "#2a6f4e", noise: { type: "gaussian", mean: 100, sigma: 40 } } })
      .jpeg()
      .toBuffer();
    writeFileSync(join(folder, fixed), bytes);
    const id = imageIdFor(createHash("sha256").update(bytes).digest("hex"));
    const before = new Map((await b.db.select().from(migrationFiles)).map((row) => [rel(row.sourcePath), row]));
    const imagesBefore = await b.db.select({ id: images.id, updatedAt: images.updatedAt }).from(images);

    const retry = await migrate(b, ["--retry-failed", "--report", join(work, "report-b-retry.csv"), "--summary-json", join(work, "summary-b-retry.json")]);
    expect(retry.code, `${retry.stdout}\n${retry.stderr}`).toBe(1);
    expect(summaryOf("summary-b-retry.json")).toMatchObject({
      files: { done: 1, duplicates: 0, failed: library.corrupt.length - 1, skipped: 0 },
      failuresReported: library.corrupt.length - 1,
    });

    const after = new Map((await b.db.select().from(migrationFiles)).map((row) => [rel(row.sourcePath), row]));
    expect(after.get(fixed)).toMatchObject({ stage: "indexed", imageId: id, error: null, duplicate: false, attempts: 2 });
    for (const { path, kind } of library.corrupt.filter((c) => c.path !== fixed)) {
      expect(after.get(path), path).toMatchObject({ stage: "failed", imageId: null });
      expect(after.get(path)?.error, path).toMatch(REASONS[kind]);
    }
    // Nothing that had been indexed was touched.
    for (const [path, row] of before) if (row.stage === "indexed") expect(after.get(path), path).toEqual(row);
    const imagesAfter = await b.db.select({ id: images.id, updatedAt: images.updatedAt }).from(images);
    expect(imagesAfter.filter((row) => row.id !== id).sort((x, y) => x.id.localeCompare(y.id))).toEqual(imagesBefore.sort((x, y) => x.id.localeCompare(y.id)));
    expect(imagesAfter.map((row) => row.id)).toContain(id);
    const objects = [...(await bucketListing(b, DERIVATIVES)).keys()];
    expect(objects.filter((key) => key.startsWith(`images/${id}/`)).sort()).toEqual(renditionKeys(id).sort());

    const report = parseCsv(readFileSync(join(work, "report-b-retry.csv"), "utf8")).slice(1);
    expect(report.map(([path]) => rel(path as string)).sort()).toEqual(
      library.corrupt
        .filter((c) => c.path !== fixed)
        .map((c) => c.path)
        .sort(),
    );
  });
});

describe("a dry run", () => {
  it("writes nothing anywhere, and prints what it would do", async () => {
    const a = stacks[0] as Stack;
    const more = await writeImageLibrary(join(work, "more", "photos"), { count: 10, seed: SEED + 1 });
    const counts = async () => ({
      images: (await a.db.select({ n: count() }).from(images))[0]?.n,
      files: (await a.db.select({ n: count() }).from(migrationFiles))[0]?.n,
      manifest: (await a.db.select({ n: count() }).from(migrationManifest))[0]?.n,
      tags: (await a.db.select({ n: count() }).from(imageTags))[0]?.n,
      categories: (await a.db.select({ n: count() }).from(imageCategories))[0]?.n,
    });
    const before = { counts: await counts(), originals: await bucketListing(a, ORIGINALS), derivatives: await bucketListing(a, DERIVATIVES) };

    const dry = await migrate(a, [], [more.root, "--contributor", a.contributor.email, "--manifest", more.manifest.jsonl, "--dry-run"]);
    const log = `${dry.stdout}\n${dry.stderr}`;
    expect(dry.code, log).toBe(0);
    expect(await counts()).toEqual(before.counts);
    expect(await bucketListing(a, ORIGINALS)).toEqual(before.originals);
    expect(await bucketListing(a, DERIVATIVES)).toEqual(before.derivatives);
    // The images, their copies and the truncated JPEG pass the header check; random bytes, an empty file and text do not.
    expect(dry.stdout).toMatch(new RegExp(`would process:\\s+${more.images.length + more.duplicates.length + 1}\\n`));
    expect(dry.stdout).toMatch(/already done:\s+0\n/);
    expect(dry.stdout).toMatch(/unsupported:\s+3 /);
    for (const { path, kind } of more.corrupt) if (kind !== "truncated jpeg") expect(dry.stdout).toContain(join(more.root, path));
  });
});
