import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { and, eq, inArray } from "drizzle-orm";
import exifReader from "exif-reader";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { privateRenditionKey, uploadKeyOf } from "../../common/images";
import { S3Client } from "../../common/s3";
import { connectDatabase } from "../../db/connect";
import { embeddingsOf } from "../../db/embedding-models";
import { imageCategories, images, imageTags, jobs, licenses, users } from "../../db/schema";
import { detectWatermark } from "../../gpu-worker/pipeline/invisible-watermark";
import { writeTestClipModel } from "../../scripts/models/make-test-clip";
import { fetchRetrying } from "../support/http";
import { runNpmStart } from "../support/stack";
import { webpChunks } from "../support/webp";

/**
 * The pipeline end to end on the local stack: `npm start` without its worker (EDGESTOCK_WORKER=0),
 * and GPU worker processes this test starts, stops and kills. Real local R2 (through the S3
 * stand-in), the real queue (through the pull stand-in), real sharp and onnxruntime, real Postgres.
 */

const PHOTOS = resolve("test/fixtures/photos");

type Stack = { url: string; databaseUrl: string; databaseProxy: string; workerEnv: Record<string, string> };
let stack: ChildProcess;
let info: Stack;
const dataDir = mkdtempSync(join(tmpdir(), "edgestock-pipeline-"));
let db: ReturnType<typeof connectDatabase>["db"];
let pool: ReturnType<typeof connectDatabase>["pool"];
let s3: S3Client;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  ({ child: stack } = await runNpmStart(dataDir, { EDGESTOCK_WORKER: "0" }));
  info = JSON.parse(readFileSync(join(dataDir, "stack.json"), "utf8")) as Stack;
  ({ db, pool } = connectDatabase(info.databaseUrl, { localProxy: info.databaseProxy, webSocket: WebSocket }));
  // A small generated CLIP model (right names and shapes, random weights) so the ML steps run for real.
  await writeTestClipModel(join(dataDir, "clip"), { layout: "immich", embedDim: 512 });
  s3 = new S3Client({
    endpoint: info.workerEnv.R2_S3_ENDPOINT as string,
    accessKeyId: info.workerEnv.R2_ACCESS_KEY_ID as string,
    secretAccessKey: info.workerEnv.R2_SECRET_ACCESS_KEY as string,
  });
});

afterAll(async () => {
  for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
  await pool?.end();
  if (stack.exitCode === null && stack.pid) {
    // As Ctrl-C does: the whole process group, so npm start stops wrangler, workerd and itself.
    const exited = new Promise((done) => stack.once("exit", done));
    process.kill(-stack.pid, "SIGINT");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  }
  // Anything still naming the data folder (wrangler, workerd) must not outlive the test.
  spawnSync("pkill", ["-9", "-f", dataDir]);
  rmSync(dataDir, { recursive: true, force: true });
});

/** A GPU worker process, as `bun run worker` starts it, with test-sized timings. */
function startWorker(extra: Record<string, string> = {}) {
  let log = "";
  const child = spawn("node_modules/.bin/bun", ["gpu-worker/main.ts"], {
    env: {
      ...process.env,
      ...info.workerEnv,
      POLL_INTERVAL_MS: "100",
      RETRY_BASE_SECONDS: "0",
      EMBED_PORT: "0",
      CLIP_MODEL_DIR: join(dataDir, "clip"),
      CLIP_CACHE_DIR: join(dataDir, "clip-cache"),
      CLIP_EXECUTION_PROVIDERS: "cpu",
      HF_HUB_OFFLINE: "1",
      VISIBILITY_TIMEOUT_MS: "60000",
      MAX_INPUT_PIXELS: "40000000",
      ...extra,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  workers.push(child);
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  return { child, exited, log: () => log };
}

async function stopWorker(worker: ReturnType<typeof startWorker>) {
  worker.child.kill("SIGTERM");
  return worker.exited;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const call = (path: string, init: RequestInit & { token?: string; json?: unknown } = {}) =>
  fetchRetrying(info.url + path, {
    ...init,
    headers: { ...(init.json !== undefined ? { "content-type": "application/json" } : {}), ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
  });

async function register(role: "contributor" | "buyer"): Promise<{ token: string; userId: string }> {
  const res = await call("/v1/auth/register", {
    method: "POST",
    json: { email: `${role[0]}-${crypto.randomUUID()}@example.test`, password: "pipeline test 123", displayName: "C", role },
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { user: { id: string }; tokens: { accessToken: string } };
  return { token: body.tokens.accessToken, userId: body.user.id };
}

const contributor = async (): Promise<string> => (await register("contributor")).token;

/** An admin: registered as a contributor, promoted in the database (no route makes admins), signed in again. */
async function admin(): Promise<string> {
  const email = `a-${crypto.randomUUID()}@example.test`;
  const password = "pipeline test 123";
  expect((await call("/v1/auth/register", { method: "POST", json: { email, password, displayName: "A", role: "contributor" } })).status).toBe(201);
  await db.update(users).set({ role: "admin" }).where(eq(users.email, email));
  const res = await call("/v1/auth/login", { method: "POST", json: { email, password } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { tokens: { accessToken: string } }).tokens.accessToken;
}

type Ticket = { imageId: string; key: string; uploadUrl: string; headers: Record<string, string> };

/** Upload as a client does: ask for a ticket, PUT the bytes to the presigned URL, complete. */
async function uploadTicket(token: string, bytes: Uint8Array, contentType = "image/jpeg", title = "Pipeline test"): Promise<Ticket> {
  const start = await call("/v1/uploads", { method: "POST", token, json: { title, contentType, bytes: bytes.length, keywords: ["test"] } });
  expect(start.status, await start.clone().text()).toBe(201);
  const ticket = (await start.json()) as Ticket;
  const put = await fetch(ticket.uploadUrl, { method: "PUT", headers: ticket.headers, body: bytes });
  expect(put.status).toBe(200);
  const done = await call(`/v1/uploads/${ticket.imageId}/complete`, { method: "POST", token, json: {} });
  expect(done.status).toBe(200);
  return ticket;
}

const upload = async (...args: Parameters<typeof uploadTicket>): Promise<string> => (await uploadTicket(...args)).imageId;

type Status = { status: string; stage: string; reason: string | null; duplicateOf: string | null; attempts: number; derivatives: Record<string, string> };
const status = async (token: string, imageId: string) => (await (await call(`/v1/images/${imageId}/status`, { token })).json()) as Status;
const finished = (token: string, imageId: string, timeoutMs = 60_000) =>
  until(
    `image ${imageId} to finish`,
    async () => {
      const s = await status(token, imageId);
      return s.stage === "done" || s.stage === "failed" ? s : null;
    },
    timeoutMs,
  );

/** A camera JPEG of a sample photo, with EXIF and a GPS position. */
async function cameraJpeg(photo: string): Promise<Buffer> {
  const base = await sharp(resolve(PHOTOS, photo)).resize(1600, 1200, { fit: "fill" }).toBuffer();
  return sharp(base)
    .jpeg({ quality: 88 })
    .withExif({
      IFD0: { Make: "Nikon", Model: "Z 6II" },
      IFD3: { GPSLatitudeRef: "N", GPSLatitude: "48/1 51/1 2964/100", GPSLongitudeRef: "E", GPSLongitude: "2/1 17/1 4047/100" },
    })
    .toBuffer();
}

/** A photo-sized JPEG unlike any other: random coarse noise blown up into soft blobs (its own pHash). */
async function distinctJpeg(): Promise<Buffer> {
  const small = await sharp({ create: { width: 24, height: 18, channels: 3, background: "#808080", noise: { type: "gaussian", mean: 128, sigma: 70 } } })
    .png()
    .toBuffer();
  return sharp(small).resize(1600, 1200, { kernel: "cubic" }).jpeg({ quality: 88 }).toBuffer();
}

describe("the image pipeline on the local stack", () => {
  let token: string;
  let worker: ReturnType<typeof startWorker>;
  beforeAll(async () => {
    token = await contributor();
    worker = startWorker();
  });
  afterAll(async () => {
    expect(await stopWorker(worker)).toBe(0);
  });

  it("upload → complete → job → derivatives in R2 → row updated → approved", async () => {
    const jpeg = await cameraJpeg("astronaut.png");
    const imageId = await upload(token, jpeg);
    const result = await finished(token, imageId);
    expect(result, worker.log()).toMatchObject({ status: "approved", stage: "done", reason: null, attempts: 1 });
    expect(Object.keys(result.derivatives).sort()).toEqual(["preview", "thumb1000", "thumb150", "thumb450"]);
    for (const [name, url] of Object.entries(result.derivatives)) {
      const res = await fetchRetrying(url);
      expect(res.status, name).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/webp");
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      const bytes = Buffer.from(await res.arrayBuffer());
      const meta = await sharp(bytes).metadata();
      expect(meta.exif, `${name} has EXIF`).toBeUndefined();
      // Only the metadata chunks can carry a position: the VP8 data holds "GPS" by chance now and then.
      const chunks = webpChunks(bytes);
      expect(
        chunks.some((c) => ["VP8 ", "VP8L", "VP8X"].includes(c.type)),
        name,
      ).toBe(true);
      for (const chunk of chunks.filter((c) => c.type === "EXIF" || c.type === "XMP ")) {
        expect(chunk.type === "EXIF" ? exifReader(chunk.data).GPSInfo : undefined, `${name} EXIF GPS IFD`).toBeUndefined();
        expect(chunk.data.includes(Buffer.from("GPS")), `${name} ${chunk.type} mentions GPS`).toBe(false);
      }
      expect(
        chunks.filter((c) => c.type === "EXIF" || c.type === "XMP ").map((c) => c.type),
        name,
      ).toEqual([]);
      if (name === "preview") {
        // The invisible watermark carries the id through re-encoding and resizing.
        expect(await detectWatermark(await sharp(bytes).jpeg({ quality: 75 }).toBuffer())).toBe(imageId);
        expect(await detectWatermark(await sharp(bytes).resize(600).jpeg({ quality: 75 }).toBuffer())).toBe(imageId);
      }
    }
    const [row] = await db.select().from(images).where(eq(images.id, imageId));
    expect(row).toMatchObject({ width: 1600, height: 1200, format: "jpeg", bytes: jpeg.length, aspectRatio: 1.3333, mlStatus: "done" });
    // The CLIP embedding (unit length, under the worker's model, registered and active as the
    // catalogue's first), AI tags beside the contributor's, categories.
    const embeddings = await embeddingsOf(db, imageId);
    expect(embeddings.map((e) => [e.model, e.state, e.vector.length])).toEqual([["clip", "active", 512]]);
    expect(Math.hypot(...(embeddings[0]?.vector ?? []))).toBeCloseTo(1, 4);
    expect(embeddings[0]?.version).toMatch(/^onnx-sha256:/);
    const tags = await db.select().from(imageTags).where(eq(imageTags.imageId, imageId));
    expect(tags.find((t) => t.tag === "test")?.source).toBe("contributor");
    const ai = tags.filter((t) => t.source === "ai");
    expect(ai.length).toBeGreaterThan(0);
    expect(ai.length).toBeLessThanOrEqual(30);
    expect(ai.every((t) => (t.confidence ?? -1) >= 0 && (t.confidence ?? 2) <= 1)).toBe(true);
    const categories = await db.select().from(imageCategories).where(eq(imageCategories.imageId, imageId));
    expect(categories.length).toBeGreaterThanOrEqual(1);
    expect(categories.length).toBeLessThanOrEqual(2);
    expect(row?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.phash).not.toBeNull();
    expect(row?.palette?.length).toBeGreaterThan(0);
    expect(row?.colourBucket).toBeTruthy();
    expect(row?.nsfwScore).toBeLessThan(0.1);
    expect(row?.metadata).toMatchObject({ camera: "Nikon Z 6II" });
    expect(JSON.stringify(row?.metadata)).not.toMatch(/GPS|latitude/i);
    expect(row?.publishedAt).not.toBeNull();
  });

  it("an admin's reprocess re-runs a step from the stored original and changes nothing else", async () => {
    const imageId = await upload(token, await distinctJpeg());
    expect(await finished(token, imageId), worker.log()).toMatchObject({ stage: "done" });
    const [before] = await db.select().from(images).where(eq(images.id, imageId));
    // As if the colours step were new: the catalogue has no colours yet.
    await db.update(images).set({ palette: null, colourBucket: null }).where(eq(images.id, imageId));
    const res = await call("/v1/admin/reprocess", { method: "POST", token: await admin(), json: { steps: ["colours"], imageIds: [imageId] } });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(await res.json()).toEqual({ enqueued: 1, next: null });
    const [job] = await until("the reprocess job to finish", async () => {
      const rows = await db
        .select()
        .from(jobs)
        .where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, "image.reprocess")));
      return rows[0]?.status === "done" ? rows : undefined;
    });
    expect(job?.attempts).toBe(1);
    const [after] = await db.select().from(images).where(eq(images.id, imageId));
    expect(after?.palette).toEqual(before?.palette);
    expect(after?.colourBucket).toBe(before?.colourBucket);
    // Only what the step owns was written.
    expect({ ...after, palette: null, colourBucket: null, updatedAt: null }).toEqual({ ...before, palette: null, colourBucket: null, updatedAt: null });
  });

  it("buyers download the vetted, cleaned original: re-PUTting the upload URL after approval and a purchase changes nothing", async () => {
    const jpeg = await cameraJpeg("chelsea.png");
    expect(exifReader((await sharp(jpeg).metadata()).exif as Buffer).GPSInfo?.GPSLatitudeRef).toBe("N");
    const ticket = await uploadTicket(token, jpeg);
    expect(await finished(token, ticket.imageId)).toMatchObject({ status: "approved" });
    const [row] = await db.select().from(images).where(eq(images.id, ticket.imageId));
    expect(ticket.key).toMatch(/^uploads\//);
    expect(row?.originalKey).toMatch(/^originals\//);
    // The pipeline removed the contributor's upload once it had written the original.
    expect(await s3.headObject("edgestock-originals", ticket.key)).toBeNull();

    const buyer = await register("buyer");
    const [license] = await db.insert(licenses).values({ buyerId: buyer.userId, imageId: ticket.imageId, licenseType: "standard", priceCents: 1000 }).returning();
    const download = async () => {
      const res = await call(`/v1/images/${ticket.imageId}/download?license=${license?.id}`, { token: buyer.token });
      expect(res.status, await res.clone().text()).toBe(200);
      const file = await fetchRetrying(((await res.json()) as { url: string }).url);
      expect(file.status).toBe(200);
      return Buffer.from(await file.arrayBuffer());
    };
    const bought = await download();
    const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
    expect(sha256(bought)).toBe(row?.sha256);
    expect(bought.length).toBe(row?.bytes);
    // Delivered without the position, pixels untouched (the scans from SOS on are the upload's).
    expect(exifReader((await sharp(bought).metadata()).exif as Buffer).GPSInfo).toBeUndefined();
    const scans = (bytes: Buffer) => bytes.subarray(bytes.indexOf(Buffer.from([0xff, 0xda])));
    expect(scans(bought).equals(scans(jpeg))).toBe(true);

    // The contributor swaps the file through the still-valid URL: same type, same length, other bytes.
    const swapped = Buffer.from(jpeg);
    for (let i = swapped.length - 4000; i < swapped.length - 2; i += 3) swapped[i] = (swapped[i] as number) ^ 0x55;
    const put = await fetch(ticket.uploadUrl, { method: "PUT", headers: ticket.headers, body: swapped });
    expect(put.status).toBe(200);
    const again = await download();
    expect(again.equals(bought)).toBe(true);
    expect(sha256(again)).toBe(row?.sha256);
    expect((await status(token, ticket.imageId)).status).toBe("approved");
  });

  it("rejects another contributor's copy, and sends a contributor's own re-upload to review", async () => {
    const jpeg = await cameraJpeg("coffee.png");
    const original = await upload(token, jpeg);
    expect((await finished(token, original)).status).toBe("approved");
    const thief = await contributor();
    const copy = await upload(thief, jpeg);
    const copied = await finished(thief, copy);
    expect(copied).toMatchObject({ status: "rejected", duplicateOf: original, derivatives: {} });
    expect(copied.reason).toContain(`duplicate of image ${original} (identical file)`);
    // A near duplicate: the same photo re-encoded smaller.
    const nearCopy = await upload(thief, await sharp(jpeg).resize(1200).jpeg({ quality: 70 }).toBuffer());
    const near = await finished(thief, nearCopy);
    expect(near).toMatchObject({ status: "rejected", duplicateOf: original });
    expect(near.reason).toMatch(/near-identical, \d+ of 64 hash bits differ/);
    const again = await upload(token, jpeg);
    const pending = await finished(token, again);
    expect(pending).toMatchObject({ status: "pending_review", duplicateOf: original });
    // Not listed: the renditions are private. Nothing in the public bucket, the public URL is a 404,
    // and the contributor sees them through presigned URLs of the private copies.
    expect(Object.keys(pending.derivatives).sort()).toEqual(["preview", "thumb1000", "thumb150", "thumb450"]);
    for (const file of ["thumb-150.webp", "thumb-450.webp", "thumb-1000.webp", "preview-1200.webp"]) {
      expect(await s3.headObject("edgestock-derivatives", `images/${again}/${file}`), file).toBeNull();
      expect(await s3.headObject("edgestock-originals", privateRenditionKey(`images/${again}/${file}`)), file).not.toBeNull();
      expect((await call(`/v1/derivatives/images/${again}/${file}`)).status, file).toBe(404);
    }
    for (const [name, url] of Object.entries(pending.derivatives)) {
      expect(url, name).toContain("X-Amz-Signature=");
      const res = await fetchRetrying(url);
      expect(res.status, name).toBe(200);
      expect(res.headers.get("content-type"), name).toBe("image/webp");
    }
    // The listed original's renditions are public.
    expect(await s3.headObject("edgestock-derivatives", `images/${original}/thumb-450.webp`)).not.toBeNull();
  });

  it("refuses bad files with a clear reason and leaves no partial state", async () => {
    const rocket = readFileSync(resolve(PHOTOS, "rocket.jpg"));
    const bomb = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: "#ffffff" } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    const cases: [string, Uint8Array, string, RegExp][] = [
      ["a non-image renamed .jpg", Buffer.from("%!PS-Adobe-3.0\nnot an image at all\n".repeat(40)), "image/jpeg", /not a JPEG, PNG, TIFF, WebP or AVIF/],
      ["a truncated JPEG", rocket.subarray(0, Math.floor(rocket.length / 2)), "image/jpeg", /truncated|could not be decoded/],
      ["a corrupt JPEG", Buffer.from(rocket.map((b, i) => (i > 1000 && i < rocket.length - 2 && i % 5 === 0 ? b ^ 0x3c : b))), "image/jpeg", /could not be decoded|truncated/],
      ["a decompression bomb", bomb, "image/png", /more than 40 megapixels/],
      ["a JPEG with a script appended", Buffer.concat([rocket, Buffer.from("<script>fetch('//evil')</script>")]), "image/jpeg", /polyglot/],
    ];
    for (const [name, bytes, type, reason] of cases) {
      const imageId = await upload(token, bytes, type, name);
      const result = await finished(token, imageId);
      expect(result, name).toMatchObject({ status: "processing_failed", stage: "failed", derivatives: {} });
      expect(result.reason, name).toMatch(reason);
      const [row] = await db.select().from(images).where(eq(images.id, imageId));
      expect(row?.sha256, name).toBeNull();
      expect(row?.phash, name).toBeNull();
      expect(await s3.headObject("edgestock-derivatives", `images/${imageId}/preview-1200.webp`), name).toBeNull();
      const [job] = await db.select().from(jobs).where(eq(jobs.imageId, imageId));
      expect(job, name).toMatchObject({ status: "failed", attempts: 1 });
    }
    // An empty file never gets that far.
    const empty = await call("/v1/uploads", { method: "POST", token, json: { title: "Empty", contentType: "image/jpeg", bytes: 0 } });
    expect(empty.status).toBe(422);
  });
});

describe("crashes and poison", () => {
  it("SIGKILL mid-batch: after a restart every job is done exactly once", async () => {
    const token = await contributor();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await upload(token, await distinctJpeg(), "image/jpeg", `Crash ${i}`));
    // Short leases for the worker that dies, so its messages come back soon; the others keep a minute,
    // so a slow first job on a loaded machine is not delivered twice.
    const doomed = startWorker({ WORKER_CONCURRENCY: "3", WORKER_BATCH_SIZE: "3", VISIBILITY_TIMEOUT_MS: "4000" });
    await until("a job to be running", async () => (await db.select().from(jobs).where(inArray(jobs.imageId, ids))).some((j) => j.status === "running"), 30_000);
    doomed.child.kill("SIGKILL");
    await doomed.exited;
    const before = await db.select().from(images).where(inArray(images.id, ids));
    expect(before.some((row) => row.stage !== "done")).toBe(true);

    const survivor = startWorker({ WORKER_CONCURRENCY: "2" });
    const results = await Promise.all(ids.map((id) => finished(token, id, 90_000)));
    expect(await stopWorker(survivor)).toBe(0);
    expect(results.map((r) => `${r.status} ${r.reason ?? ""}`.trim())).toEqual(Array(6).fill("approved"));
    const rows = await db.select().from(jobs).where(inArray(jobs.imageId, ids));
    expect(rows).toHaveLength(6);
    expect(rows.every((j) => j.status === "done")).toBe(true);
    // One object per rendition, at its deterministic key; nothing else under the image's prefix.
    for (const id of ids) {
      const keys = (await db.select({ keys: images.derivativeKeys }).from(images).where(eq(images.id, id)))[0]?.keys ?? {};
      expect(Object.values(keys).sort()).toEqual([`images/${id}/preview-1200.webp`, `images/${id}/thumb-1000.webp`, `images/${id}/thumb-150.webp`, `images/${id}/thumb-450.webp`]);
    }
  });

  it("SIGTERM finishes the job in flight, then exits", async () => {
    const token = await contributor();
    const imageId = await upload(token, await distinctJpeg());
    const worker = startWorker();
    await until("the job to start", async () => (await db.select().from(jobs).where(eq(jobs.imageId, imageId)))[0]?.status !== "queued", 30_000);
    expect(await stopWorker(worker)).toBe(0);
    expect(worker.log()).toContain('"msg":"worker stopped"');
    const [job] = await db.select().from(jobs).where(eq(jobs.imageId, imageId));
    expect(job?.status).toBe("done");
  });

  it("a poison job is retried, dead-lettered after 3 attempts, and the image fails with the reason", async () => {
    const token = await contributor();
    const imageId = await upload(token, await distinctJpeg());
    const [row] = await db.select().from(images).where(eq(images.id, imageId));
    // The upload disappears before the worker gets to it: every attempt fails.
    await s3.deleteObject("edgestock-originals", uploadKeyOf(row as NonNullable<typeof row>) as string);
    const worker = startWorker();
    const result = await finished(token, imageId, 90_000);
    expect(await stopWorker(worker)).toBe(0);
    expect(result).toMatchObject({ status: "processing_failed", stage: "failed", attempts: 3 });
    expect(result.reason).toMatch(/is not in the bucket/);
    const [job] = await db.select().from(jobs).where(eq(jobs.imageId, imageId));
    expect(job?.status).toBe("dead");
  });
});
