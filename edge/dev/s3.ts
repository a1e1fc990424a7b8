import { type Context, Hono } from "hono";
import { escapeXml, sha256Hex, UNSIGNED_PAYLOAD, verifySignature, xmlElementTexts } from "../../common/s3";
import type { AppEnv } from "../env";

/**
 * A stand-in for R2's S3 API, for local development and tests only (wrangler 4.86's local runtime
 * has none). Mounted at /_local/s3 outside production (edge/dev/routes.ts), so the S3 endpoint is
 * `http://127.0.0.1:8787/_local/s3` and every URL is path-style: /_local/s3/<bucket>/<key>. It
 * serves the subset Edgestock uses on the local R2 bindings: PutObject, GetObject, HeadObject,
 * DeleteObject, ListObjectsV2 and the multipart calls. Every request is verified with the same SigV4 code that
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

/** An S3 error document, with the status S3 gives that code. */
function s3Error(status: number, code: string, message: string): Response {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error>`;
  return new Response(body, { status, headers: { "content-type": "application/xml" } });
}

function xmlResponse(body: string, status = 200): Response {
  return new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`, { status, headers: { "content-type": "application/xml" } });
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
});

// CORS preflight: answered before (and without) a signature, as S3 does.
localS3.options("*", (c) => {
  const requested = c.req.header("access-control-request-headers");
  return c.body(null, 204, { ...(requested ? { "access-control-allow-headers": requested } : {}), "access-control-max-age": "3600" });
});

/** What the signature established: the payload hash the body must match (or UNSIGNED-PAYLOAD). */
type S3Auth = { payloadHash: string };

/** Verifies the request's SigV4 signature against the configured R2 token; an S3 error if it fails. */
async function authenticate(c: Context<AppEnv>): Promise<{ ok: true; auth: S3Auth } | { ok: false; response: Response }> {
  const { R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY } = c.var.config;
  const verified = await verifySignature(c.req.raw, {
    secretFor: (accessKeyId) => (accessKeyId === R2_ACCESS_KEY_ID ? R2_SECRET_ACCESS_KEY : undefined),
    region: "auto",
    service: "s3",
  });
  if (!verified.ok) return { ok: false, response: s3Error(verified.status, verified.code, verified.message) };
  return { ok: true, auth: { payloadHash: verified.payloadHash } };
}

/** The R2 binding behind a bucket name, as R2's S3 API names the buckets. */
function bucketFor(c: Context<AppEnv>, name: string): R2Bucket | undefined {
  const { ORIGINALS_BUCKET_NAME, DERIVATIVES_BUCKET_NAME } = c.var.config;
  if (name === ORIGINALS_BUCKET_NAME) return c.env.ORIGINALS;
  if (name === DERIVATIVES_BUCKET_NAME) return c.env.DERIVATIVES;
  return undefined;
}

/** The request body: a signed-hash body is read and checked against its hash; otherwise streamed. */
async function readBody(c: Context<AppEnv>, { payloadHash }: S3Auth): Promise<{ ok: true; body: ReadableStream | ArrayBuffer } | { ok: false; response: Response }> {
  if (payloadHash !== UNSIGNED_PAYLOAD) {
    const bytes = await c.req.arrayBuffer();
    if ((await sha256Hex(bytes)) !== payloadHash) {
      return { ok: false, response: s3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.") };
    }
    return { ok: true, body: bytes };
  }
  const declared = c.req.header("content-length");
  const body = c.req.raw.body;
  if (declared === undefined || body === null) return { ok: true, body: await c.req.arrayBuffer() };
  // R2 takes a stream only when its length is known, and workerd does not hold a request body to
  // its Content-Length header. FixedLengthStream gives R2 the length and fails the write if the
  // body is shorter or longer than declared, so a signed content-length bounds what is stored.
  const length = Number(declared);
  if (!Number.isSafeInteger(length) || length < 0) return { ok: false, response: s3Error(400, "InvalidArgument", "Content-Length must be a whole number of bytes") };
  const fixed = new FixedLengthStream(length);
  // A failed copy surfaces as the R2 call's own failure (see fromR2Error); not reported twice.
  body.pipeTo(fixed.writable).catch(() => undefined);
  return { ok: true, body: fixed.readable };
}

function httpMetadataFrom(c: Context<AppEnv>): R2HTTPMetadata {
  const metadata: R2HTTPMetadata = {};
  const contentType = c.req.header("content-type");
  const cacheControl = c.req.header("cache-control");
  const contentDisposition = c.req.header("content-disposition");
  if (contentType) metadata.contentType = contentType;
  if (cacheControl) metadata.cacheControl = cacheControl;
  if (contentDisposition) metadata.contentDisposition = contentDisposition;
  return metadata;
}

/** Headers describing a stored object; a presigned GET may override some with response-* parameters. */
function objectHeaders(object: R2Object, query: URLSearchParams): Headers {
  const headers = new Headers();
  object.writeHttpMetadata(headers);
  headers.set("content-length", String(object.size));
  headers.set("etag", object.httpEtag);
  headers.set("last-modified", object.uploaded.toUTCString());
  if (!headers.has("content-type")) headers.set("content-type", "application/octet-stream");
  for (const [param, header] of [
    ["response-content-type", "content-type"],
    ["response-content-disposition", "content-disposition"],
    ["response-cache-control", "cache-control"],
  ] as const) {
    const value = query.get(param);
    if (value !== null) headers.set(header, value);
  }
  return headers;
}

// Hono routes HEAD to GET handlers (and drops the body); c.req.method stays HEAD.
localS3.on(["GET", "PUT", "POST", "DELETE"], "/:bucket/:key{.+}", async (c) => {
  const authenticated = await authenticate(c);
  if (!authenticated.ok) return authenticated.response;
  const { auth } = authenticated;
  const bucket = bucketFor(c, c.req.param("bucket"));
  if (!bucket) return s3Error(404, "NoSuchBucket", "The specified bucket does not exist");
  const key = c.req.param("key");
  const url = new URL(c.req.url);
  const query = url.searchParams;
  const uploadId = query.get("uploadId");
  const method = c.req.method;

  try {
    if (method === "GET" || method === "HEAD") {
      if (uploadId !== null) return s3Error(501, "NotImplemented", "ListParts is not supported by the local stand-in");
      if (method === "HEAD") {
        const object = await bucket.head(key);
        return object ? new Response(null, { headers: objectHeaders(object, query) }) : c.body(null, 404);
      }
      const object = await bucket.get(key);
      if (!object) return s3Error(404, "NoSuchKey", "The specified key does not exist.");
      return new Response(object.body, { headers: objectHeaders(object, query) });
    }

    if (method === "PUT") {
      if (c.req.header("x-amz-copy-source")) return s3Error(501, "NotImplemented", "CopyObject is not supported by the local stand-in");
      const read = await readBody(c, auth);
      if (!read.ok) return read.response;
      if (uploadId !== null) {
        const partNumber = Number(query.get("partNumber"));
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000)
          return s3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
        const part = await bucket.resumeMultipartUpload(key, uploadId).uploadPart(partNumber, read.body);
        return c.body(null, 200, { etag: `"${part.etag}"` });
      }
      const object = await bucket.put(key, read.body, { httpMetadata: httpMetadataFrom(c) });
      return c.body(null, 200, { etag: object.httpEtag });
    }

    if (method === "POST") {
      if (query.has("uploads")) {
        const upload = await bucket.createMultipartUpload(key, { httpMetadata: httpMetadataFrom(c) });
        return xmlResponse(
          `<InitiateMultipartUploadResult ${S3_NAMESPACE}><Bucket>${escapeXml(c.req.param("bucket"))}</Bucket>` +
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
        return xmlResponse(
          `<CompleteMultipartUploadResult ${S3_NAMESPACE}><Location>${escapeXml(url.origin + url.pathname)}</Location>` +
            `<Bucket>${escapeXml(c.req.param("bucket"))}</Bucket><Key>${escapeXml(key)}</Key><ETag>${escapeXml(object.httpEtag)}</ETag></CompleteMultipartUploadResult>`,
        );
      }
      return s3Error(501, "NotImplemented", "This POST is not supported by the local stand-in");
    }

    // DELETE
    if (uploadId !== null) {
      await bucket.resumeMultipartUpload(key, uploadId).abort();
      return c.body(null, 204);
    }
    await bucket.delete(key);
    return c.body(null, 204);
  } catch (error) {
    return fromR2Error(error);
  }
});

/** S3 answers at most 1,000 keys per ListObjectsV2 page, as R2's list() does. */
const MAX_LIST_KEYS = 1000;

/**
 * ListObjectsV2 (`GET /<bucket>?list-type=2`), answered from the R2 binding's list(): prefix,
 * delimiter, start-after, max-keys and continuation-token (R2's opaque cursor, passed through), in
 * S3's documented ListBucketResult. The migration and its tests compare bucket contents with it.
 */
localS3.on("GET", ["/:bucket", "/:bucket/"], async (c) => {
  const authenticated = await authenticate(c);
  if (!authenticated.ok) return authenticated.response;
  const bucketName = c.req.param("bucket");
  const bucket = bucketFor(c, bucketName);
  if (!bucket) return s3Error(404, "NoSuchBucket", "The specified bucket does not exist");
  const query = new URL(c.req.url).searchParams;
  if (query.get("list-type") !== "2") return s3Error(501, "NotImplemented", "Only ListObjectsV2 (list-type=2) is supported by the local stand-in");
  if (query.has("encoding-type")) return s3Error(501, "NotImplemented", "encoding-type is not supported by the local stand-in");
  const maxKeysParam = query.get("max-keys");
  const maxKeys = maxKeysParam === null ? MAX_LIST_KEYS : Number(maxKeysParam);
  if (!/^\d+$/.test(maxKeysParam ?? "0") || !Number.isSafeInteger(maxKeys)) return s3Error(400, "InvalidArgument", "Provided max-keys not an integer or within integer range");

  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const startAfter = query.get("start-after");
  const token = query.get("continuation-token");
  let objects: R2Object[] = [];
  let prefixes: string[] = [];
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
    if (listed.truncated) next = listed.cursor;
  }
  const text = (tag: string, value: string) => `<${tag}>${escapeXml(value)}</${tag}>`;
  const body =
    `<ListBucketResult ${S3_NAMESPACE}>` +
    text("Name", bucketName) +
    text("Prefix", prefix) +
    (delimiter ? text("Delimiter", delimiter) : "") +
    text("MaxKeys", String(maxKeys)) +
    text("KeyCount", String(objects.length + prefixes.length)) +
    text("IsTruncated", String(next !== undefined)) +
    (token ? text("ContinuationToken", token) : "") +
    (next !== undefined ? text("NextContinuationToken", next) : "") +
    (startAfter !== null ? text("StartAfter", startAfter) : "") +
    objects
      .map(
        (object) =>
          `<Contents>${text("Key", object.key)}${text("LastModified", object.uploaded.toISOString())}${text("ETag", object.httpEtag)}` +
          `${text("Size", String(object.size))}${text("StorageClass", "STANDARD")}</Contents>`,
      )
      .join("") +
    prefixes.map((common) => `<CommonPrefixes>${text("Prefix", common)}</CommonPrefixes>`).join("") +
    `</ListBucketResult>`;
  return xmlResponse(body);
});

// Other bucket-level calls (CreateBucket, DeleteObjects and the like) are not part of what Edgestock uses.
localS3.all("*", async (c) => {
  const authenticated = await authenticate(c);
  if (!authenticated.ok) return authenticated.response;
  return s3Error(501, "NotImplemented", `${c.req.method} ${new URL(c.req.url).pathname} is not supported by the local stand-in`);
});
