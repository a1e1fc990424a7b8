/**
 * AWS Signature Version 4 for R2's S3 API, and a small S3 client built on it.
 *
 * Written on Web Crypto only (crypto.subtle HMAC-SHA256 and SHA-256), so the same code signs in
 * workerd (the edge presigns uploads and downloads), in Bun (the GPU worker reads originals and
 * writes derivatives) and in Node (tests), and verifies in the edge's local S3 stand-in
 * (edge/dev/s3.ts). aws4fetch is not used because it refuses to sign content-type and
 * content-length, and a presigned upload must pin both.
 *
 * Reference: AWS S3 API "Authenticating Requests (AWS Signature Version 4)": the canonical request
 * is METHOD \n URI \n QUERY \n HEADERS \n SIGNED-HEADER-NAMES \n PAYLOAD-HASH, the string to sign
 * is ALGORITHM \n DATETIME \n SCOPE \n hex(sha256(canonical request)), and the signature is
 * hex(HMAC(signing key, string to sign)) where the signing key is derived from the secret and
 * the scope (date, region, service).
 */

const ALGORITHM = "AWS4-HMAC-SHA256";
const SCOPE_TERMINATOR = "aws4_request";

/** Payload hash of a request whose body is not signed (every presigned URL). */
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
/**
 * Payload hashes of aws-chunked (streaming) uploads: each chunk signed (SigV4 streaming), or
 * unsigned chunks followed by a checksum trailer (the AWS SDK v3 default for PutObject/UploadPart).
 */
export const STREAMING_PAYLOADS = ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"] as const;
/** hex(sha256("")): the payload hash of a request without a body. */
export const EMPTY_PAYLOAD_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** Longest a presigned URL may live: one week, as S3 and R2 allow. */
export const MAX_PRESIGN_EXPIRES_SECONDS = 604_800;
/** How far a header-signed request's x-amz-date may be from the server's clock, as S3 allows. */
const MAX_CLOCK_SKEW_MS = 15 * 60_000;

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Encoding and canonical forms
// ---------------------------------------------------------------------------------------------

/**
 * RFC 3986 percent-encoding as SigV4 wants it: everything but the unreserved characters
 * A-Z a-z 0-9 - _ . ~ is encoded from UTF-8 with upper-case hex. encodeURIComponent also
 * leaves ! ' ( ) * alone, so those are encoded here.
 */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * An object key as a URL path: each '/'-separated segment encoded, the '/' kept (S3 keys use it
 * as a folder separator). "." and ".." segments are refused: URL parsers resolve them away, so
 * such a key could not be addressed.
 *
 * @example encodeKey("originals/u 1/a$b.jpg") // "originals/u%201/a%24b.jpg"
 */
export function encodeKey(key: string): string {
  const segments = key.split("/");
  if (segments.some((segment) => segment === "." || segment === "..")) {
    throw new RangeError(`object key ${JSON.stringify(key)} has a "." or ".." segment`);
  }
  return segments.map(uriEncode).join("/");
}

function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    // A malformed escape is kept as sent; it then fails to match whatever the signer meant.
    return value;
  }
}

/**
 * The canonical URI of a URL path. S3 is the one service whose path is not encoded twice: each
 * segment is decoded and encoded once per RFC 3986, so "/test$file.text" and "/test%24file.text"
 * both become "/test%24file.text" and signer and verifier agree however a client spelled it.
 */
export function canonicalUri(pathname: string): string {
  if (pathname === "") return "/";
  return pathname
    .split("/")
    .map((segment) => uriEncode(decodeComponent(segment)))
    .join("/");
}

/**
 * Parses a raw query string ("?a=1&b") into decoded [name, value] pairs. '+' is kept as a
 * literal plus (SigV4 clients encode a space as %20), unlike URLSearchParams.
 */
function parseQuery(search: string): [string, string][] {
  const raw = search.startsWith("?") ? search.slice(1) : search;
  if (raw === "") return [];
  return raw
    .split("&")
    .filter((part) => part !== "")
    .map((part) => {
      const eq = part.indexOf("=");
      return eq === -1 ? [decodeComponent(part), ""] : [decodeComponent(part.slice(0, eq)), decodeComponent(part.slice(eq + 1))];
    });
}

/**
 * The canonical query string: every parameter (a bare "uploads" becomes "uploads="), name and
 * value RFC 3986-encoded, sorted by encoded name then encoded value.
 */
function canonicalQueryString(pairs: [string, string][]): string {
  return pairs
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** A header value as SigV4 signs it: trimmed, runs of whitespace collapsed to one space. */
function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/\s+/g, " ");
}

/** "20130524T000000Z": ISO 8601 basic format, second precision, UTC. */
function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]|\.\d{3}/g, "");
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

// ---------------------------------------------------------------------------------------------
// Crypto
// ---------------------------------------------------------------------------------------------

function toHex(buffer: ArrayBuffer): string {
  let out = "";
  for (const byte of new Uint8Array(buffer)) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** hex(sha256(data)), the form S3 wants in x-amz-content-sha256. */
export async function sha256Hex(data: string | Uint8Array | ArrayBuffer): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data);
  return toHex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmac(key: Uint8Array | ArrayBuffer, data: string): Promise<ArrayBuffer> {
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(data));
}

// The signing key depends only on the secret and the scope (day, region, service), so it is
// derived once per day instead of four HMACs per signature. Bounded: at most a few live scopes.
const signingKeys = new Map<string, Promise<CryptoKey>>();
const MAX_CACHED_SIGNING_KEYS = 64;

function signingKey(secretAccessKey: string, date: string, region: string, service: string): Promise<CryptoKey> {
  const cacheKey = [secretAccessKey, date, region, service].join("\n");
  const hit = signingKeys.get(cacheKey);
  if (hit) return hit;
  const derived = (async () => {
    const kDate = await hmac(encoder.encode(`AWS4${secretAccessKey}`), date);
    const kRegion = await hmac(kDate, region);
    const kService = await hmac(kRegion, service);
    const kSigning = await hmac(kService, SCOPE_TERMINATOR);
    return crypto.subtle.importKey("raw", kSigning, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  })();
  if (signingKeys.size >= MAX_CACHED_SIGNING_KEYS) signingKeys.clear();
  signingKeys.set(cacheKey, derived);
  derived.catch(() => signingKeys.delete(cacheKey));
  return derived;
}

type Scope = { date: string; region: string; service: string };

/** The canonical request, hashed into the string to sign, signed with the derived key. */
async function computeSignature(
  secretAccessKey: string,
  datetime: string,
  scope: Scope,
  parts: { method: string; uri: string; query: string; headers: [string, string][]; payloadHash: string },
): Promise<string> {
  const canonicalRequest = [
    parts.method,
    parts.uri,
    parts.query,
    parts.headers.map(([name, value]) => `${name}:${canonicalHeaderValue(value)}\n`).join(""),
    parts.headers.map(([name]) => name).join(";"),
    parts.payloadHash,
  ].join("\n");
  const stringToSign = [ALGORITHM, datetime, `${scope.date}/${scope.region}/${scope.service}/${SCOPE_TERMINATOR}`, await sha256Hex(canonicalRequest)].join("\n");
  const key = await signingKey(secretAccessKey, scope.date, scope.region, scope.service);
  return toHex(await crypto.subtle.sign("HMAC", key, encoder.encode(stringToSign)));
}

/** Compares two signatures in time independent of where they differ. */
function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Lower-cased names, sorted, with their values; host (from the URL) always included. */
function headersToSign(url: URL, headers: Record<string, string>): [string, string][] {
  const byName = new Map<string, string>([["host", url.host]]);
  for (const [name, value] of Object.entries(headers)) byName.set(name.toLowerCase(), value);
  return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

/** Who signs, for which region and service, and at what instant (now unless given). */
export type SigningParams = {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  /** The signing instant; defaults to now. Tests pin it. */
  datetime?: Date;
};

export type PresignUrlInput = SigningParams & {
  method: string;
  /** The full URL; query parameters already on it are signed and kept. */
  url: string;
  /** Headers the caller must then send with exactly these values; host is added from the URL. */
  signedHeaders?: Record<string, string>;
  /** Seconds the URL stays valid, 1 to 604800. */
  expiresIn: number;
};

/**
 * A presigned URL (query-string authentication): anyone holding it may make this one request
 * until it expires. The payload is UNSIGNED-PAYLOAD; headers in `signedHeaders` become part of
 * the signature, so a client that sends another content type or length is refused.
 *
 * @example
 * await presignUrl({ method: "GET", url: "https://acct.r2.cloudflarestorage.com/bucket/a.jpg",
 *   region: "auto", service: "s3", accessKeyId, secretAccessKey, expiresIn: 300 })
 */
export async function presignUrl(input: PresignUrlInput): Promise<string> {
  if (!Number.isInteger(input.expiresIn) || input.expiresIn < 1 || input.expiresIn > MAX_PRESIGN_EXPIRES_SECONDS) {
    throw new RangeError(`expiresIn must be a whole number of seconds from 1 to ${MAX_PRESIGN_EXPIRES_SECONDS}`);
  }
  const url = new URL(input.url);
  const datetime = amzDate(input.datetime ?? new Date());
  const scope: Scope = { date: datetime.slice(0, 8), region: input.region, service: input.service };
  const headers = headersToSign(url, input.signedHeaders ?? {});
  const query = canonicalQueryString([
    ...parseQuery(url.search),
    ["X-Amz-Algorithm", ALGORITHM],
    ["X-Amz-Credential", `${input.accessKeyId}/${scope.date}/${scope.region}/${scope.service}/${SCOPE_TERMINATOR}`],
    ["X-Amz-Date", datetime],
    ["X-Amz-Expires", String(input.expiresIn)],
    ["X-Amz-SignedHeaders", headers.map(([name]) => name).join(";")],
  ]);
  const uri = canonicalUri(url.pathname);
  const signature = await computeSignature(input.secretAccessKey, datetime, scope, {
    method: input.method.toUpperCase(),
    uri,
    query,
    headers,
    payloadHash: UNSIGNED_PAYLOAD,
  });
  // The URL is sent exactly as it was signed: canonical path, canonical (sorted) query.
  return `${url.protocol}//${url.host}${uri}?${query}&X-Amz-Signature=${signature}`;
}

export type SignRequestInput = SigningParams & {
  method: string;
  url: string;
  /** Headers to send and sign (all of them are signed); host comes from the URL. */
  headers?: Record<string, string>;
  /** hex(sha256(body)), EMPTY_PAYLOAD_SHA256 for no body, or UNSIGNED_PAYLOAD. */
  payloadHash: string;
};

/**
 * Signs a request in the Authorization-header form. Returns the headers to send: the given
 * ones plus x-amz-date, x-amz-content-sha256 and authorization (host is left to the HTTP client).
 */
export async function signRequest(input: SignRequestInput): Promise<Headers> {
  const url = new URL(input.url);
  const datetime = amzDate(input.datetime ?? new Date());
  const scope: Scope = { date: datetime.slice(0, 8), region: input.region, service: input.service };
  const toSend: Record<string, string> = { ...input.headers, "x-amz-date": datetime, "x-amz-content-sha256": input.payloadHash };
  const headers = headersToSign(url, toSend);
  const signature = await computeSignature(input.secretAccessKey, datetime, scope, {
    method: input.method.toUpperCase(),
    uri: canonicalUri(url.pathname),
    query: canonicalQueryString(parseQuery(url.search)),
    headers,
    payloadHash: input.payloadHash,
  });
  const result = new Headers();
  for (const [name, value] of headers) if (name !== "host") result.set(name, value);
  result.set(
    "authorization",
    `${ALGORITHM} Credential=${input.accessKeyId}/${scope.date}/${scope.region}/${scope.service}/${SCOPE_TERMINATOR},` +
      `SignedHeaders=${headers.map(([name]) => name).join(";")},Signature=${signature}`,
  );
  return result;
}

// ---------------------------------------------------------------------------------------------
// Verifying (the local S3 stand-in)
// ---------------------------------------------------------------------------------------------

export type VerifyFailureCode =
  | "AccessDenied"
  | "SignatureDoesNotMatch"
  | "InvalidAccessKeyId"
  | "AuthorizationQueryParametersError"
  | "AuthorizationHeaderMalformed"
  | "RequestTimeTooSkewed"
  | "InvalidRequest"
  | "InvalidArgument";

export type VerifyResult =
  | {
      ok: true;
      accessKeyId: string;
      /** Query-string (presigned URL) or Authorization-header authentication. */
      presigned: boolean;
      /** Lower-case names of the headers the signature covers. */
      signedHeaders: string[];
      /** The payload hash that was signed: UNSIGNED-PAYLOAD, a STREAMING_PAYLOADS name, or a hex SHA-256 the body must match. */
      payloadHash: string;
      /**
       * The signature of a chunk of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, chained from the
       * previous chunk's signature (the request's own for the first chunk).
       */
      chunkSignature(previous: string, chunkSha256Hex: string): Promise<string>;
      /** The request's own signature (the seed of a streaming upload's chunk signatures). */
      signature: string;
    }
  | { ok: false; status: 400 | 403; code: VerifyFailureCode; message: string };

export type VerifyOptions = {
  /** The secret of an access key id, or undefined when the key id is unknown. */
  secretFor(accessKeyId: string): string | undefined;
  region: string;
  service: string;
  now?: Date;
};

const fail = (status: 400 | 403, code: VerifyFailureCode, message: string): VerifyResult => ({ ok: false, status, code, message });
const MISMATCH_MESSAGE = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";

type Claim = {
  accessKeyId: string;
  scope: Scope;
  datetime: string;
  signedHeaders: string[];
  signature: string;
  payloadHash: string;
  /** The query pairs that were signed (all but X-Amz-Signature in a presigned URL). */
  query: [string, string][];
};

/**
 * Verifies a SigV4-signed request the way S3 does, for the local stand-in. The canonical request
 * is rebuilt from the request as it actually arrived (method, path, query, the actual values of
 * the signed headers), so a different path, content type or content length than was signed does
 * not match. Presigned URLs must not have expired (X-Amz-Date + X-Amz-Expires); header-signed
 * requests must be within 15 minutes of `now`. The body is not read: for a payload hash other
 * than UNSIGNED-PAYLOAD the caller checks the body against `payloadHash`.
 */
export async function verifySignature(request: Request, options: VerifyOptions): Promise<VerifyResult> {
  const url = new URL(request.url);
  const now = options.now ?? new Date();
  const pairs = parseQuery(url.search);
  const authorization = request.headers.get("authorization");
  const queryParam = (name: string) => pairs.find(([key]) => key === name)?.[1];
  const presigned = queryParam("X-Amz-Algorithm") !== undefined || queryParam("X-Amz-Signature") !== undefined;
  if (presigned && authorization)
    return fail(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified");

  const parsed = presigned ? parsePresigned(pairs, options, now) : authorization ? parseAuthorizationHeader(authorization, request.headers, pairs, options, now) : undefined;
  if (!parsed) return fail(403, "AccessDenied", "Access Denied");
  if (!parsed.ok) return parsed;
  const claim = parsed.claim;

  const secret = options.secretFor(claim.accessKeyId);
  if (secret === undefined) return fail(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");

  if (!claim.signedHeaders.includes("host")) return fail(403, "AccessDenied", "The host header must be signed");
  // S3 refuses x-amz-* headers that travel outside the signature (they change what a request does).
  const unsigned: string[] = [];
  request.headers.forEach((_value, name) => {
    const lower = name.toLowerCase();
    if (lower.startsWith("x-amz-") && !claim.signedHeaders.includes(lower)) unsigned.push(lower);
  });
  if (unsigned.length > 0) return fail(403, "AccessDenied", `There were headers present in the request which were not signed: ${unsigned.sort().join(", ")}`);

  const headers: [string, string][] = [];
  for (const name of claim.signedHeaders) {
    // workerd and fetch() keep Host out of request.headers; the URL carries it.
    const value = name === "host" ? (request.headers.get("host") ?? url.host) : request.headers.get(name);
    if (value === null) return fail(403, "SignatureDoesNotMatch", `${MISMATCH_MESSAGE} (signed header ${name} is missing from the request)`);
    headers.push([name, value]);
  }
  const expected = await computeSignature(secret, claim.datetime, claim.scope, {
    method: request.method.toUpperCase(),
    uri: canonicalUri(url.pathname),
    query: canonicalQueryString(claim.query),
    headers,
    payloadHash: claim.payloadHash,
  });
  if (!timingSafeEqual(expected, claim.signature)) return fail(403, "SignatureDoesNotMatch", MISMATCH_MESSAGE);
  const scope = `${claim.scope.date}/${claim.scope.region}/${claim.scope.service}/${SCOPE_TERMINATOR}`;
  return {
    ok: true,
    accessKeyId: claim.accessKeyId,
    presigned,
    signedHeaders: claim.signedHeaders,
    payloadHash: claim.payloadHash,
    signature: claim.signature,
    // AWS "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks".
    chunkSignature: async (previous, chunkSha256Hex) => {
      const stringToSign = [`${ALGORITHM}-PAYLOAD`, claim.datetime, scope, previous, EMPTY_PAYLOAD_SHA256, chunkSha256Hex].join("\n");
      const key = await signingKey(secret, claim.scope.date, claim.scope.region, claim.scope.service);
      return toHex(await crypto.subtle.sign("HMAC", key, encoder.encode(stringToSign)));
    },
  };
}

type ParseResult = { ok: true; claim: Claim } | (VerifyResult & { ok: false });

/** Splits "AKID/20130524/auto/s3/aws4_request" and checks it names our region and service. */
function parseCredential(credential: string, datetime: string, options: VerifyOptions): { accessKeyId: string; scope: Scope } | string {
  const parts = credential.split("/");
  if (parts.length !== 5) return 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"';
  const [accessKeyId = "", date = "", region = "", service = "", terminator = ""] = parts;
  if (date !== datetime.slice(0, 8)) return `the credential date '${date}' does not match the request date '${datetime.slice(0, 8)}'`;
  if (region !== options.region) return `the region '${region}' is wrong; expecting '${options.region}'`;
  if (service !== options.service) return `the service '${service}' is wrong; expecting '${options.service}'`;
  if (terminator !== SCOPE_TERMINATOR) return `the credential must end in '${SCOPE_TERMINATOR}'`;
  return { accessKeyId, scope: { date, region, service } };
}

function parseSignedHeaders(value: string): string[] | undefined {
  const names = value.split(";");
  return names.every((name) => /^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) ? names : undefined;
}

function parsePresigned(pairs: [string, string][], options: VerifyOptions, now: Date): ParseResult {
  const error = (message: string): ParseResult => ({ ok: false, status: 400, code: "AuthorizationQueryParametersError", message });
  const get = (name: string) => pairs.find(([key]) => key === name)?.[1];
  const [algorithm, credential, datetime, expires, signedHeaders, signature] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
  ].map(get);
  if (!algorithm || !credential || !datetime || expires === undefined || !signedHeaders || !signature) {
    return error(
      "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
    );
  }
  if (algorithm !== ALGORITHM) return error(`X-Amz-Algorithm only supports "${ALGORITHM}"`);
  const signedAt = parseAmzDate(datetime);
  if (!signedAt) return error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  if (!/^\d+$/.test(expires)) return error("X-Amz-Expires should be a number");
  const expiresIn = Number(expires);
  if (expiresIn > MAX_PRESIGN_EXPIRES_SECONDS) return error(`X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGN_EXPIRES_SECONDS}`);
  const names = parseSignedHeaders(signedHeaders);
  if (!names) return error("X-Amz-SignedHeaders must be lower-case header names separated by ';'");
  const parsed = parseCredential(credential, datetime, options);
  if (typeof parsed === "string") return error(`Error parsing the X-Amz-Credential parameter; ${parsed}`);

  if (signedAt.getTime() + expiresIn * 1000 < now.getTime() || expiresIn === 0) return { ok: false, status: 403, code: "AccessDenied", message: "Request has expired" };
  if (signedAt.getTime() - MAX_CLOCK_SKEW_MS > now.getTime()) return { ok: false, status: 403, code: "AccessDenied", message: "Request is not valid yet" };
  return {
    ok: true,
    claim: {
      ...parsed,
      datetime,
      signedHeaders: names,
      signature: signature.toLowerCase(),
      // A presigned URL may pin its payload with X-Amz-Content-Sha256; ours never do.
      payloadHash: get("X-Amz-Content-Sha256") ?? UNSIGNED_PAYLOAD,
      query: pairs.filter(([key]) => key !== "X-Amz-Signature"),
    },
  };
}

function parseAuthorizationHeader(authorization: string, headers: Headers, pairs: [string, string][], options: VerifyOptions, now: Date): ParseResult {
  const malformed = (message: string): ParseResult => ({
    ok: false,
    status: 400,
    code: "AuthorizationHeaderMalformed",
    message: `The authorization header is malformed; ${message}`,
  });
  const space = authorization.indexOf(" ");
  if (space === -1 || authorization.slice(0, space) !== ALGORITHM) {
    return { ok: false, status: 400, code: "InvalidRequest", message: `The authorization mechanism you have provided is not supported. Please use ${ALGORITHM}.` };
  }
  // "Credential=..., SignedHeaders=..., Signature=..." in any order, spaces after commas optional.
  const fields = new Map<string, string>();
  for (const field of authorization.slice(space + 1).split(",")) {
    const eq = field.indexOf("=");
    if (eq !== -1) fields.set(field.slice(0, eq).trim(), field.slice(eq + 1).trim());
  }
  const credential = fields.get("Credential");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (!credential || !signedHeaders || !signature) return malformed("it must carry Credential, SignedHeaders and Signature");

  const datetime = headers.get("x-amz-date");
  const signedAt = datetime ? parseAmzDate(datetime) : undefined;
  if (!datetime || !signedAt) return { ok: false, status: 403, code: "AccessDenied", message: "AWS authentication requires a valid Date or x-amz-date header" };
  const parsed = parseCredential(credential, datetime, options);
  if (typeof parsed === "string") return malformed(parsed);
  const names = parseSignedHeaders(signedHeaders);
  if (!names) return malformed("SignedHeaders must be lower-case header names separated by ';'");
  if (!names.includes("x-amz-date")) return { ok: false, status: 403, code: "AccessDenied", message: "The x-amz-date header must be signed" };

  const payloadHash = headers.get("x-amz-content-sha256");
  if (!payloadHash) return { ok: false, status: 400, code: "InvalidRequest", message: "Missing required header for this request: x-amz-content-sha256" };
  if (payloadHash !== UNSIGNED_PAYLOAD && !(STREAMING_PAYLOADS as readonly string[]).includes(payloadHash) && !/^[0-9a-f]{64}$/.test(payloadHash)) {
    return {
      ok: false,
      status: 400,
      code: "InvalidArgument",
      message: `x-amz-content-sha256 must be UNSIGNED-PAYLOAD, ${STREAMING_PAYLOADS.join(", ")} or a valid sha256 value.`,
    };
  }
  if (Math.abs(signedAt.getTime() - now.getTime()) > MAX_CLOCK_SKEW_MS) {
    return { ok: false, status: 403, code: "RequestTimeTooSkewed", message: "The difference between the request time and the current time is too large." };
  }
  return { ok: true, claim: { ...parsed, datetime, signedHeaders: names, signature: signature.toLowerCase(), payloadHash, query: pairs } };
}

// ---------------------------------------------------------------------------------------------
// XML (S3 speaks it; these few shapes need no parser)
// ---------------------------------------------------------------------------------------------

/** Escapes text for an XML element or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[ch]};`);
}

function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_match, entity: string) => {
    if (entity.startsWith("#x")) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[entity] ?? "";
  });
}

/** The raw (still escaped) content of every `<tag>...</tag>`, in order: for elements that hold elements. */
function xmlElementBodies(xml: string, tag: string): string[] {
  const pattern = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "g");
  return [...xml.matchAll(pattern)].map((match) => match[1] ?? "");
}

/** The unescaped text of every `<tag>...</tag>` in a flat XML document, in order. */
export function xmlElementTexts(xml: string, tag: string): string[] {
  return xmlElementBodies(xml, tag).map(unescapeXml);
}

/** One object of a ListObjectsV2 page. */
export type ListedObject = { key: string; size: number; etag: string; lastModified: Date };

/** One ListObjectsV2 page: the objects, and the token for the next page while it is truncated. */
export type ListObjectsPage = {
  objects: ListedObject[];
  /** Rolled-up key prefixes, when the request had a delimiter. */
  commonPrefixes: string[];
  isTruncated: boolean;
  nextContinuationToken?: string;
  keyCount: number;
};

/**
 * Reads S3's ListObjectsV2 answer (ListBucketResult: Contents with Key, Size, ETag, LastModified;
 * CommonPrefixes; IsTruncated, NextContinuationToken, KeyCount). Each Contents is read on its own, its
 * children unescaped one by one, so a key spelled with XML entities cannot be mistaken for markup.
 */
export function parseListObjectsV2(xml: string): ListObjectsPage {
  // Top-level fields come from the document with the Contents blocks cut out (they have their own Key...).
  const outer = xml.replace(/<Contents(?:\s[^>]*)?>[\s\S]*?<\/Contents>/g, "");
  const field = (body: string, tag: string) => xmlElementTexts(body, tag)[0];
  const objects = xmlElementBodies(xml, "Contents").map((body) => {
    const key = field(body, "Key");
    const size = Number(field(body, "Size"));
    if (key === undefined || !Number.isSafeInteger(size)) throw new S3Error(200, "MalformedResponse", "ListObjectsV2 answered a Contents without a Key or Size");
    return { key, size, etag: field(body, "ETag") ?? "", lastModified: new Date(field(body, "LastModified") ?? 0) };
  });
  const commonPrefixes = xmlElementBodies(outer, "CommonPrefixes").flatMap((body) => xmlElementTexts(body, "Prefix"));
  const isTruncated = field(outer, "IsTruncated") === "true";
  const nextContinuationToken = field(outer, "NextContinuationToken");
  if (isTruncated && !nextContinuationToken) throw new S3Error(200, "MalformedResponse", "ListObjectsV2 answered a truncated page without a NextContinuationToken");
  const keyCount = Number(field(outer, "KeyCount") ?? objects.length + commonPrefixes.length);
  return { objects, commonPrefixes, isTruncated, ...(nextContinuationToken ? { nextContinuationToken } : {}), keyCount };
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/** An S3 error response: HTTP status, S3 code (NoSuchKey, SignatureDoesNotMatch, ...) and message. */
export class S3Error extends Error {
  override readonly name = "S3Error";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(`${code} (${status}): ${message}`);
  }
}

/** fetch as the client calls it; inject one to route requests elsewhere (tests: SELF.fetch). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export type S3ClientOptions = {
  /** https://<account>.r2.cloudflarestorage.com in production; path-style URLs are built on it. */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** R2 signs with region "auto". */
  region?: string;
  fetch?: FetchLike;
  /** Retries of an idempotent call on a network error, 5xx or 429 (default 3). */
  retries?: number;
  /** Base of the exponential, fully jittered backoff between retries (default 100 ms). */
  retryBaseDelayMs?: number;
};

export type PresignOptions = {
  /** Seconds the URL stays valid, 1 to 604800. */
  expiresIn: number;
  /** Signed: the upload must send exactly this Content-Type. */
  contentType?: string;
  /** Signed: the upload must send exactly this Content-Length. */
  contentLength?: number;
  /** Extra query parameters, signed (e.g. response-content-disposition on a GET). */
  query?: Record<string, string>;
  now?: Date;
};

export type PresignedRequest = {
  url: string;
  method: "GET" | "PUT";
  /** Headers the client must send with exactly these values (content-type, content-length). */
  headers: Record<string, string>;
  expiresAt: Date;
};

export type ObjectInfo = { size: number; etag: string; contentType: string | null; lastModified: Date };

type SendOptions = {
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** GET, HEAD, PUT and DELETE may be repeated safely; POST (multipart create/complete) may not. */
  idempotent: boolean;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A small client for the subset of R2's S3 API Edgestock uses: presigned GET/PUT (and multipart
 * part uploads), single-request object calls, ListObjectsV2, and multipart uploads. Path-style URLs
 * `${endpoint}/${bucket}/${key}`; keys keep '/' as a path separator.
 *
 * @example
 * const s3 = new S3Client({ endpoint: config.s3Endpoint, accessKeyId, secretAccessKey });
 * const upload = await s3.presign("PUT", "edgestock-originals", key, { expiresIn: 900, contentType: "image/jpeg", contentLength: size });
 */
export class S3Client {
  private readonly endpoint: string;
  private readonly accessKeyId: string;
  private readonly secretAccessKey: string;
  private readonly region: string;
  private readonly fetch: FetchLike;
  private readonly retries: number;
  private readonly retryBaseDelayMs: number;

  constructor(options: S3ClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, "");
    this.accessKeyId = options.accessKeyId;
    this.secretAccessKey = options.secretAccessKey;
    this.region = options.region ?? "auto";
    // Wrapped: the global fetch must not be called with this client as `this` (Illegal invocation).
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.retries = options.retries ?? 3;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 100;
  }

  /** The path-style URL of an object, query parameters appended (encoded). */
  objectUrl(bucket: string, key: string, query: Record<string, string> = {}): string {
    return this.url(`${uriEncode(bucket)}/${encodeKey(key)}`, query);
  }

  /** `${endpoint}/${path}` with the query parameters appended (encoded). */
  private url(path: string, query: Record<string, string>): string {
    const search = Object.entries(query)
      .map(([name, value]) => (value === "" ? uriEncode(name) : `${uriEncode(name)}=${uriEncode(value)}`))
      .join("&");
    return `${this.endpoint}/${path}${search ? `?${search}` : ""}`;
  }

  /**
   * A presigned GET (download) or PUT (upload). For a PUT, pass the content type and length the
   * upload must have: they are signed, and a request with others is refused.
   */
  async presign(method: "GET" | "PUT", bucket: string, key: string, options: PresignOptions): Promise<PresignedRequest> {
    const headers: Record<string, string> = {};
    if (options.contentType !== undefined) headers["content-type"] = options.contentType;
    if (options.contentLength !== undefined) {
      if (!Number.isSafeInteger(options.contentLength) || options.contentLength < 0) throw new RangeError("contentLength must be a whole number of bytes");
      headers["content-length"] = String(options.contentLength);
    }
    const now = options.now ?? new Date();
    const url = await presignUrl({
      method,
      url: this.objectUrl(bucket, key, options.query),
      region: this.region,
      service: "s3",
      accessKeyId: this.accessKeyId,
      secretAccessKey: this.secretAccessKey,
      signedHeaders: headers,
      expiresIn: options.expiresIn,
      datetime: now,
    });
    // X-Amz-Date has second precision; the URL expires that many seconds after it.
    const expiresAt = new Date(Math.floor(now.getTime() / 1000) * 1000 + options.expiresIn * 1000);
    return { url, method, headers, expiresAt };
  }

  /** A presigned PUT of one part of a multipart upload (browsers upload large originals in parts). */
  presignUploadPart(
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    options: { expiresIn: number; contentLength?: number; now?: Date },
  ): Promise<PresignedRequest> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) throw new RangeError("partNumber must be from 1 to 10000");
    return this.presign("PUT", bucket, key, { ...options, query: { partNumber: String(partNumber), uploadId } });
  }

  /** Uploads a whole object in one request, its SHA-256 signed. */
  async putObject(bucket: string, key: string, body: Uint8Array | ArrayBuffer, options: { contentType: string; cacheControl?: string }): Promise<{ etag: string }> {
    const headers: Record<string, string> = { "content-type": options.contentType };
    if (options.cacheControl) headers["cache-control"] = options.cacheControl;
    const bytes = body instanceof Uint8Array ? body : new Uint8Array(body);
    const response = await this.send("PUT", bucket, key, { headers, body: bytes, idempotent: true });
    if (!response.ok) throw await s3ErrorFrom(response);
    await response.body?.cancel();
    return { etag: response.headers.get("etag") ?? "" };
  }

  /** The object's bytes, or null when there is no such key. */
  async getObject(bucket: string, key: string): Promise<Uint8Array | null> {
    const response = await this.send("GET", bucket, key, { idempotent: true });
    if (response.status === 404) {
      const error = await s3ErrorFrom(response);
      if (error.code === "NoSuchKey") return null;
      throw error;
    }
    if (!response.ok) throw await s3ErrorFrom(response);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** Size, ETag, content type and last-modified time, or null when there is no such key. */
  async headObject(bucket: string, key: string): Promise<ObjectInfo | null> {
    const response = await this.send("HEAD", bucket, key, { idempotent: true });
    if (response.status === 404) return null;
    if (!response.ok) throw await s3ErrorFrom(response);
    return {
      size: Number(response.headers.get("content-length") ?? 0),
      etag: response.headers.get("etag") ?? "",
      contentType: response.headers.get("content-type"),
      lastModified: new Date(response.headers.get("last-modified") ?? 0),
    };
  }

  /** Deletes an object; deleting a missing key succeeds, as in S3. */
  async deleteObject(bucket: string, key: string): Promise<void> {
    const response = await this.send("DELETE", bucket, key, { idempotent: true });
    if (!response.ok && response.status !== 404) throw await s3ErrorFrom(response);
    await response.body?.cancel();
  }

  /**
   * One page of ListObjectsV2: keys in ascending order, at most `maxKeys` (S3's default and ceiling:
   * 1,000). Pass the page's `nextContinuationToken` back for the next page while `isTruncated`.
   */
  async listObjects(
    bucket: string,
    options: { prefix?: string; delimiter?: string; startAfter?: string; continuationToken?: string; maxKeys?: number } = {},
  ): Promise<ListObjectsPage> {
    const query: Record<string, string> = { "list-type": "2" };
    if (options.prefix) query.prefix = options.prefix;
    if (options.delimiter) query.delimiter = options.delimiter;
    if (options.startAfter) query["start-after"] = options.startAfter;
    if (options.continuationToken) query["continuation-token"] = options.continuationToken;
    if (options.maxKeys !== undefined) {
      if (!Number.isSafeInteger(options.maxKeys) || options.maxKeys < 0) throw new RangeError("maxKeys must be a whole number");
      query["max-keys"] = String(options.maxKeys);
    }
    const response = await this.send("GET", bucket, null, { query, idempotent: true });
    const text = await response.text();
    if (!response.ok) throw s3ErrorFromXml(response.status, text);
    return parseListObjectsV2(text);
  }

  /**
   * Every object under a prefix, page after page (one page in memory at a time).
   *
   * @example
   * for await (const object of s3.listAllObjects("edgestock-derivatives", { prefix: `images/${id}/` })) console.log(object.key, object.size);
   */
  async *listAllObjects(bucket: string, options: { prefix?: string; pageSize?: number } = {}): AsyncGenerator<ListedObject> {
    let continuationToken: string | undefined;
    do {
      const page = await this.listObjects(bucket, { prefix: options.prefix, maxKeys: options.pageSize, continuationToken });
      yield* page.objects;
      continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
    } while (continuationToken);
  }

  /** Starts a multipart upload; returns its UploadId. */
  async createMultipartUpload(bucket: string, key: string, options: { contentType: string }): Promise<string> {
    const response = await this.send("POST", bucket, key, { query: { uploads: "" }, headers: { "content-type": options.contentType }, idempotent: false });
    const text = await response.text();
    if (!response.ok) throw s3ErrorFromXml(response.status, text);
    const uploadId = xmlElementTexts(text, "UploadId")[0];
    if (!uploadId) throw new S3Error(response.status, "MalformedResponse", "CreateMultipartUpload answered without an UploadId");
    return uploadId;
  }

  /** Joins the uploaded parts (ascending part numbers, the ETags UploadPart returned) into the object. */
  async completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<{ etag: string }> {
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      parts.map((part) => `<Part><PartNumber>${part.partNumber}</PartNumber><ETag>${escapeXml(part.etag)}</ETag></Part>`).join("") +
      `</CompleteMultipartUpload>`;
    const response = await this.send("POST", bucket, key, {
      query: { uploadId },
      headers: { "content-type": "application/xml" },
      body: encoder.encode(xml),
      idempotent: false,
    });
    const text = await response.text();
    // S3 may answer 200 and still fail the completion in the body.
    if (!response.ok || /<Error>/.test(text)) throw s3ErrorFromXml(response.status, text);
    return { etag: xmlElementTexts(text, "ETag")[0] ?? "" };
  }

  /** Abandons a multipart upload and its parts. */
  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    const response = await this.send("DELETE", bucket, key, { query: { uploadId }, idempotent: true });
    if (!response.ok) throw await s3ErrorFrom(response);
    await response.body?.cancel();
  }

  /** Signs (afresh per attempt) and sends; retries idempotent calls on network errors, 5xx and 429. */
  private async send(method: string, bucket: string, key: string | null, options: SendOptions): Promise<Response> {
    // A null key addresses the bucket itself (ListObjectsV2).
    const url = key === null ? this.url(uriEncode(bucket), options.query ?? {}) : this.objectUrl(bucket, key, options.query);
    const payloadHash = options.body ? await sha256Hex(options.body) : EMPTY_PAYLOAD_SHA256;
    const attempts = options.idempotent ? this.retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      const headers = await signRequest({
        method,
        url,
        headers: options.headers,
        payloadHash,
        region: this.region,
        service: "s3",
        accessKeyId: this.accessKeyId,
        secretAccessKey: this.secretAccessKey,
      });
      let response: Response;
      try {
        response = await this.fetch(url, { method, headers, body: options.body });
      } catch (error) {
        if (attempt >= attempts) throw error;
        await sleep(this.backoff(attempt));
        continue;
      }
      if ((response.status >= 500 || response.status === 429) && attempt < attempts) {
        await response.body?.cancel();
        await sleep(this.backoff(attempt));
        continue;
      }
      return response;
    }
  }

  private backoff(attempt: number): number {
    return Math.random() * this.retryBaseDelayMs * 2 ** (attempt - 1);
  }
}

function s3ErrorFromXml(status: number, text: string): S3Error {
  const code = xmlElementTexts(text, "Code")[0] ?? defaultCode(status);
  const message = xmlElementTexts(text, "Message")[0] ?? (text.slice(0, 200) || `HTTP ${status}`);
  return new S3Error(status, code, message, xmlElementTexts(text, "RequestId")[0]);
}

async function s3ErrorFrom(response: Response): Promise<S3Error> {
  return s3ErrorFromXml(response.status, await response.text());
}

/** HEAD responses carry no body; name their failure from the status as the AWS SDKs do. */
function defaultCode(status: number): string {
  return (
    { 400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 412: "PreconditionFailed", 429: "SlowDown", 503: "ServiceUnavailable" }[status] ?? `HTTP${status}`
  );
}
