import { sha256Hex } from "../../common/s3";

/**
 * Request bodies as S3 clients send them to the local S3 stand-in (edge/dev/s3.ts): aws-chunked
 * streaming bodies (SigV4-signed chunks, or unsigned chunks with a checksum trailer, the AWS SDK
 * v3 default) decoded, and the checksums S3 verifies (x-amz-checksum-crc32, -crc32c, -sha1,
 * -sha256, Content-MD5) computed.
 */

function crcTable(polynomial: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}
const CRC32_TABLE = crcTable(0xedb88320);
const CRC32C_TABLE = crcTable(0x82f63b78);

function crc(table: Uint32Array, bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (table[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-64/NVME (reflected polynomial 0x9a6c9329ac4bc9b5), in BigInt: slow, but only local uploads pay. */
const CRC64_TABLE = (() => {
  const table: bigint[] = [];
  for (let n = 0n; n < 256n; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1n ? 0x9a6c9329ac4bc9b5n ^ (c >> 1n) : c >> 1n;
    table.push(c);
  }
  return table;
})();
const MASK64 = 0xffffffffffffffffn;

function crc64nvme(bytes: Uint8Array): Uint8Array {
  let c = MASK64;
  for (const byte of bytes) c = (CRC64_TABLE[Number((c ^ BigInt(byte)) & 0xffn)] as bigint) ^ (c >> 8n);
  c ^= MASK64;
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(c & 0xffn);
    c >>= 8n;
  }
  return out;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function crcBase64(value: number): string {
  return base64(new Uint8Array([value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]));
}

/** The checksums S3 verifies, by the header that carries each, as base64 of the big-endian digest. */
export const CHECKSUMS: Record<string, { name: string; compute(bytes: Uint8Array): Promise<string> }> = {
  "x-amz-checksum-crc32": { name: "CRC32", compute: async (bytes) => crcBase64(crc(CRC32_TABLE, bytes)) },
  "x-amz-checksum-crc32c": { name: "CRC32C", compute: async (bytes) => crcBase64(crc(CRC32C_TABLE, bytes)) },
  "x-amz-checksum-crc64nvme": { name: "CRC64NVME", compute: async (bytes) => base64(crc64nvme(bytes)) },
  "x-amz-checksum-sha1": { name: "SHA1", compute: async (bytes) => base64(new Uint8Array(await crypto.subtle.digest("SHA-1", bytes))) },
  "x-amz-checksum-sha256": { name: "SHA256", compute: async (bytes) => base64(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))) },
  "content-md5": { name: "Content-MD5", compute: async (bytes) => base64(new Uint8Array(await crypto.subtle.digest("MD5", bytes))) },
};

export type DecodeFailure = { status: number; code: string; message: string };

export type ChunkSigner = { seed: string; sign(previous: string, chunkSha256Hex: string): Promise<string> };

const CRLF = [13, 10];

function indexOfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) if (bytes[i] === CRLF[0] && bytes[i + 1] === CRLF[1]) return i;
  return -1;
}

const decoder = new TextDecoder();

/**
 * Decodes an aws-chunked body: `hex-size[;chunk-signature=sig]\r\n<bytes>\r\n`, ending with a
 * zero-size chunk, then trailer lines `name:value\r\n` and an empty line. With `signer`, every
 * chunk's signature (the final empty one included) must chain from the request's signature.
 */
export async function decodeAwsChunked(
  body: Uint8Array,
  signer: ChunkSigner | undefined,
): Promise<{ ok: true; data: Uint8Array; trailers: Map<string, string> } | { ok: false; failure: DecodeFailure }> {
  const malformed = (message: string) => ({ ok: false as const, failure: { status: 400, code: "IncompleteBody", message: `The aws-chunked body is malformed: ${message}` } });
  const pieces: Uint8Array[] = [];
  let total = 0;
  let at = 0;
  let previous = signer?.seed ?? "";
  for (;;) {
    const end = indexOfCrlf(body, at);
    if (end === -1) return malformed("a chunk header does not end in CRLF");
    const header = decoder.decode(body.subarray(at, end));
    const [sizeText = "", ...extensions] = header.split(";");
    if (!/^[0-9a-fA-F]+$/.test(sizeText.trim())) return malformed(`'${header}' is not a chunk size`);
    const size = Number.parseInt(sizeText.trim(), 16);
    const start = end + 2;
    if (start + size > body.length) return malformed("a chunk is shorter than its declared size");
    const chunk = body.subarray(start, start + size);
    if (signer) {
      const claimed = extensions
        .map((e) => e.trim())
        .find((e) => e.startsWith("chunk-signature="))
        ?.slice("chunk-signature=".length);
      const expected = await signer.sign(previous, await sha256Hex(chunk));
      if (claimed?.toLowerCase() !== expected) {
        return {
          ok: false,
          failure: { status: 403, code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match the signature you provided (a chunk signature)." },
        };
      }
      previous = expected;
    }
    if (size === 0) {
      at = start;
      break;
    }
    pieces.push(chunk);
    total += size;
    if (body[start + size] !== 13 || body[start + size + 1] !== 10) return malformed("a chunk's data does not end in CRLF");
    at = start + size + 2;
  }
  const trailers = new Map<string, string>();
  for (;;) {
    const end = indexOfCrlf(body, at);
    if (end === -1) break; // the final CRLF is optional in what some clients send
    const line = decoder.decode(body.subarray(at, end));
    at = end + 2;
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon === -1) return malformed(`trailer '${line}' has no ':'`);
    trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const data = new Uint8Array(total);
  let offset = 0;
  for (const piece of pieces) {
    data.set(piece, offset);
    offset += piece.length;
  }
  return { ok: true, data, trailers };
}

/** Checks each checksum the request carries (headers or trailers) against the body; BadDigest on a mismatch. */
export async function verifyChecksums(data: Uint8Array, carried: Map<string, string>): Promise<DecodeFailure | undefined> {
  for (const [header, value] of carried) {
    const checksum = CHECKSUMS[header];
    if (!checksum) {
      if (header.startsWith("x-amz-checksum-") && header !== "x-amz-checksum-type" && header !== "x-amz-checksum-mode") {
        return { status: 400, code: "InvalidRequest", message: `${header} is not supported by the local stand-in (use CRC32, CRC32C, CRC64NVME, SHA1 or SHA256)` };
      }
      continue;
    }
    if ((await checksum.compute(data)) !== value) {
      return {
        status: 400,
        code: "BadDigest",
        message: `The ${checksum.name} you specified did not match the calculated checksum.`,
      };
    }
  }
  return undefined;
}
