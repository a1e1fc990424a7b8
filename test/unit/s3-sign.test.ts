import { describe, expect, it } from "vitest";
import {
  canonicalUri,
  EMPTY_PAYLOAD_SHA256,
  encodeKey,
  parseListObjectsV2,
  presignUrl,
  S3Client,
  S3Error,
  sha256Hex,
  signRequest,
  type VerifyResult,
  verifySignature,
} from "../../common/s3";

// The example credentials and instant of AWS's S3 SigV4 documentation ("Signature Calculations for
// the Authorization Header: Transferring Payload in a Single Chunk" and "Authenticating Requests:
// Using Query Parameters").
const AWS = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  region: "us-east-1",
  service: "s3",
  datetime: new Date("2013-05-24T00:00:00Z"),
};
const EXAMPLE_HOST = "https://examplebucket.s3.amazonaws.com";

const signatureOf = (headers: Headers) => /Signature=([0-9a-f]{64})$/.exec(headers.get("authorization") ?? "")?.[1];

describe("SigV4 against AWS's published examples", () => {
  it("presigns the documented GET of test.txt for 86400 s", async () => {
    const url = await presignUrl({ ...AWS, method: "GET", url: `${EXAMPLE_HOST}/test.txt`, expiresIn: 86400 });
    expect(url).toBe(
      "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    );
  });

  it("signs the documented GET Object with a Range header", async () => {
    const headers = await signRequest({ ...AWS, method: "GET", url: `${EXAMPLE_HOST}/test.txt`, headers: { Range: "bytes=0-9" }, payloadHash: EMPTY_PAYLOAD_SHA256 });
    expect(headers.get("authorization")).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    expect(headers.get("x-amz-date")).toBe("20130524T000000Z");
    expect(headers.get("x-amz-content-sha256")).toBe(EMPTY_PAYLOAD_SHA256);
    expect(headers.has("host")).toBe(false);
  });

  it("signs the documented PUT Object of test$file.text with a signed payload", async () => {
    const payloadHash = await sha256Hex("Welcome to Amazon S3.");
    expect(payloadHash).toBe("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const headers = await signRequest({
      ...AWS,
      method: "PUT",
      url: `${EXAMPLE_HOST}/test$file.text`,
      headers: { Date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" },
      payloadHash,
    });
    expect(headers.get("authorization")).toContain("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,");
    expect(signatureOf(headers)).toBe("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  });

  it("signs the documented bucket requests: a bare sub-resource and a query sorted by name", async () => {
    const lifecycle = await signRequest({ ...AWS, method: "GET", url: `${EXAMPLE_HOST}/?lifecycle`, payloadHash: EMPTY_PAYLOAD_SHA256 });
    expect(signatureOf(lifecycle)).toBe("fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    const list = await signRequest({ ...AWS, method: "GET", url: `${EXAMPLE_HOST}/?prefix=J&max-keys=2`, payloadHash: EMPTY_PAYLOAD_SHA256 });
    expect(signatureOf(list)).toBe("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  });
});

describe("canonical forms", () => {
  it("encodes each key segment per RFC 3986 and keeps '/' between them", () => {
    expect(encodeKey("originals/u 1/a$b(1)*!'~_-.jpg")).toBe("originals/u%201/a%24b%281%29%2A%21%27~_-.jpg");
    expect(encodeKey("ünï/çødé.jpg")).toBe("%C3%BCn%C3%AF/%C3%A7%C3%B8d%C3%A9.jpg");
    expect(() => encodeKey("a/../b")).toThrow(RangeError);
  });

  it("canonicalises a path once, however the client escaped it (S3 does not double-encode)", () => {
    expect(canonicalUri("/test$file.text")).toBe("/test%24file.text");
    expect(canonicalUri("/test%24file.text")).toBe("/test%24file.text");
    expect(canonicalUri("/a%20b/c%7Ed")).toBe("/a%20b/c~d");
    expect(canonicalUri("")).toBe("/");
  });

  it("trims header values and collapses runs of spaces before signing", async () => {
    const tidy = await signRequest({ ...AWS, method: "GET", url: `${EXAMPLE_HOST}/t`, headers: { "x-amz-meta-a": "one two" }, payloadHash: EMPTY_PAYLOAD_SHA256 });
    const messy = await signRequest({ ...AWS, method: "GET", url: `${EXAMPLE_HOST}/t`, headers: { "X-Amz-Meta-A": "  one    two " }, payloadHash: EMPTY_PAYLOAD_SHA256 });
    expect(signatureOf(messy)).toBe(signatureOf(tidy));
  });

  it("refuses presigned lifetimes outside 1 s to one week", async () => {
    await expect(presignUrl({ ...AWS, method: "GET", url: `${EXAMPLE_HOST}/t`, expiresIn: 604_801 })).rejects.toThrow(RangeError);
    await expect(presignUrl({ ...AWS, method: "GET", url: `${EXAMPLE_HOST}/t`, expiresIn: 0 })).rejects.toThrow(RangeError);
  });
});

describe("verifySignature", () => {
  const KEY = { accessKeyId: "local-key", secretAccessKey: "local-secret-0123456789" };
  const ENDPOINT = "http://127.0.0.1:8787/_local/s3";
  const signedAt = new Date("2026-03-01T12:00:00Z");
  const verifier = { secretFor: (id: string) => (id === KEY.accessKeyId ? KEY.secretAccessKey : undefined), region: "auto", service: "s3" };
  const verifyAt = (request: Request, now = new Date(signedAt.getTime() + 1000)) => verifySignature(request, { ...verifier, now });
  const client = new S3Client({ endpoint: ENDPOINT, ...KEY });

  const upload = () => client.presign("PUT", "edgestock-originals", "originals/u1/i 1.jpg", { expiresIn: 300, contentType: "image/jpeg", contentLength: 5, now: signedAt });
  const put = (url: string, headers: Record<string, string>) => new Request(url, { method: "PUT", headers });
  const failure = (result: VerifyResult) => (result.ok ? { ok: true } : { ok: false, status: result.status, code: result.code });

  it("accepts a presigned PUT sent with the signed content type and length", async () => {
    const signed = await upload();
    expect(signed.headers).toEqual({ "content-type": "image/jpeg", "content-length": "5" });
    expect(signed.url).toContain("/_local/s3/edgestock-originals/originals/u1/i%201.jpg?");
    expect(signed.url).toContain("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost");
    expect(signed.expiresAt.toISOString()).toBe("2026-03-01T12:05:00.000Z");
    const result = await verifyAt(put(signed.url, signed.headers));
    expect(result).toMatchObject({ ok: true, accessKeyId: "local-key", presigned: true, payloadHash: "UNSIGNED-PAYLOAD" });
  });

  it("refuses a presigned PUT to another key, with another content type, length, or none", async () => {
    const signed = await upload();
    const otherKey = signed.url.replace("i%201.jpg", "i%202.jpg");
    expect(failure(await verifyAt(put(otherKey, signed.headers)))).toEqual({ ok: false, status: 403, code: "SignatureDoesNotMatch" });
    expect(failure(await verifyAt(put(signed.url, { ...signed.headers, "content-type": "image/png" })))).toMatchObject({ code: "SignatureDoesNotMatch" });
    expect(failure(await verifyAt(put(signed.url, { ...signed.headers, "content-length": "6" })))).toMatchObject({ code: "SignatureDoesNotMatch" });
    const { "content-length": _, ...withoutLength } = signed.headers;
    const missing = await verifyAt(put(signed.url, withoutLength));
    expect(missing).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
    expect(missing.ok ? "" : missing.message).toMatch(/content-length is missing/);
    expect(failure(await verifyAt(new Request(signed.url, { method: "GET" })))).toMatchObject({ code: "SignatureDoesNotMatch" });
  });

  it("refuses an expired presigned URL, and one whose lifetime exceeds a week", async () => {
    const signed = await upload();
    const late = await verifyAt(put(signed.url, signed.headers), new Date(signedAt.getTime() + 301_000));
    expect(late).toEqual({ ok: false, status: 403, code: "AccessDenied", message: "Request has expired" });
    const tooLong = signed.url.replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
    expect(failure(await verifyAt(put(tooLong, signed.headers)))).toEqual({ ok: false, status: 400, code: "AuthorizationQueryParametersError" });
    const stretched = signed.url.replace("X-Amz-Expires=300", "X-Amz-Expires=3600");
    expect(failure(await verifyAt(put(stretched, signed.headers), new Date(signedAt.getTime() + 600_000)))).toMatchObject({ code: "SignatureDoesNotMatch" });
  });

  it("refuses a URL signed with another secret, an unknown key id, or another region", async () => {
    const forged = await new S3Client({ endpoint: ENDPOINT, accessKeyId: KEY.accessKeyId, secretAccessKey: "guessed" }).presign("GET", "b", "k", { expiresIn: 60, now: signedAt });
    expect(failure(await verifyAt(new Request(forged.url)))).toEqual({ ok: false, status: 403, code: "SignatureDoesNotMatch" });
    const stranger = await new S3Client({ endpoint: ENDPOINT, accessKeyId: "someone", secretAccessKey: "x" }).presign("GET", "b", "k", { expiresIn: 60, now: signedAt });
    expect(failure(await verifyAt(new Request(stranger.url)))).toEqual({ ok: false, status: 403, code: "InvalidAccessKeyId" });
    const elsewhere = await new S3Client({ endpoint: ENDPOINT, ...KEY, region: "us-east-1" }).presign("GET", "b", "k", { expiresIn: 60, now: signedAt });
    expect(failure(await verifyAt(new Request(elsewhere.url)))).toEqual({ ok: false, status: 400, code: "AuthorizationQueryParametersError" });
  });

  it("signs the extra query of a presigned URL: changing or adding a parameter breaks it", async () => {
    const part = await client.presignUploadPart("b", "k", "upload-1", 2, { expiresIn: 60, contentLength: 5, now: signedAt });
    const headers = { "content-length": "5" };
    expect((await verifyAt(put(part.url, headers))).ok).toBe(true);
    expect(failure(await verifyAt(put(part.url.replace("partNumber=2", "partNumber=3"), headers)))).toMatchObject({ code: "SignatureDoesNotMatch" });
    expect(failure(await verifyAt(put(`${part.url}&uploads`, headers)))).toMatchObject({ code: "SignatureDoesNotMatch" });
  });

  it("refuses x-amz-* headers that travel outside the signature, and requests with no signature", async () => {
    const signed = await client.presign("GET", "b", "k", { expiresIn: 60, now: signedAt });
    expect(failure(await verifyAt(new Request(signed.url, { headers: { "x-amz-copy-source": "/b/other" } })))).toEqual({ ok: false, status: 403, code: "AccessDenied" });
    expect(failure(await verifyAt(new Request(`${ENDPOINT}/b/k`)))).toEqual({ ok: false, status: 403, code: "AccessDenied" });
  });

  it("accepts an Authorization-header request and holds it to its headers, query and clock", async () => {
    const url = `${ENDPOINT}/b/derivatives/i/1000.webp?uploadId=u%2B1`;
    const headers = await signRequest({
      ...KEY,
      region: "auto",
      service: "s3",
      method: "PUT",
      url,
      headers: { "content-type": "image/webp" },
      payloadHash: EMPTY_PAYLOAD_SHA256,
      datetime: signedAt,
    });
    const request = (init: { url?: string; contentType?: string } = {}) => {
      const sent = new Headers(headers);
      if (init.contentType) sent.set("content-type", init.contentType);
      return new Request(init.url ?? url, { method: "PUT", headers: sent });
    };
    expect(await verifyAt(request())).toMatchObject({ ok: true, presigned: false, payloadHash: EMPTY_PAYLOAD_SHA256 });
    expect(failure(await verifyAt(request({ contentType: "image/png" })))).toMatchObject({ code: "SignatureDoesNotMatch" });
    expect(failure(await verifyAt(request({ url: url.replace("u%2B1", "u%2B2") })))).toMatchObject({ code: "SignatureDoesNotMatch" });
    expect(failure(await verifyAt(request(), new Date(signedAt.getTime() + 16 * 60_000)))).toEqual({ ok: false, status: 403, code: "RequestTimeTooSkewed" });
  });
});

describe("S3Client against a signature-checking fake", () => {
  const KEY = { accessKeyId: "k", secretAccessKey: "s" };
  const verifier = { secretFor: (id: string) => (id === "k" ? "s" : undefined), region: "auto", service: "s3" };

  /** A fetch that verifies every request and answers from a script of statuses; counts calls. */
  function scriptedFetch(statuses: number[], body = "") {
    const calls: Request[] = [];
    const fetch = async (input: string, init: RequestInit) => {
      const request = new Request(input, init);
      calls.push(request);
      const verified = await verifySignature(request, verifier);
      if (!verified.ok) return new Response(`<Error><Code>${verified.code}</Code><Message>${verified.message}</Message></Error>`, { status: verified.status });
      if (verified.payloadHash !== (await sha256Hex(await request.arrayBuffer()))) return new Response("<Error><Code>XAmzContentSHA256Mismatch</Code></Error>", { status: 400 });
      const status = statuses[Math.min(calls.length - 1, statuses.length - 1)] ?? 200;
      return new Response(status === 200 ? body : `<Error><Code>Status${status}</Code><Message>scripted ${status}</Message></Error>`, { status });
    };
    return { fetch, calls };
  }

  it("retries an idempotent call on 5xx and 429, signing each attempt so the payload hash matches", async () => {
    const { fetch, calls } = scriptedFetch([503, 429, 200]);
    const s3 = new S3Client({ endpoint: "https://acct.r2.example", ...KEY, fetch, retryBaseDelayMs: 1 });
    await s3.putObject("b", "a/b.webp", new Uint8Array([1, 2, 3]), { contentType: "image/webp", cacheControl: "public, max-age=31536000, immutable" });
    expect(calls.map((c) => c.method)).toEqual(["PUT", "PUT", "PUT"]);
    expect(calls[0]?.url).toBe("https://acct.r2.example/b/a/b.webp");
  });

  it("gives up after three retries and throws the S3 error", async () => {
    const { fetch, calls } = scriptedFetch([500]);
    const s3 = new S3Client({ endpoint: "https://acct.r2.example", ...KEY, fetch, retryBaseDelayMs: 1 });
    const error = await s3.getObject("b", "k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3Error);
    expect(error).toMatchObject({ status: 500, code: "Status500", message: expect.stringContaining("scripted 500") });
    expect(calls).toHaveLength(4);
  });

  it("retries network errors, but not 4xx answers nor POSTs", async () => {
    let failures = 0;
    const { fetch } = scriptedFetch([200], "x");
    const flaky = async (input: string, init: RequestInit) => {
      if (failures++ < 2) throw new TypeError("fetch failed");
      return fetch(input, init);
    };
    const s3 = new S3Client({ endpoint: "https://acct.r2.example", ...KEY, fetch: flaky, retryBaseDelayMs: 1 });
    expect(new TextDecoder().decode((await s3.getObject("b", "k")) ?? new Uint8Array())).toBe("x");

    const denied = scriptedFetch([403]);
    await expect(new S3Client({ endpoint: "https://acct.r2.example", ...KEY, fetch: denied.fetch, retryBaseDelayMs: 1 }).deleteObject("b", "k")).rejects.toMatchObject({
      status: 403,
    });
    expect(denied.calls).toHaveLength(1);

    const busy = scriptedFetch([503]);
    await expect(
      new S3Client({ endpoint: "https://acct.r2.example", ...KEY, fetch: busy.fetch, retryBaseDelayMs: 1 }).createMultipartUpload("b", "k", { contentType: "image/jpeg" }),
    ).rejects.toMatchObject({ status: 503 });
    expect(busy.calls).toHaveLength(1);
  });

  it("lists with a signed GET of the bucket URL, paging on through the continuation token", async () => {
    const page = (key: string, next?: string) =>
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><KeyCount>1</KeyCount>` +
      `<MaxKeys>1</MaxKeys><IsTruncated>${next !== undefined}</IsTruncated>${next ? `<NextContinuationToken>${next}</NextContinuationToken>` : ""}` +
      `<Contents><Key>${key}</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`;
    const calls: Request[] = [];
    const fetch = async (input: string, init: RequestInit) => {
      const request = new Request(input, init);
      calls.push(request);
      expect(await verifySignature(request, verifier)).toMatchObject({ ok: true });
      return new Response(calls.length === 1 ? page("p/a.jpg", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=") : page("p/b.jpg"));
    };
    const s3 = new S3Client({ endpoint: "https://acct.r2.example", ...KEY, fetch });
    const keys: string[] = [];
    for await (const object of s3.listAllObjects("b", { prefix: "p/", pageSize: 1 })) keys.push(object.key);
    expect(keys).toEqual(["p/a.jpg", "p/b.jpg"]);
    expect(calls.map((c) => c.url)).toEqual([
      "https://acct.r2.example/b?list-type=2&prefix=p%2F&max-keys=1",
      "https://acct.r2.example/b?list-type=2&prefix=p%2F&continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D&max-keys=1",
    ]);
  });

  it("is refused by the verifier when it signs with the wrong secret", async () => {
    const { fetch } = scriptedFetch([200]);
    const s3 = new S3Client({ endpoint: "https://acct.r2.example", accessKeyId: "k", secretAccessKey: "wrong", fetch, retryBaseDelayMs: 1 });
    await expect(s3.headObject("b", "k")).rejects.toMatchObject({ status: 403 });
    await expect(s3.getObject("b", "k")).rejects.toMatchObject({ status: 403, code: "SignatureDoesNotMatch" });
  });
});

describe("parseListObjectsV2", () => {
  it("reads AWS's documented ListBucketResult: keys, sizes, quoted ETags, times, and the next-page token", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
    <Name>bucket</Name>
    <Prefix/>
    <KeyCount>2</KeyCount>
    <MaxKeys>2</MaxKeys>
    <IsTruncated>true</IsTruncated>
    <ContinuationToken>1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==</ContinuationToken>
    <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
    <Contents>
        <Key>happyface.jpg</Key>
        <LastModified>2014-11-21T19:40:05.000Z</LastModified>
        <ETag>&quot;70ee1738b6b21e2c8a43f3a5ab0eee71&quot;</ETag>
        <Size>11</Size>
        <Owner><ID>bcaf1ffd86f41161ca5fb16fd081034f</ID><DisplayName>webfile</DisplayName></Owner>
        <StorageClass>STANDARD</StorageClass>
    </Contents>
    <Contents>
        <Key>photos/a&amp;b &lt;/Key&gt;.jpg</Key>
        <LastModified>2014-11-21T19:40:06.000Z</LastModified>
        <ETag>"becf17f89c30367a9a44495d62ed521a-2"</ETag>
        <Size>1111</Size>
        <StorageClass>STANDARD</StorageClass>
    </Contents>
</ListBucketResult>`;
    expect(parseListObjectsV2(xml)).toEqual({
      objects: [
        { key: "happyface.jpg", size: 11, etag: '"70ee1738b6b21e2c8a43f3a5ab0eee71"', lastModified: new Date("2014-11-21T19:40:05.000Z") },
        { key: "photos/a&b </Key>.jpg", size: 1111, etag: '"becf17f89c30367a9a44495d62ed521a-2"', lastModified: new Date("2014-11-21T19:40:06.000Z") },
      ],
      commonPrefixes: [],
      isTruncated: true,
      nextContinuationToken: "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
      keyCount: 2,
    });
  });

  it("reads common prefixes beside the objects, and a last page without a token", () => {
    const xml =
      `<ListBucketResult><Name>b</Name><Prefix>p/</Prefix><Delimiter>/</Delimiter><KeyCount>2</KeyCount><IsTruncated>false</IsTruncated>` +
      `<Contents><Key>p/x</Key><Size>0</Size><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><LastModified>2024-01-01T00:00:00.000Z</LastModified></Contents>` +
      `<CommonPrefixes><Prefix>p/a/</Prefix></CommonPrefixes></ListBucketResult>`;
    expect(parseListObjectsV2(xml)).toMatchObject({ objects: [{ key: "p/x", size: 0 }], commonPrefixes: ["p/a/"], isTruncated: false, keyCount: 2 });
    expect(parseListObjectsV2(xml)).not.toHaveProperty("nextContinuationToken");
  });

  it("refuses an answer it cannot page on or read", () => {
    expect(() => parseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")).toThrow(/without a NextContinuationToken/);
    expect(() => parseListObjectsV2("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>")).toThrow(/without a Key or Size/);
  });
});
