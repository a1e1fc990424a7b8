import { type Context, Hono } from "hono";
import { escapeXml, STREAMING_PAYLOADS, sha256Hex, UNSIGNED_PAYLOAD, verifySignature, xmlElementTexts } from "../../common/s3";
import type { AppEnv } from "../env";
import { CHECKSUMS, decodeAwsChunked, verifyChecksums } from "./s3-payload";

/**
 * A stand-in for R2's S3 API, for local development and tests only (wrangler 4.86's local runtime
 * has none). Mounted at /_local/s3 outside production (edge/dev/routes.ts), so the S3 endpoint is
 * `http://127.0.0.1:8787/_local/s3` and every URL is path-style: /_local/s3/<bucket>/<key>. It
 * serves, on the local R2 bindings, what R2's S3 API serves to the AWS SDK v3 (with its defaults),
 * the AWS CLI and rclone: ListBuckets, HeadBucket, GetBucketLocation, ListObjects (v1 and v2),
 * PutObject (plain, SigV4-streamed or aws-chunked with a checksum trailer), GetObject and HeadObject
 * (Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since), CopyObject,
 * DeleteObject, DeleteObjects, the multipart calls with UploadPartCopy and ListParts, x-amz-meta-*
 * user metadata, and x-amz-checksum-* / Content-MD5 verification. Every request is verified with the same SigV4 code that
 * signs in production (common/s3.ts): a wrong secret, an expired URL, another key, content type
 * or content length is refused with 403, as R2 would.
 *
 * CORS: browsers upload to presigned URLs directly, so every answer allows any origin and exposes
 * ETag (multipart uploads need each part's ETag). Production needs the equivalent CORS rule on
 * the R2 bucket itself (AllowedOrigins: the web app's origins, AllowedMethods: GET, PUT, HEAD,
 * AllowedHeaders: content-type, ExposeHeaders: ETag; `wrangler r2 bucket cors set`).
 */
export const localS3 = new Hono<AppEnv>();

const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, PUT, POST, DELETE, HEAD",
  "access-control-allow-headers": "*",
  "access-control-expose-headers": "ETag",
};

/** Accept-Encoding values clients send (and sign), before workerd rewrites the header to "br, gzip". */
const ACCEPT_ENCODINGS_SENT = ["gzip", "gzip, deflate", "gzip, deflate, br", "gzip, br", "br, gzip", "br", "deflate, gzip", "gzip, deflate, br, zstd", "identity", "*"];

const XML_HEADERS = { "content-type": "application/xml", "content-encoding": "identity" };

/** An S3 error document, with the status S3 gives that code. */
function s3Error(status: number, code: string, message: string): Response {
  // "Content-Encoding: identity": Miniflare, as Cloudflare's front line does, gzips XML for a client
  // accepting gzip; rclone asks for gzip itself and then cannot parse the compressed error.
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error>`;
  return new Response(body, { status, headers: XML_HEADERS, encodeBody: "manual" });
}

function xmlResponse(body: string, status = 200): Response {
  return new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`, { status, headers: XML_HEADERS, encodeBody: "manual" });
}

const S3_NAMESPACE = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

/**
 * The local R2 binding throws errors whose message ends in R2's numeric code, e.g.
 * "uploadPart: The specified multipart upload does not exist. (10024)". Those map onto S3 codes.
 */
function fromR2Error(error: unknown): Response {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("FixedLengthStream")) {
    return s3Error(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header");
  }
  const code = /\((\d{5})\)\s*$/.exec(message)?.[1];
  const known: Record<string, [number, string]> = {
    "10007": [404, "NoSuchKey"],
    "10011": [400, "EntityTooSmall"],
    "10012": [400, "MetadataTooLarge"],
    "10020": [400, "InvalidObjectName"],
    "10024": [404, "NoSuchUpload"],
    "10025": [400, "InvalidPart"],
    "10039": [400, "InvalidPartOrder"],
  };
  const [status, s3Code] = (code && known[code]) || [500, "InternalError"];
  return s3Error(status, s3Code, message);
}

localS3.use("*", async (c, next) => {
  await next();
  for (const [name, value] of Object.entries(CORS_HEADERS)) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
  // Every answer names its request, as S3's do; an error document carries the id too.
  const id = c.get("requestId");
  if (c.res.status >= 400 && c.res.headers.get("content-type") === XML_HEADERS["content-type"] && c.req.method !== "HEAD") {
    const text = await c.res.text();
    const headers = new Headers(c.res.headers);
    c.res = new Response(text.replace("</Error>", `<RequestId>${escapeXml(id)}</RequestId><HostId>${escapeXml(id)}</HostId></Error>`), {
      status: c.res.status,
      headers,
      encodeBody: "manual",
    });
  }
  c.res.headers.set("x-amz-request-id", id);
  c.res.headers.set("x-amz-id-2", id);
});

// CORS preflight: answered before (and without) a signature, as S3 does.
localS3.options("*", (c) => {
  const requested = c.req.header("access-control-request-headers");
  return c.body(null, 204, { ...(requested ? { "access-control-allow-headers": requested } : {}), "access-control-max-age": "3600" });
});

/** What the signature established: the payload hash the body must match (or UNSIGNED-PAYLOAD), and how to check chunk signatures. */
type S3Auth = { payloadHash: string; signature: string; chunkSignature(previous: string, chunkSha256Hex: string): Promise<string> };

/** Verifies the request's SigV4 signature against the configured R2 token; an S3 error if it fails. */
async function authenticate(c: Context<AppEnv>): Promise<{ ok: true; auth: S3Auth } | { ok: false; response: Response }> {
  const { R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY } = c.var.config;
  // R2's region is "auto"; for tools that insist on one, "us-east-1" and an empty region alias it.
  const credential = c.req.query("X-Amz-Credential") ?? /Credential=([^,\s]+)/.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  const claimedRegion = credential.split("/")[2];
  const options = {
    secretFor: (accessKeyId: string) => (accessKeyId === R2_ACCESS_KEY_ID ? R2_SECRET_ACCESS_KEY : undefined),
    region: claimedRegion === "us-east-1" || claimedRegion === "" ? claimedRegion : "auto",
    service: "s3",
  };
  let verified = await verifySignature(c.req.raw, options);
  // workerd hands the Worker "Accept-Encoding: br, gzip" whatever compression the client accepted,
  // and rclone signs the header ("gzip"): a mismatch is retried with what clients commonly send
  // (production R2 sees the client's own header).
  const signed = new URL(c.req.url).searchParams.get("X-Amz-SignedHeaders") ?? c.req.header("authorization") ?? "";
  if (!verified.ok && verified.code === "SignatureDoesNotMatch" && /accept-encoding/.test(signed) && c.req.header("accept-encoding") !== undefined) {
    for (const original of ACCEPT_ENCODINGS_SENT) {
      const headers = new Headers(c.req.raw.headers);
      headers.set("accept-encoding", original);
      const retried = await verifySignature(new Request(c.req.url, { method: c.req.method, headers }), options);
      if (retried.ok) {
        verified = retried;
        break;
      }
    }
  }
  if (!verified.ok) return { ok: false, response: s3Error(verified.status, verified.code, verified.message) };
  return { ok: true, auth: { payloadHash: verified.payloadHash, signature: verified.signature, chunkSignature: verified.chunkSignature } };
}

/** The R2 binding behind a bucket name, as R2's S3 API names the buckets. */
function bucketFor(c: Context<AppEnv>, name: string): R2Bucket | undefined {
  const { ORIGINALS_BUCKET_NAME, DERIVATIVES_BUCKET_NAME } = c.var.config;
  if (name === ORIGINALS_BUCKET_NAME) return c.env.ORIGINALS;
  if (name === DERIVATIVES_BUCKET_NAME) return c.env.DERIVATIVES;
  return undefined;
}

type ReadBody = { ok: true; body: ReadableStream | ArrayBuffer } | { ok: false; response: Response };

/**
 * The request body, as stored. A signed-hash body is read and checked against its hash; an
 * aws-chunked body is decoded (chunk signatures and its declared decoded length checked); any
 * x-amz-checksum-* (header or trailer) or Content-MD5 is verified (BadDigest on a mismatch). An
 * UNSIGNED-PAYLOAD body without a checksum is streamed.
 */
async function readBody(c: Context<AppEnv>, auth: S3Auth): Promise<ReadBody> {
  const { payloadHash } = auth;
  const fail = (status: number, code: string, message: string): ReadBody => ({ ok: false, response: s3Error(status, code, message) });
  const carried = new Map<string, string>();
  for (const header of Object.keys(CHECKSUMS)) {
    const value = c.req.header(header);
    if (value !== undefined) carried.set(header, value);
  }
  c.req.raw.headers.forEach((value, name) => {
    if (name.startsWith("x-amz-checksum-") && !carried.has(name)) carried.set(name, value);
  });
  const streaming = (STREAMING_PAYLOADS as readonly string[]).includes(payloadHash);
  const chunked = streaming || /(^|,)\s*aws-chunked\s*(,|$)/i.test(c.req.header("content-encoding") ?? "");
  if (chunked) {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const signed = payloadHash.startsWith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    const decoded = await decodeAwsChunked(raw, signed ? { seed: auth.signature, sign: auth.chunkSignature } : undefined);
    if (!decoded.ok) return fail(decoded.failure.status, decoded.failure.code, decoded.failure.message);
    const declared = c.req.header("x-amz-decoded-content-length");
    if (declared !== undefined && Number(declared) !== decoded.data.length) {
      return fail(400, "IncompleteBody", `The body decodes to ${decoded.data.length} bytes; x-amz-decoded-content-length says ${declared}`);
    }
    const announced = (c.req.header("x-amz-trailer") ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean);
    for (const name of announced) {
      const value = decoded.trailers.get(name);
      if (value === undefined) return fail(400, "MalformedTrailerError", `The request announced the trailer ${name} but did not send it`);
      carried.set(name, value);
    }
    const bad = await verifyChecksums(decoded.data, carried);
    if (bad) return fail(bad.status, bad.code, bad.message);
    return { ok: true, body: decoded.data.buffer.slice(decoded.data.byteOffset, decoded.data.byteOffset + decoded.data.byteLength) as ArrayBuffer };
  }
  if (payloadHash !== UNSIGNED_PAYLOAD || carried.size > 0) {
    const bytes = await c.req.arrayBuffer();
    if (payloadHash !== UNSIGNED_PAYLOAD && (await sha256Hex(bytes)) !== payloadHash) {
      return fail(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
    const bad = await verifyChecksums(new Uint8Array(bytes), carried);
    if (bad) return fail(bad.status, bad.code, bad.message);
    return { ok: true, body: bytes };
  }
  const declared = c.req.header("content-length");
  const body = c.req.raw.body;
  if (declared === undefined || body === null) return { ok: true, body: await c.req.arrayBuffer() };
  // R2 takes a stream only when its length is known, and workerd does not hold a request body to
  // its Content-Length header. FixedLengthStream gives R2 the length and fails the write if the
  // body is shorter or longer than declared, so a signed content-length bounds what is stored.
  const length = Number(declared);
  if (!Number.isSafeInteger(length) || length < 0) return fail(400, "InvalidArgument", "Content-Length must be a whole number of bytes");
  const fixed = new FixedLengthStream(length);
  // A failed copy surfaces as the R2 call's own failure (see fromR2Error); not reported twice.
  body.pipeTo(fixed.writable).catch(() => undefined);
  return { ok: true, body: fixed.readable };
}

/** Content-Type, Cache-Control and the like, as R2 stores them (aws-chunked is transfer framing, not stored). */
function httpMetadataFrom(c: Context<AppEnv>): R2HTTPMetadata {
  const metadata: R2HTTPMetadata = {};
  const contentType = c.req.header("content-type");
  const cacheControl = c.req.header("cache-control");
  const contentDisposition = c.req.header("content-disposition");
  const contentLanguage = c.req.header("content-language");
  const contentEncoding = (c.req.header("content-encoding") ?? "")
    .split(",")
    .map((coding) => coding.trim())
    .filter((coding) => coding && coding.toLowerCase() !== "aws-chunked")
    .join(", ");
  const expires = c.req.header("expires");
  if (contentType) metadata.contentType = contentType;
  if (cacheControl) metadata.cacheControl = cacheControl;
  if (contentDisposition) metadata.contentDisposition = contentDisposition;
  if (contentLanguage) metadata.contentLanguage = contentLanguage;
  if (contentEncoding) metadata.contentEncoding = contentEncoding;
  if (expires && !Number.isNaN(Date.parse(expires))) metadata.cacheExpiry = new Date(expires);
  return metadata;
}

/** x-amz-meta-* request headers as R2 custom metadata (names lower-cased, prefix dropped). */
function customMetadataFrom(c: Context<AppEnv>): Record<string, string> {
  const metadata: Record<string, string> = {};
  c.req.raw.headers.forEach((value, name) => {
    if (name.toLowerCase().startsWith("x-amz-meta-")) metadata[name.toLowerCase().slice("x-amz-meta-".length)] = value;
  });
  return metadata;
}

/** Headers describing a stored object; a presigned GET may override some with response-* parameters. */
function objectHeaders(object: R2Object, query: URLSearchParams): Headers {
  const headers = new Headers();
  object.writeHttpMetadata(headers);
  headers.set("content-length", String(object.size));
  headers.set("etag", object.httpEtag);
  headers.set("last-modified", object.uploaded.toUTCString());
  headers.set("accept-ranges", "bytes");
  for (const [name, value] of Object.entries(object.customMetadata ?? {})) headers.set(`x-amz-meta-${name}`, value);
  if (!headers.has("content-type")) headers.set("content-type", "application/octet-stream");
  for (const [param, header] of [
    ["response-content-type", "content-type"],
    ["response-content-disposition", "content-disposition"],
    ["response-cache-control", "cache-control"],
    ["response-content-language", "content-language"],
    ["response-content-encoding", "content-encoding"],
    ["response-expires", "expires"],
  ] as const) {
    const value = query.get(param);
    if (value !== null) headers.set(header, value);
  }
  return headers;
}

/** The entity tags of an If-Match / If-None-Match header: "*" or a list of (maybe weak) quoted tags. */
function etagList(header: string): string[] {
  return header.split(",").map((tag) => tag.trim().replace(/^W\//, "").replace(/^"|"$/g, ""));
}
function etagMatches(header: string, object: R2Object): boolean {
  return etagList(header).some((tag) => tag === "*" || tag === object.etag);
}
/** Whole seconds, as HTTP dates carry them. */
function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/**
 * S3's precondition rules (RFC 7232 order) for a read: If-Match, else If-Unmodified-Since, fails
 * with 412; If-None-Match, else If-Modified-Since, answers 304.
 */
function readPrecondition(get: (name: string) => string | undefined, object: R2Object): 304 | 412 | undefined {
  const ifMatch = get("if-match");
  const ifUnmodified = get("if-unmodified-since");
  const ifNoneMatch = get("if-none-match");
  const ifModified = get("if-modified-since");
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, object)) return 412;
  } else if (ifUnmodified !== undefined && !Number.isNaN(Date.parse(ifUnmodified)) && seconds(object.uploaded) > seconds(new Date(ifUnmodified))) return 412;
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, object)) return 304;
  } else if (ifModified !== undefined && !Number.isNaN(Date.parse(ifModified)) && seconds(object.uploaded) <= seconds(new Date(ifModified))) return 304;
  return undefined;
}

/** A single `bytes=` range against an object of `size` bytes: the span, "unsatisfiable", or undefined to serve it all. */
function parseRange(header: string | undefined, size: number): { offset: number; length: number } | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined; // S3 ignores a range it cannot parse (and multiple ranges)
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const first = Number(m[1]);
  const last = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== "" && Number(m[2]) < first) return undefined;
  if (first >= size) return "unsatisfiable";
  return { offset: first, length: last - first + 1 };
}

/** A multipart upload as ListParts shows it; R2's binding lists no parts, so the stand-in keeps them (until it restarts). */
type UploadRecord = { bucket: string; key: string; initiated: Date; parts: Map<number, { etag: string; size: number; lastModified: Date }> };
const uploads = new Map<string, UploadRecord>();

/** `x-amz-copy-source`: "/bucket/key" or "bucket/key", URL-encoded, maybe with ?versionId=. */
function parseCopySource(value: string): { bucket: string; key: string } | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(value.split("?")[0] ?? "");
  } catch {
    return undefined;
  }
  const path = decoded.replace(/^\//, "");
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) return undefined;
  return { bucket: path.slice(0, slash), key: path.slice(slash + 1) };
}

const text = (tag: string, value: string) => `<${tag}>${escapeXml(value)}</${tag}>`;

/** A source object for CopyObject / UploadPartCopy, its x-amz-copy-source-if-* preconditions checked (412 on failure). */
async function copySource(c: Context<AppEnv>): Promise<{ ok: true; object: R2ObjectBody; range?: { offset: number; length: number } } | { ok: false; response: Response }> {
  const source = parseCopySource(c.req.header("x-amz-copy-source") ?? "");
  if (!source) return { ok: false, response: s3Error(400, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey") };
  const sourceBucket = bucketFor(c, source.bucket);
  if (!sourceBucket) return { ok: false, response: s3Error(404, "NoSuchBucket", "The specified bucket does not exist") };
  const head = await sourceBucket.head(source.key);
  if (!head) return { ok: false, response: s3Error(404, "NoSuchKey", "The specified key does not exist.") };
  if (readPrecondition((name) => c.req.header(`x-amz-copy-source-${name}`), head)) {
    return { ok: false, response: s3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold") };
  }
  const rangeHeader = c.req.header("x-amz-copy-source-range");
  const range = parseRange(rangeHeader, head.size);
  if (range === "unsatisfiable" || (rangeHeader !== undefined && range === undefined)) {
    return {
      ok: false,
      response: s3Error(
        400,
        "InvalidArgument",
        "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
      ),
    };
  }
  const object = await sourceBucket.get(source.key, range ? { range } : {});
  if (!object) return { ok: false, response: s3Error(404, "NoSuchKey", "The specified key does not exist.") };
  return { ok: true, object, ...(range ? { range } : {}) };
}

// Hono routes HEAD to GET handlers (and drops the body); c.req.method stays HEAD.
localS3.on(["GET", "PUT", "POST", "DELETE"], "/:bucket/:key{.+}", async (c) => {
  const authenticated = await authenticate(c);
  if (!authenticated.ok) return authenticated.response;
  const { auth } = authenticated;
  const bucketName = c.req.param("bucket");
  const bucket = bucketFor(c, bucketName);
  if (!bucket) return s3Error(404, "NoSuchBucket", "The specified bucket does not exist");
  const key = c.req.param("key");
  const url = new URL(c.req.url);
  const query = url.searchParams;
  const uploadId = query.get("uploadId");
  const method = c.req.method;
  const header = (name: string) => c.req.header(name);

  try {
    if (method === "GET" || method === "HEAD") {
      if (uploadId !== null) return listParts(bucketName, key, uploadId, query);
      const head = await bucket.head(key);
      if (!head) return method === "HEAD" ? c.body(null, 404) : s3Error(404, "NoSuchKey", "The specified key does not exist.");
      const headers = objectHeaders(head, query);
      const precondition = readPrecondition(header, head);
      if (precondition === 304) {
        const notModified = new Headers({ etag: head.httpEtag, "last-modified": head.uploaded.toUTCString() });
        return new Response(null, { status: 304, headers: notModified });
      }
      if (precondition === 412) return method === "HEAD" ? c.body(null, 412) : s3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
      const range = parseRange(header("range"), head.size);
      if (range === "unsatisfiable") {
        if (method === "HEAD") return c.body(null, 416, { "content-range": `bytes */${head.size}` });
        const response = s3Error(416, "InvalidRange", "The requested range is not satisfiable");
        response.headers.set("content-range", `bytes */${head.size}`);
        return response;
      }
      if (range) {
        headers.set("content-range", `bytes ${range.offset}-${range.offset + range.length - 1}/${head.size}`);
        headers.set("content-length", String(range.length));
      }
      const status = range ? 206 : 200;
      if (method === "HEAD") return new Response(null, { status, headers });
      const object = await bucket.get(key, range ? { range } : {});
      if (!object) return s3Error(404, "NoSuchKey", "The specified key does not exist.");
      // As stored: workerd would otherwise gzip some content types for a client accepting gzip,
      // which S3 never does (rclone, asking for gzip itself, then reads compressed bytes).
      return new Response(object.body, { status, headers, encodeBody: "manual" });
    }

    if (method === "PUT") {
      const copying = header("x-amz-copy-source") !== undefined;
      if (uploadId !== null) {
        const partNumber = Number(query.get("partNumber"));
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000)
          return s3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
        let body: ReadableStream | ArrayBuffer;
        let source: R2ObjectBody | undefined;
        if (copying) {
          const copied = await copySource(c);
          if (!copied.ok) return copied.response;
          source = copied.object;
          body = await copied.object.arrayBuffer();
        } else {
          const read = await readBody(c, auth);
          if (!read.ok) return read.response;
          body = read.body instanceof ArrayBuffer ? read.body : await new Response(read.body).arrayBuffer();
        }
        const part = await bucket.resumeMultipartUpload(key, uploadId).uploadPart(partNumber, body);
        const lastModified = new Date();
        uploads.get(uploadId)?.parts.set(partNumber, { etag: part.etag, size: body.byteLength, lastModified });
        if (source) {
          return xmlResponse(`<CopyPartResult ${S3_NAMESPACE}>${text("LastModified", lastModified.toISOString())}${text("ETag", `"${part.etag}"`)}</CopyPartResult>`);
        }
        return c.body(null, 200, { etag: `"${part.etag}"` });
      }
      // Conditional writes, as R2 supports them: If-None-Match: * creates only; If-Match replaces only that version.
      const ifMatch = header("if-match");
      const ifNoneMatch = header("if-none-match");
      if (ifMatch !== undefined || ifNoneMatch !== undefined) {
        const existing = await bucket.head(key);
        const holds =
          (ifMatch === undefined || (existing !== null && etagMatches(ifMatch, existing))) &&
          (ifNoneMatch === undefined || existing === null || !etagMatches(ifNoneMatch, existing));
        if (!holds) return s3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
      }
      if (copying) {
        const copied = await copySource(c);
        if (!copied.ok) return copied.response;
        const replace = (header("x-amz-metadata-directive") ?? "COPY").toUpperCase() === "REPLACE";
        const object = await bucket.put(key, await copied.object.arrayBuffer(), {
          httpMetadata: replace ? httpMetadataFrom(c) : copied.object.httpMetadata,
          customMetadata: replace ? customMetadataFrom(c) : copied.object.customMetadata,
        });
        return xmlResponse(`<CopyObjectResult ${S3_NAMESPACE}>${text("LastModified", object.uploaded.toISOString())}${text("ETag", object.httpEtag)}</CopyObjectResult>`);
      }
      const read = await readBody(c, auth);
      if (!read.ok) return read.response;
      const object = await bucket.put(key, read.body, { httpMetadata: httpMetadataFrom(c), customMetadata: customMetadataFrom(c) });
      return c.body(null, 200, { etag: object.httpEtag });
    }

    if (method === "POST") {
      if (query.has("uploads")) {
        const upload = await bucket.createMultipartUpload(key, { httpMetadata: httpMetadataFrom(c), customMetadata: customMetadataFrom(c) });
        uploads.set(upload.uploadId, { bucket: bucketName, key, initiated: new Date(), parts: new Map() });
        return xmlResponse(
          `<InitiateMultipartUploadResult ${S3_NAMESPACE}><Bucket>${escapeXml(bucketName)}</Bucket>` +
            `<Key>${escapeXml(key)}</Key><UploadId>${escapeXml(upload.uploadId)}</UploadId></InitiateMultipartUploadResult>`,
        );
      }
      if (uploadId !== null) {
        const read = await readBody(c, auth);
        if (!read.ok) return read.response;
        const xml = await new Response(read.body).text();
        const parts = xmlElementTexts(xml, "Part").map((part) => ({
          partNumber: Number(xmlElementTexts(part, "PartNumber")[0]),
          // S3 clients send the ETag quoted, as UploadPart returned it; R2 wants it bare.
          etag: (xmlElementTexts(part, "ETag")[0] ?? "").replace(/^"|"$/g, ""),
        }));
        if (parts.length === 0 || parts.some((part) => !Number.isInteger(part.partNumber))) {
          return s3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema");
        }
        if (parts.some((part, i) => i > 0 && part.partNumber <= (parts[i - 1]?.partNumber ?? 0))) {
          return s3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.");
        }
        const object = await bucket.resumeMultipartUpload(key, uploadId).complete(parts);
        uploads.delete(uploadId);
        return xmlResponse(
          `<CompleteMultipartUploadResult ${S3_NAMESPACE}><Location>${escapeXml(url.origin + url.pathname)}</Location>` +
            `<Bucket>${escapeXml(bucketName)}</Bucket><Key>${escapeXml(key)}</Key><ETag>${escapeXml(object.httpEtag)}</ETag></CompleteMultipartUploadResult>`,
        );
      }
      return s3Error(501, "NotImplemented", "This POST is not supported by the local stand-in");
    }

    // DELETE
    if (uploadId !== null) {
      await bucket.resumeMultipartUpload(key, uploadId).abort();
      uploads.delete(uploadId);
      return c.body(null, 204);
    }
    await bucket.delete(key);
    return c.body(null, 204);
  } catch (error) {
    return fromR2Error(error);
  }
});

/** ListParts (`GET /<bucket>/<key>?uploadId=`), from the parts this stand-in has seen uploaded. */
function listParts(bucketName: string, key: string, uploadId: string, query: URLSearchParams): Response {
  const upload = uploads.get(uploadId);
  if (!upload || upload.bucket !== bucketName || upload.key !== key) {
    return s3Error(404, "NoSuchUpload", "The specified multipart upload does not exist. (The local stand-in knows uploads started since it last restarted.)");
  }
  const marker = Number(query.get("part-number-marker") ?? "0");
  const maxParts = Math.min(Number(query.get("max-parts") ?? "1000"), 1000);
  if (!Number.isInteger(marker) || !Number.isInteger(maxParts) || marker < 0 || maxParts < 0)
    return s3Error(400, "InvalidArgument", "part-number-marker and max-parts must be whole numbers");
  const all = [...upload.parts.entries()].sort(([a], [b]) => a - b).filter(([number]) => number > marker);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  const body =
    `<ListPartsResult ${S3_NAMESPACE}>${text("Bucket", bucketName)}${text("Key", key)}${text("UploadId", uploadId)}` +
    `${text("PartNumberMarker", String(marker))}${text("NextPartNumberMarker", String(page.at(-1)?.[0] ?? marker))}${text("MaxParts", String(maxParts))}` +
    `${text("IsTruncated", String(truncated))}${text("StorageClass", "STANDARD")}` +
    page
      .map(
        ([number, part]) =>
          `<Part>${text("PartNumber", String(number))}${text("LastModified", part.lastModified.toISOString())}${text("ETag", `"${part.etag}"`)}${text("Size", String(part.size))}</Part>`,
      )
      .join("") +
    `</ListPartsResult>`;
  return xmlResponse(body);
}

/** S3 answers at most 1,000 keys per list page, as R2's list() does. */
const MAX_LIST_KEYS = 1000;

/** The buckets the stand-in serves, as ListBuckets names them (R2's bindings carry no creation date). */
function bucketNames(c: Context<AppEnv>): string[] {
  return [c.var.config.ORIGINALS_BUCKET_NAME, c.var.config.DERIVATIVES_BUCKET_NAME];
}

/** ListBuckets (`GET /_local/s3/`). */
function listBuckets(c: Context<AppEnv>): Response {
  const epoch = new Date(0).toISOString();
  const buckets = bucketNames(c)
    .map((name) => `<Bucket>${text("Name", name)}${text("CreationDate", epoch)}</Bucket>`)
    .join("");
  return xmlResponse(
    `<ListAllMyBucketsResult ${S3_NAMESPACE}><Owner>${text("ID", "edgestock-local")}${text("DisplayName", "edgestock-local")}</Owner><Buckets>${buckets}</Buckets></ListAllMyBucketsResult>`,
  );
}

/** Bucket sub-resources S3 has and the stand-in does not serve: 501, not a listing. */
const UNSUPPORTED_SUBRESOURCES = [
  "acl",
  "cors",
  "lifecycle",
  "policy",
  "tagging",
  "versioning",
  "versions",
  "website",
  "encryption",
  "uploads",
  "object-lock",
  "logging",
  "notification",
  "replication",
];

/**
 * Bucket-level calls: HeadBucket, GetBucketLocation, ListObjects (v1) and ListObjectsV2,
 * DeleteObjects, and CreateBucket on a bucket that exists (409 BucketAlreadyOwnedByYou, as S3).
 * Listings answer from the R2 binding's list(): prefix, delimiter, marker / start-after, max-keys
 * and continuation-token (R2's opaque cursor, passed through), in S3's documented ListBucketResult.
 */
localS3.on(["GET", "PUT", "POST", "DELETE"], ["/:bucket", "/:bucket/"], async (c) => {
  const authenticated = await authenticate(c);
  if (!authenticated.ok) return authenticated.response;
  const bucketName = c.req.param("bucket");
  const bucket = bucketFor(c, bucketName);
  const method = c.req.method;
  if (!bucket) {
    if (method === "HEAD") return c.body(null, 404);
    if (method === "PUT") return s3Error(501, "NotImplemented", `The local stand-in serves only the buckets ${bucketNames(c).join(" and ")}; it cannot create others`);
    return s3Error(404, "NoSuchBucket", "The specified bucket does not exist");
  }
  const query = new URL(c.req.url).searchParams;
  if (method === "HEAD") return c.body(null, 200, { "x-amz-bucket-region": "auto" });
  if (method === "PUT") return s3Error(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.");
  if (method === "DELETE") return s3Error(501, "NotImplemented", "DeleteBucket is not supported by the local stand-in");
  if (method === "POST") {
    if (!query.has("delete")) return s3Error(501, "NotImplemented", "This POST is not supported by the local stand-in");
    return deleteObjects(c, bucket, authenticated.auth);
  }
  if (query.has("location")) return xmlResponse(`<LocationConstraint ${S3_NAMESPACE}>auto</LocationConstraint>`);
  const unsupported = UNSUPPORTED_SUBRESOURCES.find((name) => query.has(name));
  if (unsupported) return s3Error(501, "NotImplemented", `?${unsupported} is not supported by the local stand-in`);
  const v2 = query.get("list-type") === "2";
  if (query.has("list-type") && !v2) return s3Error(400, "InvalidArgument", "list-type must be 2 (or absent, for ListObjects version 1)");
  if (query.has("encoding-type") && query.get("encoding-type") !== "url") return s3Error(400, "InvalidArgument", "Invalid Encoding Method specified in Request");
  const maxKeysParam = query.get("max-keys");
  const maxKeys = maxKeysParam === null ? MAX_LIST_KEYS : Number(maxKeysParam);
  if (!/^\d+$/.test(maxKeysParam ?? "0") || !Number.isSafeInteger(maxKeys)) return s3Error(400, "InvalidArgument", "Provided max-keys not an integer or within integer range");

  const urlEncoded = query.get("encoding-type") === "url";
  const out = (value: string) => (urlEncoded ? encodeURIComponent(value).replace(/%2F/g, "/") : value);
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const startAfter = v2 ? query.get("start-after") : query.get("marker");
  const token = v2 ? query.get("continuation-token") : null;
  let objects: R2Object[] = [];
  let prefixes: string[] = [];
  let truncated = false;
  let next: string | undefined;
  // max-keys=0 is valid and answers no keys; R2 wants a limit from 1.
  if (maxKeys > 0) {
    let listed: R2Objects;
    try {
      listed = await bucket.list({
        limit: Math.min(maxKeys, MAX_LIST_KEYS),
        prefix,
        ...(delimiter ? { delimiter } : {}),
        ...(token ? { cursor: token } : startAfter ? { startAfter } : {}),
      });
    } catch (error) {
      return fromR2Error(error);
    }
    objects = listed.objects;
    prefixes = listed.delimitedPrefixes;
    truncated = listed.truncated;
    if (listed.truncated) next = listed.cursor;
  }
  // Version 1 pages with markers: the last key (or common prefix) of this page.
  const lastListed = [...objects.map((object) => object.key), ...prefixes].sort().at(-1);
  const body =
    `<ListBucketResult ${S3_NAMESPACE}>` +
    text("Name", bucketName) +
    text("Prefix", out(prefix)) +
    (delimiter ? text("Delimiter", out(delimiter)) : "") +
    text("MaxKeys", String(maxKeys)) +
    (urlEncoded ? text("EncodingType", "url") : "") +
    (v2 ? text("KeyCount", String(objects.length + prefixes.length)) : text("Marker", out(startAfter ?? ""))) +
    text("IsTruncated", String(truncated)) +
    (v2 && token ? text("ContinuationToken", token) : "") +
    (v2 && next !== undefined ? text("NextContinuationToken", next) : "") +
    (v2 && startAfter !== null ? text("StartAfter", out(startAfter)) : "") +
    (!v2 && truncated && lastListed !== undefined ? text("NextMarker", out(lastListed)) : "") +
    objects
      .map(
        (object) =>
          `<Contents>${text("Key", out(object.key))}${text("LastModified", object.uploaded.toISOString())}${text("ETag", object.httpEtag)}` +
          `${text("Size", String(object.size))}${text("StorageClass", "STANDARD")}</Contents>`,
      )
      .join("") +
    prefixes.map((common) => `<CommonPrefixes>${text("Prefix", out(common))}</CommonPrefixes>`).join("") +
    `</ListBucketResult>`;
  return xmlResponse(body);
});

/** DeleteObjects (`POST /<bucket>?delete`): up to 1,000 keys; Quiet lists only failures (there are none to list). */
async function deleteObjects(c: Context<AppEnv>, bucket: R2Bucket, auth: S3Auth): Promise<Response> {
  const read = await readBody(c, auth);
  if (!read.ok) return read.response;
  const xml = await new Response(read.body).text();
  const keys = xmlElementTexts(xml, "Object").map((object) => xmlElementTexts(object, "Key")[0]);
  if (keys.length === 0 || keys.length > 1000 || keys.some((key) => key === undefined || key === "")) {
    return s3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema (1 to 1,000 Object elements, each with a Key)");
  }
  const quiet = xmlElementTexts(xml, "Quiet")[0]?.trim().toLowerCase() === "true";
  try {
    await bucket.delete(keys as string[]);
  } catch (error) {
    return fromR2Error(error);
  }
  const deleted = quiet ? "" : keys.map((key) => `<Deleted>${text("Key", key as string)}</Deleted>`).join("");
  return xmlResponse(`<DeleteResult ${S3_NAMESPACE}>${deleted}</DeleteResult>`);
}

// Anything else (object-level verbs on the root, other methods) is not part of what R2's S3 API serves these clients.
localS3.all("*", async (c) => {
  const authenticated = await authenticate(c);
  if (!authenticated.ok) return authenticated.response;
  // The service root, with or without its slash (the stand-in is mounted at /_local/s3, edge/dev/routes.ts).
  if (c.req.method === "GET" && /^\/_local\/s3\/?$/.test(new URL(c.req.url).pathname)) return listBuckets(c);
  return s3Error(501, "NotImplemented", `${c.req.method} ${new URL(c.req.url).pathname} is not supported by the local stand-in`);
});
