import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runNpmStart, type StartedStack, stopStack } from "../support/stack";

/**
 * The local S3 endpoint (edge/dev/s3.ts at /_local/s3) driven by the S3 clients people point at
 * it: the AWS SDK v3 with its defaults (region "auto", path style; streamed aws-chunked uploads
 * with CRC32 trailers, flexible checksums) and rclone (Debian package `rclone`). `npm start` runs
 * for real; every call is SigV4-verified by the stand-in.
 */

const dataDir = mkdtempSync(join(tmpdir(), "edgestock-s3-clients-"));
let started: StartedStack;
let s3: S3Client;
/** The same client without `Expect: 100-continue` for large bodies. */
let large: S3Client;
let endpoint: string;
let keys: { accessKeyId: string; secretAccessKey: string };
const BUCKET = "edgestock-originals";
const OTHER = "edgestock-derivatives";

beforeAll(async () => {
  started = await runNpmStart(dataDir, { EDGESTOCK_WORKER: "0" });
  const info = JSON.parse(readFileSync(join(dataDir, "stack.json"), "utf8")) as { workerEnv: Record<string, string> };
  endpoint = info.workerEnv.R2_S3_ENDPOINT as string;
  keys = { accessKeyId: info.workerEnv.R2_ACCESS_KEY_ID as string, secretAccessKey: info.workerEnv.R2_SECRET_ACCESS_KEY as string };
  s3 = new S3Client({ region: "auto", endpoint, forcePathStyle: true, credentials: keys });
  // Bodies of 2 MiB and more: the SDK waits up to 6 s for a 100 Continue that workerd never sends
  // (docs/pipeline.md); the same requests, without the wait.
  large = new S3Client({ region: "auto", endpoint, forcePathStyle: true, credentials: keys, expectContinueHeader: false });
});

// A failure is easier to read beside what the stack logged (the stand-in's requests among it).
afterEach((context) => {
  if (context.task.result?.state === "fail") console.log(started?.output());
});

afterAll(async () => {
  s3?.destroy();
  large?.destroy();
  if (started) expect(await stopStack(started.child, dataDir)).toBe("");
  rmSync(dataDir, { recursive: true, force: true });
});

/** The S3 error a call fails with (code, HTTP status, request id), or a failed test if it succeeds. */
async function s3Failure(call: Promise<unknown>): Promise<{ name: string; status: number | undefined; requestId: string | undefined }> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof S3ServiceException)) throw error;
    return { name: error.name, status: error.$metadata.httpStatusCode, requestId: error.$metadata.requestId };
  }
  throw new Error("expected the call to fail");
}

const bytes = (n: number, seed = 7) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251));

describe("AWS SDK v3 with its defaults", () => {
  it("lists and heads the buckets", async () => {
    const listed = await s3.send(new ListBucketsCommand({}));
    expect(listed.Buckets?.map((b) => b.Name).sort()).toEqual([OTHER, BUCKET].sort());
    const head = await s3.send(new HeadBucketCommand({ Bucket: BUCKET }));
    expect(head.$metadata.httpStatusCode).toBe(200);
    expect((await s3Failure(s3.send(new HeadBucketCommand({ Bucket: "no-such-bucket" })))).status).toBe(404);
  });

  it("streams a PutObject (aws-chunked, CRC32 trailer) with metadata and reads it back whole and in ranges", async () => {
    const body = bytes(70_000);
    const put = await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: "sdk/a b+c.bin", Body: body, ContentType: "application/x-test", Metadata: { owner: "ada", note: "two words" } }),
    );
    expect(put.ETag).toMatch(/^"[0-9a-f]+"$/);

    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/a b+c.bin" }));
    expect(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())).toEqual(body);
    expect(got.ContentType).toBe("application/x-test");
    expect(got.Metadata).toEqual({ owner: "ada", note: "two words" });
    expect(got.ETag).toBe(put.ETag);

    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "sdk/a b+c.bin" }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.Metadata).toEqual({ owner: "ada", note: "two words" });

    const range = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/a b+c.bin", Range: "bytes=100-199" }));
    expect(range.$metadata.httpStatusCode).toBe(206);
    expect(range.ContentRange).toBe(`bytes 100-199/${body.length}`);
    expect(Buffer.from(await (range.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())).toEqual(body.subarray(100, 200));
    const suffix = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/a b+c.bin", Range: "bytes=-10" }));
    expect(Buffer.from(await (suffix.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray())).toEqual(body.subarray(body.length - 10));

    const unsatisfiable = await s3Failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/a b+c.bin", Range: `bytes=${body.length}-` })));
    expect(unsatisfiable).toMatchObject({ name: "InvalidRange", status: 416 });
    expect(unsatisfiable.requestId).toBeTruthy();
  });

  it("answers conditional reads with 304 and 412", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "sdk/conditional.txt", Body: "hello" }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "sdk/conditional.txt" }));
    expect((await s3Failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/conditional.txt", IfNoneMatch: put.ETag })))).status).toBe(304);
    expect((await s3Failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/conditional.txt", IfMatch: '"0000"' })))).status).toBe(412);
    expect((await s3Failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/conditional.txt", IfModifiedSince: head.LastModified })))).status).toBe(304);
    const matched = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/conditional.txt", IfMatch: put.ETag }));
    expect(await (matched.Body as { transformToString(): Promise<string> }).transformToString()).toBe("hello");
    // A conditional create: If-None-Match: * refuses to overwrite.
    expect((await s3Failure(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "sdk/conditional.txt", Body: "again", IfNoneMatch: "*" })))).status).toBe(412);
  });

  it("verifies checksums: a wrong CRC32 is BadDigest and stores nothing", async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "sdk/sha.txt", Body: "checked", ChecksumAlgorithm: "SHA256" }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "sdk/crc32c.txt", Body: "checked", ChecksumAlgorithm: "CRC32C" }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "sdk/crc64.txt", Body: "checked", ChecksumAlgorithm: "CRC64NVME" }));
    const wrong = await s3Failure(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "sdk/bad.txt", Body: "checked", ChecksumCRC32: "AAAAAA==" })));
    expect(wrong).toMatchObject({ name: "BadDigest", status: 400 });
    expect((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "sdk/bad.txt" })))).status).toBe(404);
  });

  it("lists with ListObjects v1 and v2, copies, and deletes in bulk", async () => {
    for (const key of ["list/a", "list/b", "list/c/d"]) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));
    const v2 = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "list/", Delimiter: "/" }));
    expect(v2.Contents?.map((o) => o.Key)).toEqual(["list/a", "list/b"]);
    expect(v2.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["list/c/"]);
    const page1 = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: "list/", MaxKeys: 2 }));
    expect(page1.Contents?.map((o) => o.Key)).toEqual(["list/a", "list/b"]);
    expect(page1.IsTruncated).toBe(true);
    const page2 = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: "list/", Marker: page1.NextMarker ?? "list/b" }));
    expect(page2.Contents?.map((o) => o.Key)).toEqual(["list/c/d"]);

    const copied = await s3.send(new CopyObjectCommand({ Bucket: OTHER, Key: "copied/a", CopySource: `${BUCKET}/list/a` }));
    expect(copied.CopyObjectResult?.ETag).toBeTruthy();
    const copy = await s3.send(new GetObjectCommand({ Bucket: OTHER, Key: "copied/a" }));
    expect(await (copy.Body as { transformToString(): Promise<string> }).transformToString()).toBe("list/a");

    const deleted = await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: "list/a" }, { Key: "list/b" }, { Key: "list/c/d" }] } }));
    expect(deleted.Deleted?.map((d) => d.Key).sort()).toEqual(["list/a", "list/b", "list/c/d"]);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "list/" }))).KeyCount).toBe(0);
    await s3.send(new DeleteObjectCommand({ Bucket: OTHER, Key: "copied/a" }));
  });

  it("uploads in parts, lists the parts, completes, and aborts", async () => {
    const part1 = bytes(5 * 1024 * 1024, 1);
    const part2 = bytes(1000, 2);
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "sdk/multi.bin", Metadata: { kind: "multi" } }));
    const UploadId = created.UploadId as string;
    const p1 = await large.send(new UploadPartCommand({ Bucket: BUCKET, Key: "sdk/multi.bin", UploadId, PartNumber: 1, Body: part1 }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: "sdk/multi.bin", UploadId, PartNumber: 2, Body: part2 }));
    const parts = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: "sdk/multi.bin", UploadId }));
    expect(parts.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual([
      [1, p1.ETag, part1.length],
      [2, p2.ETag, part2.length],
    ]);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: "sdk/multi.bin",
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag },
            { PartNumber: 2, ETag: p2.ETag },
          ],
        },
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "sdk/multi.bin" }));
    expect(got.Metadata).toEqual({ kind: "multi" });
    // Buffer.compare, not toEqual: a deep comparison of 5 MiB element by element took 28 s.
    const whole = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    expect(whole.length).toBe(part1.length + part2.length);
    expect(Buffer.compare(whole, Buffer.concat([part1, part2]))).toBe(0);

    const other = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "sdk/aborted.bin" }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: "sdk/aborted.bin", UploadId: other.UploadId }));
    expect((await s3Failure(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: "sdk/aborted.bin", UploadId: other.UploadId })))).name).toBe("NoSuchUpload");
  });

  it("takes us-east-1 as an alias of auto, as R2 does", async () => {
    const east = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: keys });
    const listed = await east.send(new ListBucketsCommand({}));
    east.destroy();
    expect(listed.Buckets?.length).toBe(2);
  });

  it("refuses a wrong secret with SignatureDoesNotMatch and a request id", async () => {
    const wrong = new S3Client({ region: "auto", endpoint, forcePathStyle: true, credentials: { ...keys, secretAccessKey: "not-the-secret" } });
    const failure = await s3Failure(wrong.send(new ListObjectsV2Command({ Bucket: BUCKET })));
    wrong.destroy();
    expect(failure).toMatchObject({ name: "SignatureDoesNotMatch", status: 403 });
    expect(failure.requestId).toBeTruthy();
  });
});

describe("rclone", () => {
  it("copies up, lists, copies down (same bytes) and deletes", () => {
    const work = join(dataDir, "rclone");
    mkdirSync(join(work, "up", "nested"), { recursive: true });
    writeFileSync(join(work, "up", "one.bin"), bytes(200_000, 3));
    writeFileSync(join(work, "up", "nested", "two.txt"), "second file\n");
    // An on-the-fly remote: rclone's documented S3 settings for Cloudflare R2, pointed at the stand-in.
    // AWS_CA_BUNDLE (set on some machines for other tools) makes rclone refuse to start.
    const { AWS_CA_BUNDLE: _unused, ...inherited } = process.env;
    const env = {
      ...inherited,
      RCLONE_CONFIG: join(work, "absent.conf"),
      RCLONE_CONFIG_LOCAL_TYPE: "s3",
      RCLONE_CONFIG_LOCAL_PROVIDER: "Cloudflare",
      RCLONE_CONFIG_LOCAL_ACCESS_KEY_ID: keys.accessKeyId,
      RCLONE_CONFIG_LOCAL_SECRET_ACCESS_KEY: keys.secretAccessKey,
      RCLONE_CONFIG_LOCAL_ENDPOINT: endpoint,
      RCLONE_CONFIG_LOCAL_REGION: "auto",
    };
    const rclone = (...args: string[]) => {
      const run = spawnSync("rclone", args, { env, encoding: "utf8" });
      if (run.error) throw new Error(`rclone could not run (install the Debian package rclone): ${run.error.message}`);
      expect(run.status, `rclone ${args.join(" ")}\n${run.stdout}\n${run.stderr}`).toBe(0);
      return run.stdout;
    };
    rclone("copy", join(work, "up"), `local:${BUCKET}/rclone`);
    expect(
      rclone("ls", `local:${BUCKET}/rclone`)
        .trim()
        .split("\n")
        .map((line) => line.trim())
        .sort(),
    ).toEqual(["12 nested/two.txt", "200000 one.bin"]);
    rclone("copy", `local:${BUCKET}/rclone`, join(work, "down"));
    expect(readFileSync(join(work, "down", "one.bin"))).toEqual(readFileSync(join(work, "up", "one.bin")));
    expect(readFileSync(join(work, "down", "nested", "two.txt"), "utf8")).toBe("second file\n");
    rclone("delete", `local:${BUCKET}/rclone`);
    expect(rclone("ls", `local:${BUCKET}/rclone`).trim()).toBe("");
  });
});
