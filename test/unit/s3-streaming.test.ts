import { describe, expect, it } from "vitest";
import { verifySignature } from "../../common/s3";
import { CHECKSUMS, decodeAwsChunked, verifyChecksums } from "../../edge/dev/s3-payload";

/**
 * aws-chunked uploads as the local S3 stand-in decodes them, checked against AWS's published
 * example ("Signature Calculations for the Authorization Header: Transferring Payload in Multiple
 * Chunks"): 65 KiB of 'a' sent as a 64 KiB chunk, a 1 KiB chunk and the final empty chunk, each
 * signature chained from the request's seed signature.
 */

const SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNK_SIGNATURES = [
  "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
  "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
  "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];
const encoder = new TextEncoder();

const exampleRequest = () =>
  new Request("https://s3.amazonaws.com/examplebucket/chunkObject.txt", {
    method: "PUT",
    headers: {
      authorization: `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=${SEED}`,
      "content-encoding": "aws-chunked",
      "content-length": "66824",
      "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
      "x-amz-date": "20130524T000000Z",
      "x-amz-decoded-content-length": "66560",
      "x-amz-storage-class": "REDUCED_REDUNDANCY",
    },
  });

function chunkedBody(signatures: string[]): Uint8Array {
  const sizes = [65536, 1024, 0];
  const parts = sizes.flatMap((size, i) => [encoder.encode(`${size.toString(16)};chunk-signature=${signatures[i]}\r\n`), new Uint8Array(size).fill(97), encoder.encode("\r\n")]);
  const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.length;
  }
  return body;
}

describe("SigV4 streaming (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)", () => {
  const verify = () =>
    verifySignature(exampleRequest(), {
      secretFor: (id) => (id === "AKIAIOSFODNN7EXAMPLE" ? "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" : undefined),
      region: "us-east-1",
      service: "s3",
      now: new Date("2013-05-24T00:00:00Z"),
    });

  it("verifies AWS's example: the seed signature, then every chunk's", async () => {
    const verified = await verify();
    if (!verified.ok) throw new Error(verified.message);
    expect(verified.payloadHash).toBe("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    const body = chunkedBody(CHUNK_SIGNATURES);
    expect(body.length).toBe(66824);
    const decoded = await decodeAwsChunked(body, { seed: verified.signature, sign: verified.chunkSignature });
    if (!decoded.ok) throw new Error(decoded.failure.message);
    expect(decoded.data.length).toBe(66560);
    expect(decoded.data.every((byte) => byte === 97)).toBe(true);
  });

  it("refuses a chunk whose signature does not chain", async () => {
    const verified = await verify();
    if (!verified.ok) throw new Error(verified.message);
    const swapped = chunkedBody([CHUNK_SIGNATURES[1] as string, CHUNK_SIGNATURES[0] as string, CHUNK_SIGNATURES[2] as string]);
    const decoded = await decodeAwsChunked(swapped, { seed: verified.signature, sign: verified.chunkSignature });
    expect(decoded).toMatchObject({ ok: false, failure: { status: 403, code: "SignatureDoesNotMatch" } });
  });
});

describe("unsigned aws-chunked bodies with a checksum trailer (the AWS SDK v3 default)", () => {
  it("decodes the chunks and reads the trailer", async () => {
    const body = encoder.encode("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n");
    const decoded = await decodeAwsChunked(body, undefined);
    if (!decoded.ok) throw new Error(decoded.failure.message);
    expect(new TextDecoder().decode(decoded.data)).toBe("hello world");
    expect(decoded.trailers.get("x-amz-checksum-crc32")).toBe("DUoRhQ==");
    expect(await verifyChecksums(decoded.data, decoded.trailers)).toBeUndefined();
  });

  it("refuses a body shorter than a chunk's declared size", async () => {
    const decoded = await decodeAwsChunked(encoder.encode("a\r\nhello\r\n0\r\n\r\n"), undefined);
    expect(decoded).toMatchObject({ ok: false, failure: { status: 400, code: "IncompleteBody" } });
  });
});

describe("checksums", () => {
  // The check values of the CRC catalogue ("123456789"), as the big-endian base64 S3 carries.
  const check = encoder.encode("123456789");
  const base64OfHex = (hex: string) => btoa(String.fromCharCode(...(hex.match(/../g) ?? []).map((h) => Number.parseInt(h, 16))));

  // Content-MD5 uses workerd's MD5 digest, which Node's Web Crypto lacks: test/edge/s3-standin.test.ts covers it.
  it("computes CRC32, CRC32C, CRC64NVME, SHA-1 and SHA-256 as S3 does", async () => {
    expect(await CHECKSUMS["x-amz-checksum-crc32"]?.compute(check)).toBe(base64OfHex("cbf43926"));
    expect(await CHECKSUMS["x-amz-checksum-crc32c"]?.compute(check)).toBe(base64OfHex("e3069283"));
    expect(await CHECKSUMS["x-amz-checksum-crc64nvme"]?.compute(check)).toBe(base64OfHex("ae8b14860a799888"));
    expect(await CHECKSUMS["x-amz-checksum-sha256"]?.compute(check)).toBe(base64OfHex("15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"));
    expect(await CHECKSUMS["x-amz-checksum-sha1"]?.compute(check)).toBe(base64OfHex("f7c3bc1d808e04732adf679965ccc34ca7ae3441"));
  });

  it("answers BadDigest for a mismatch and refuses an algorithm it cannot check", async () => {
    expect(await verifyChecksums(check, new Map([["x-amz-checksum-crc32", "AAAAAA=="]]))).toMatchObject({ status: 400, code: "BadDigest" });
    expect(await verifyChecksums(check, new Map([["x-amz-checksum-xxhash64", "AAAAAAAAAAA="]]))).toMatchObject({ status: 400, code: "InvalidRequest" });
  });
});
