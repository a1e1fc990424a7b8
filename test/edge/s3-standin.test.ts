import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { S3Client, S3Error, sha256Hex, signRequest, UNSIGNED_PAYLOAD } from "../../common/s3";
import production from "../../edge/index";
import local from "../../edge/local";
import { testSecret } from "./support";

/**
 * The local S3 stand-in (edge/dev/s3.ts) driven by the production S3 client (common/s3.ts), over
 * the Worker's own fetch: presigned uploads and downloads, object calls and multipart uploads
 * land in the real local R2 bindings, and badly signed requests are refused as R2 would.
 */

const ORIGINALS = env.ORIGINALS_BUCKET_NAME;
const DERIVATIVES = env.DERIVATIVES_BUCKET_NAME;
const MiB = 1024 * 1024;

const S3_ENDPOINT = testSecret("R2_S3_ENDPOINT");
const viaWorker = (input: string, init: RequestInit) => SELF.fetch(new Request(input, init));
const s3 = new S3Client({ endpoint: S3_ENDPOINT, accessKeyId: env.R2_ACCESS_KEY_ID, secretAccessKey: env.R2_SECRET_ACCESS_KEY, fetch: viaWorker });

const freshKey = (name = "i.jpg") => `originals/test-${crypto.randomUUID()}/${name}`;
/** Deterministic, position-dependent bytes, so a misplaced or missing part shows. */
function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) % 251;
  return out;
}
const send = (url: string, init: RequestInit) => SELF.fetch(new Request(url, init));

async function errorOf(response: Response) {
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get("content-type"), code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], text };
}

describe("presigned uploads and downloads", () => {
  it("stores a presigned PUT in the originals bucket with its content type, and serves it to a presigned GET", async () => {
    const key = freshKey();
    const body = bytes(1000);
    const upload = await s3.presign("PUT", ORIGINALS, key, { expiresIn: 900, contentType: "image/jpeg", contentLength: body.length });
    const put = await send(upload.url, { method: upload.method, headers: upload.headers, body });
    expect(put.status).toBe(200);
    expect(put.headers.get("etag")).toMatch(/^"[0-9a-f]{32}"$/);

    const stored = await env.ORIGINALS.get(key);
    expect(stored?.httpMetadata?.contentType).toBe("image/jpeg");
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(body);

    const download = await s3.presign("GET", ORIGINALS, key, { expiresIn: 300, query: { "response-content-disposition": 'attachment; filename="photo.jpg"' } });
    const got = await send(download.url, { method: "GET" });
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/jpeg");
    expect(got.headers.get("content-length")).toBe("1000");
    expect(got.headers.get("etag")).toBe(put.headers.get("etag"));
    expect(got.headers.get("content-disposition")).toBe('attachment; filename="photo.jpg"');
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(body);
  });

  it("refuses, with 403 and nothing stored, an upload with another content type or length, an expired URL, or a wrong secret", async () => {
    const key = freshKey();
    const body = bytes(100);
    const upload = await s3.presign("PUT", ORIGINALS, key, { expiresIn: 900, contentType: "image/jpeg", contentLength: body.length });

    const otherType = await errorOf(await send(upload.url, { method: "PUT", headers: { ...upload.headers, "content-type": "image/png" }, body }));
    expect(otherType).toMatchObject({ status: 403, code: "SignatureDoesNotMatch", contentType: "application/xml" });

    // The runtime sets Content-Length from the body, as a browser does.
    const otherLength = await errorOf(await send(upload.url, { method: "PUT", headers: { "content-type": "image/jpeg" }, body: bytes(101) }));
    expect(otherLength).toMatchObject({ status: 403, code: "SignatureDoesNotMatch" });

    const expired = await s3.presign("PUT", ORIGINALS, key, { expiresIn: 60, contentType: "image/jpeg", contentLength: body.length, now: new Date(Date.now() - 120_000) });
    const late = await errorOf(await send(expired.url, { method: "PUT", headers: expired.headers, body }));
    expect(late).toMatchObject({ status: 403, code: "AccessDenied" });
    expect(late.text).toContain("Request has expired");

    const forger = new S3Client({ endpoint: S3_ENDPOINT, accessKeyId: env.R2_ACCESS_KEY_ID, secretAccessKey: "not-the-secret", fetch: viaWorker });
    const forged = await forger.presign("PUT", ORIGINALS, key, { expiresIn: 900, contentType: "image/jpeg", contentLength: body.length });
    expect(await errorOf(await send(forged.url, { method: "PUT", headers: forged.headers, body }))).toMatchObject({ status: 403, code: "SignatureDoesNotMatch" });

    const stranger = new S3Client({ endpoint: S3_ENDPOINT, accessKeyId: "someone-else", secretAccessKey: env.R2_SECRET_ACCESS_KEY, fetch: viaWorker });
    const unknown = await stranger.presign("PUT", ORIGINALS, key, { expiresIn: 900, contentType: "image/jpeg", contentLength: body.length });
    expect(await errorOf(await send(unknown.url, { method: "PUT", headers: unknown.headers, body }))).toMatchObject({ status: 403, code: "InvalidAccessKeyId" });

    expect(await env.ORIGINALS.head(key)).toBeNull();
  });

  it("refuses a body longer or shorter than the signed Content-Length it declares", async () => {
    const key = freshKey();
    const upload = await s3.presign("PUT", ORIGINALS, key, { expiresIn: 900, contentType: "image/jpeg", contentLength: 100 });
    // The header is the signed one; the body is not (a client that lies about its length).
    // workerd logs the broken request body ("client disconnected", "connection lost") on both sides.
    for (const length of [101, 99]) {
      const response = await send(upload.url, { method: "PUT", headers: upload.headers, body: bytes(length) });
      expect(await errorOf(response)).toMatchObject({ status: 400, code: "IncompleteBody" });
    }
    expect(await env.ORIGINALS.head(key)).toBeNull();
  });

  it("takes a streamed upload body of the signed length", async () => {
    const key = freshKey();
    const body = bytes(4096);
    const upload = await s3.presign("PUT", ORIGINALS, key, { expiresIn: 900, contentType: "image/jpeg", contentLength: body.length });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body.subarray(0, 1000));
        controller.enqueue(body.subarray(1000));
        controller.close();
      },
    });
    const response = await send(upload.url, { method: "PUT", headers: upload.headers, body: stream });
    expect(response.status).toBe(200);
    expect(new Uint8Array(await (await env.ORIGINALS.get(key))!.arrayBuffer())).toEqual(body);
  });
});

describe("object calls (the GPU worker's)", () => {
  it("puts, heads, gets and deletes an object whose key has spaces, '$', '+', '%' and non-ASCII", async () => {
    const key = `derivatives/test-${crypto.randomUUID()}/ünï côde $1+1 100%/preview 1000.webp`;
    const body = bytes(2048, 7);
    const { etag } = await s3.putObject(DERIVATIVES, key, body, { contentType: "image/webp", cacheControl: "public, max-age=31536000, immutable" });

    const stored = await env.DERIVATIVES.get(key);
    expect(stored?.httpMetadata).toMatchObject({ contentType: "image/webp", cacheControl: "public, max-age=31536000, immutable" });

    const info = await s3.headObject(DERIVATIVES, key);
    expect(info).toMatchObject({ size: 2048, etag, contentType: "image/webp" });
    expect(Math.abs(info!.lastModified.getTime() - Date.now())).toBeLessThan(60_000);
    expect(await s3.getObject(DERIVATIVES, key)).toEqual(body);

    await s3.deleteObject(DERIVATIVES, key);
    expect(await env.DERIVATIVES.head(key)).toBeNull();
    expect(await s3.headObject(DERIVATIVES, key)).toBeNull();
    expect(await s3.getObject(DERIVATIVES, key)).toBeNull();
  });

  it("refuses a body that does not match its signed SHA-256", async () => {
    const key = freshKey("tampered.webp");
    // A man in the middle swaps the body; the signature still covers the original's hash.
    const tampering = new S3Client({
      endpoint: S3_ENDPOINT,
      accessKeyId: env.R2_ACCESS_KEY_ID,
      secretAccessKey: env.R2_SECRET_ACCESS_KEY,
      fetch: (input, init) => SELF.fetch(new Request(input, { ...init, body: bytes(10, 9) })),
    });
    const error = await tampering.putObject(DERIVATIVES, key, bytes(10, 1), { contentType: "image/webp" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3Error);
    expect(error).toMatchObject({ status: 400, code: "XAmzContentSHA256Mismatch" });
    expect(await env.DERIVATIVES.head(key)).toBeNull();
  });

  it("answers S3 errors: NoSuchBucket, unsigned requests, and calls the stand-in does not serve", async () => {
    const elsewhere = await s3.putObject("no-such-bucket", "k", bytes(1), { contentType: "text/plain" }).catch((e: unknown) => e);
    expect(elsewhere).toMatchObject({ status: 404, code: "NoSuchBucket" });

    const anonymous = await errorOf(await send(`${S3_ENDPOINT}/${ORIGINALS}/${freshKey()}`, { method: "GET" }));
    expect(anonymous).toMatchObject({ status: 403, code: "AccessDenied", contentType: "application/xml" });

    // CreateBucket on a bucket the stand-in serves answers as S3 does for a bucket you own.
    const createBucket = await send((await s3.presign("PUT", ORIGINALS, "", { expiresIn: 60 })).url, { method: "PUT" });
    const refused = await errorOf(createBucket);
    expect(refused).toMatchObject({ status: 409, code: "BucketAlreadyOwnedByYou" });
    // Every error names its request, in the XML and in x-amz-request-id.
    expect(refused.text).toMatch(/<RequestId>[^<]+<\/RequestId>/);
    expect(createBucket.headers.get("x-amz-request-id")).toBe(/<RequestId>([^<]+)<\/RequestId>/.exec(refused.text)?.[1]);
  });

  it("takes a SigV4-streamed upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) and refuses one with a forged chunk", async () => {
    const encoder = new TextEncoder();
    const hex = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const hmac = async (key: ArrayBuffer | Uint8Array, data: string) =>
      crypto.subtle.sign("HMAC", await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]), encoder.encode(data));
    const chunks = [bytes(70_000, 4), bytes(1_000, 5)];
    const decodedLength = chunks.reduce((n, chunk) => n + chunk.length, 0);
    const put = async (key: string, forge: boolean) => {
      const url = `${S3_ENDPOINT}/${ORIGINALS}/${key}`;
      // Content-Length is the encoded length, which depends only on the chunk sizes (64 hex digits per signature).
      const frame = (size: number) => `${size.toString(16)};chunk-signature=${"0".repeat(64)}\r\n`.length + size + 2;
      const contentLength = chunks.reduce((n, chunk) => n + frame(chunk.length), 0) + frame(0);
      const headers = await signRequest({
        accessKeyId: env.R2_ACCESS_KEY_ID,
        secretAccessKey: env.R2_SECRET_ACCESS_KEY,
        region: "auto",
        service: "s3",
        method: "PUT",
        url,
        headers: { "content-encoding": "aws-chunked", "content-length": String(contentLength), "x-amz-decoded-content-length": String(decodedLength) },
        payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
      });
      const datetime = headers.get("x-amz-date") ?? "";
      const scope = `${datetime.slice(0, 8)}/auto/s3/aws4_request`;
      let signingKey = await hmac(encoder.encode(`AWS4${env.R2_SECRET_ACCESS_KEY}`), datetime.slice(0, 8));
      for (const part of ["auto", "s3", "aws4_request"]) signingKey = await hmac(signingKey, part);
      let previous = /Signature=([0-9a-f]{64})/.exec(headers.get("authorization") ?? "")?.[1] ?? "";
      const pieces: Uint8Array[] = [];
      for (const chunk of [...chunks, new Uint8Array(0)]) {
        const stringToSign = ["AWS4-HMAC-SHA256-PAYLOAD", datetime, scope, previous, await sha256Hex(""), await sha256Hex(chunk)].join("\n");
        previous = hex(await hmac(signingKey, stringToSign));
        const sent = forge && chunk.length === 1_000 ? bytes(1_000, 6) : chunk;
        pieces.push(encoder.encode(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`), sent, encoder.encode("\r\n"));
      }
      const body = new Uint8Array(await new Blob(pieces).arrayBuffer());
      expect(body.length).toBe(contentLength);
      return send(url, { method: "PUT", headers, body });
    };
    const key = freshKey("streamed.bin");
    expect((await put(key, false)).status).toBe(200);
    const stored = await env.ORIGINALS.get(key);
    expect(new Uint8Array((await stored?.arrayBuffer()) ?? new ArrayBuffer(0))).toEqual(new Uint8Array(await new Blob(chunks).arrayBuffer()));
    const forged = freshKey("forged.bin");
    expect(await errorOf(await put(forged, true))).toMatchObject({ status: 403, code: "SignatureDoesNotMatch" });
    expect(await env.ORIGINALS.head(forged)).toBeNull();
  });

  it("verifies Content-MD5: a wrong one is BadDigest and stores nothing", async () => {
    const key = freshKey("md5.bin");
    const put = async (md5: string) => {
      const url = `${S3_ENDPOINT}/${ORIGINALS}/${key}`;
      const headers = await signRequest({
        accessKeyId: env.R2_ACCESS_KEY_ID,
        secretAccessKey: env.R2_SECRET_ACCESS_KEY,
        region: "auto",
        service: "s3",
        method: "PUT",
        url,
        headers: { "content-md5": md5 },
        payloadHash: UNSIGNED_PAYLOAD,
      });
      return send(url, { method: "PUT", headers, body: new TextEncoder().encode("123456789") });
    };
    expect(await errorOf(await put("AAAAAAAAAAAAAAAAAAAAAA=="))).toMatchObject({ status: 400, code: "BadDigest" });
    expect(await env.ORIGINALS.head(key)).toBeNull();
    // md5("123456789") = 25f9e794323b453885f5181f1b624d0b
    expect((await put("JfnnlDI7RTiF9RgfG2JNCw==")).status).toBe(200);
    expect(await env.ORIGINALS.head(key)).not.toBeNull();
  });
});

describe("listing (ListObjectsV2)", () => {
  /** Puts each key with `size` bytes under a fresh prefix; returns the prefix and the ETags by key. */
  async function putUnder(names: string[], bucket = DERIVATIVES) {
    const prefix = `list-test-${crypto.randomUUID()}/`;
    const etags = new Map<string, string>();
    for (const [i, name] of names.entries()) {
      const { etag } = await s3.putObject(bucket, prefix + name, bytes(100 + i, i), { contentType: "application/octet-stream" });
      etags.set(prefix + name, etag);
    }
    return { prefix, etags };
  }

  it("lists the keys under a prefix in order, with size and ETag, page by page through continuation tokens", async () => {
    const names = ["b.webp", "a & <b>.webp", "c/ünï côde 100%.webp", "d.webp", "e.webp"];
    const { prefix, etags } = await putUnder(names);
    await s3.putObject(DERIVATIVES, `${prefix.slice(0, -1)}-elsewhere/a.webp`, bytes(10), { contentType: "image/webp" });

    const pages = [];
    let continuationToken: string | undefined;
    do {
      const page = await s3.listObjects(DERIVATIVES, { prefix, maxKeys: 2, continuationToken });
      pages.push(page);
      continuationToken = page.nextContinuationToken;
    } while (continuationToken);
    expect(pages.map((page) => [page.keyCount, page.isTruncated])).toEqual([
      [2, true],
      [2, true],
      [1, false],
    ]);

    const listed = pages.flatMap((page) => page.objects);
    expect(listed.map((object) => object.key)).toEqual([...etags.keys()].sort());
    for (const object of listed) {
      expect(object.etag, object.key).toBe(etags.get(object.key));
      expect(object.size, object.key).toBe(100 + names.indexOf(object.key.slice(prefix.length)));
      expect(Math.abs(object.lastModified.getTime() - Date.now())).toBeLessThan(60_000);
    }

    const all = [];
    for await (const object of s3.listAllObjects(DERIVATIVES, { prefix, pageSize: 2 })) all.push(object.key);
    expect(all).toEqual([...etags.keys()].sort());
  });

  it("answers S3's ListBucketResult XML, also for the bucket URL with a trailing slash", async () => {
    const { prefix, etags } = await putUnder(["x.jpg", "y.jpg"], ORIGINALS);
    const signed = await s3.presign("GET", ORIGINALS, "", { expiresIn: 60, query: { "list-type": "2", prefix, "max-keys": "1" } });
    expect(new URL(signed.url).pathname).toMatch(new RegExp(`/${ORIGINALS}/$`));
    const response = await send(signed.url, { method: "GET" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/xml");
    const xml = await response.text();
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<ListBucketResult xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/">/);
    expect(xml).toContain(`<Name>${ORIGINALS}</Name><Prefix>${prefix}</Prefix><MaxKeys>1</MaxKeys><KeyCount>1</KeyCount><IsTruncated>true</IsTruncated><NextContinuationToken>`);
    const etag = etags.get(`${prefix}x.jpg`)!.replaceAll('"', "&quot;");
    expect(xml).toMatch(
      new RegExp(
        `<Contents><Key>${prefix}x.jpg</Key><LastModified>\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z</LastModified><ETag>${etag}</ETag><Size>100</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>$`,
      ),
    );
  });

  it("rolls keys up at a delimiter into common prefixes, and starts after a given key", async () => {
    const { prefix } = await putUnder(["a/1", "a/2", "b", "c/3"]);
    const rolled = await s3.listObjects(DERIVATIVES, { prefix, delimiter: "/" });
    expect(rolled.objects.map((object) => object.key)).toEqual([`${prefix}b`]);
    expect(rolled.commonPrefixes).toEqual([`${prefix}a/`, `${prefix}c/`]);
    expect(rolled.keyCount).toBe(3);

    const after = await s3.listObjects(DERIVATIVES, { prefix, startAfter: `${prefix}a/1` });
    expect(after.objects.map((object) => object.key.slice(prefix.length))).toEqual(["a/2", "b", "c/3"]);
  });

  it("lists nothing under an unused prefix, and nothing at max-keys 0", async () => {
    expect(await s3.listObjects(ORIGINALS, { prefix: `list-test-${crypto.randomUUID()}/` })).toEqual({ objects: [], commonPrefixes: [], isTruncated: false, keyCount: 0 });
    const { prefix } = await putUnder(["only"]);
    expect(await s3.listObjects(DERIVATIVES, { prefix, maxKeys: 0 })).toMatchObject({ objects: [], isTruncated: false, keyCount: 0 });
  });

  it("refuses an unsigned listing, an unknown bucket, a bad max-keys, and a list-type other than 2", async () => {
    const unsigned = await errorOf(await send(`${S3_ENDPOINT}/${ORIGINALS}?list-type=2`, { method: "GET" }));
    expect(unsigned).toMatchObject({ status: 403, code: "AccessDenied" });
    await expect(s3.listObjects("no-such-bucket")).rejects.toMatchObject({ status: 404, code: "NoSuchBucket" });
    const badMaxKeys = await send((await s3.presign("GET", ORIGINALS, "", { expiresIn: 60, query: { "list-type": "2", "max-keys": "many" } })).url, { method: "GET" });
    expect(await errorOf(badMaxKeys)).toMatchObject({ status: 400, code: "InvalidArgument" });
    const v3 = await send((await s3.presign("GET", ORIGINALS, "", { expiresIn: 60, query: { "list-type": "3" } })).url, { method: "GET" });
    expect(await errorOf(v3)).toMatchObject({ status: 400, code: "InvalidArgument" });
    // ListObjects version 1 (no list-type) is served: test/e2e/s3-clients.test.ts drives it with the AWS SDK.
    const v1 = await send((await s3.presign("GET", ORIGINALS, "", { expiresIn: 60 })).url, { method: "GET" });
    expect(v1.status).toBe(200);
    expect(await v1.text()).toContain("<Marker>");
  });
});

describe("multipart uploads", () => {
  /** Uploads each part through its own presigned URL, as a browser does; returns the parts. */
  async function uploadParts(key: string, uploadId: string, parts: Uint8Array[]) {
    const uploaded: { partNumber: number; etag: string }[] = [];
    for (const [index, part] of parts.entries()) {
      const partNumber = index + 1;
      const signed = await s3.presignUploadPart(ORIGINALS, key, uploadId, partNumber, { expiresIn: 900, contentLength: part.length });
      const response = await send(signed.url, { method: "PUT", headers: signed.headers, body: part });
      expect(response.status).toBe(200);
      uploaded.push({ partNumber, etag: response.headers.get("etag") ?? "" });
    }
    return uploaded;
  }

  it("joins three parts (5 MiB, 5 MiB, the rest) into one object with the upload's content type", async () => {
    const key = freshKey("large.tif");
    const parts = [bytes(5 * MiB, 1), bytes(5 * MiB, 2), bytes(12_345, 3)];
    const uploadId = await s3.createMultipartUpload(ORIGINALS, key, { contentType: "image/tiff" });
    const uploaded = await uploadParts(key, uploadId, parts);
    const { etag } = await s3.completeMultipartUpload(ORIGINALS, key, uploadId, uploaded);
    expect(etag).toMatch(/-3"$/);

    const stored = await env.ORIGINALS.get(key);
    expect(stored?.size).toBe(10 * MiB + 12_345);
    expect(stored?.httpMetadata?.contentType).toBe("image/tiff");
    // Compared by hash: a deep equality over 10 MiB takes vitest many seconds.
    const expected = new Uint8Array(stored!.size);
    parts.reduce((offset, part) => (expected.set(part, offset), offset + part.length), 0);
    expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(expected));
  });

  it("refuses a part under 5 MiB that is not the last, as R2 does (local R2 enforces the minimum)", async () => {
    const key = freshKey("small-parts.tif");
    const uploadId = await s3.createMultipartUpload(ORIGINALS, key, { contentType: "image/tiff" });
    const uploaded = await uploadParts(key, uploadId, [bytes(5 * MiB - 1), bytes(10)]);
    await expect(s3.completeMultipartUpload(ORIGINALS, key, uploadId, uploaded)).rejects.toMatchObject({ status: 400, code: "EntityTooSmall" });
    expect(await env.ORIGINALS.head(key)).toBeNull();
  });

  it("refuses parts listed out of order", async () => {
    const key = freshKey("order.tif");
    const uploadId = await s3.createMultipartUpload(ORIGINALS, key, { contentType: "image/tiff" });
    const uploaded = await uploadParts(key, uploadId, [bytes(5 * MiB), bytes(10)]);
    await expect(s3.completeMultipartUpload(ORIGINALS, key, uploadId, uploaded.reverse())).rejects.toMatchObject({ status: 400, code: "InvalidPartOrder" });
  });

  it("aborts an upload: its parts are gone and it can no longer be completed", async () => {
    const key = freshKey("abandoned.tif");
    const uploadId = await s3.createMultipartUpload(ORIGINALS, key, { contentType: "image/tiff" });
    const uploaded = await uploadParts(key, uploadId, [bytes(1000)]);
    await s3.abortMultipartUpload(ORIGINALS, key, uploadId);
    await expect(s3.completeMultipartUpload(ORIGINALS, key, uploadId, uploaded)).rejects.toMatchObject({ status: 404, code: "NoSuchUpload" });
    expect(await env.ORIGINALS.head(key)).toBeNull();
  });

  it("binds a presigned part URL to its upload and part number", async () => {
    const key = freshKey("bound.tif");
    const uploadId = await s3.createMultipartUpload(ORIGINALS, key, { contentType: "image/tiff" });
    const signed = await s3.presignUploadPart(ORIGINALS, key, uploadId, 1, { expiresIn: 900, contentLength: 10 });
    const moved = signed.url.replace("partNumber=1", "partNumber=2");
    expect(await errorOf(await send(moved, { method: "PUT", headers: signed.headers, body: bytes(10) }))).toMatchObject({ status: 403, code: "SignatureDoesNotMatch" });
    await s3.abortMultipartUpload(ORIGINALS, key, uploadId);
  });
});

describe("browser access and environments", () => {
  it("answers a CORS preflight without a signature, and exposes ETag on answers", async () => {
    const upload = await s3.presign("PUT", ORIGINALS, freshKey(), { expiresIn: 900, contentType: "image/jpeg", contentLength: 3 });
    const preflight = await send(upload.url, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:5173", "access-control-request-method": "PUT", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PUT");
    expect(preflight.headers.get("access-control-allow-headers")).toBe("content-type");

    const put = await send(upload.url, { method: "PUT", headers: { ...upload.headers, origin: "http://localhost:5173" }, body: bytes(3) });
    expect(put.status).toBe(200);
    expect(put.headers.get("access-control-allow-origin")).toBe("*");
    expect(put.headers.get("access-control-expose-headers")).toBe("ETag");
  });

  it("does not exist in production: not in the production entry, and refused by the local one", async () => {
    const productionEnv: Env = { ...env, ENVIRONMENT: "production", DB_LOCAL_PROXY: "", LOCAL_QUEUES_TOKEN: "", STRIPE_API_BASE: "" };
    const signed = await s3.presign("GET", ORIGINALS, freshKey(), { expiresIn: 60 });
    for (const worker of [production, local]) {
      const ctx = createExecutionContext();
      const response = await worker.fetch(new Request(signed.url), productionEnv, ctx);
      await waitOnExecutionContext(ctx);
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    }
  });
});
