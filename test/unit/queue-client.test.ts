import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createQueueClient, QueueApiError } from "../../gpu-worker/queue-client";

/**
 * The pull client against a tiny HTTP server that answers in Cloudflare's shapes: one canned
 * response per call, in order, and a record of what the client sent.
 */
type Canned = { status?: number; headers?: Record<string, string>; body: unknown };
type Received = { method: string; path: string; authorization: string | undefined; body: unknown };

const responses: Canned[] = [];
const received: Received[] = [];
let server: Server;
let apiUrl: string;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (data += chunk));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse) {
  const text = await readBody(req);
  received.push({ method: req.method ?? "", path: req.url ?? "", authorization: req.headers.authorization, body: text ? JSON.parse(text) : undefined });
  const next = responses.shift() ?? { status: 500, body: { success: false, errors: [{ code: 15000, message: "no canned response" }] } };
  res.writeHead(next.status ?? 200, { "content-type": "application/json", ...next.headers });
  res.end(JSON.stringify(next.body));
}

beforeAll(async () => {
  server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  responses.length = 0;
  received.length = 0;
});

const client = (extra: { maxAttempts?: number } = {}) => createQueueClient({ apiUrl, accountId: "acc123", queueId: "q456", token: "secret-token", baseDelayMs: 5, ...extra });

const ok = (result: unknown): Canned => ({ body: { success: true, errors: [], messages: [], result } });
const wire = (id: string, contentType: string, body: string, attempts = 1) => ({
  id,
  body,
  attempts,
  lease_id: `lease-${id}`,
  timestamp_ms: 1_700_000_000_000,
  metadata: { "CF-sourceMessageSource": "worker", "CF-Content-Type": contentType },
});
const b64 = (text: string) => Buffer.from(text).toString("base64");

describe("queue pull client", () => {
  it("pulls with the documented path, bearer token and body, and decodes each body by its content type", async () => {
    const job = { type: "image.process", payload: { imageId: "5f1d7a2e-0000-4000-8000-000000000001" } };
    responses.push(
      ok({
        message_backlog_count: 6,
        messages: [
          wire("m1", "json", b64(JSON.stringify(job)), 2),
          wire("m2", "json", JSON.stringify(job)),
          wire("m3", "text", "plain words"),
          wire("m4", "bytes", Buffer.from([0, 1, 2, 250, 255]).toString("base64")),
          wire("m5", "v8", "AAEC"),
          wire("m6", "bytes", "not base64!"),
        ],
      }),
    );
    const messages = await client().pull({ batchSize: 10, visibilityTimeoutMs: 60_000 });

    expect(received).toEqual([
      {
        method: "POST",
        path: "/client/v4/accounts/acc123/queues/q456/messages/pull",
        authorization: "Bearer secret-token",
        body: { batch_size: 10, visibility_timeout_ms: 60_000 },
      },
    ]);
    const [m1, m2, m3, m4, m5, m6] = messages;
    // json: base64 of the JSON text, as Cloudflare documents, and plain JSON text alike.
    expect(m1).toEqual({ id: "m1", leaseId: "lease-m1", attempts: 2, timestampMs: 1_700_000_000_000, contentType: "json", body: job });
    expect(m2?.body).toEqual(job);
    expect(m3?.body).toBe("plain words");
    expect(m4?.body).toEqual(new Uint8Array([0, 1, 2, 250, 255]));
    // One undecodable message does not fail the batch: it comes back with the reason and its lease.
    expect(m5).toMatchObject({ leaseId: "lease-m5", decodeError: expect.stringMatching(/v8 .*Workers runtime/) });
    expect(m6).toMatchObject({ leaseId: "lease-m6", decodeError: expect.stringMatching(/not valid base64/) });
    expect(m1?.decodeError).toBeUndefined();
  });

  it("returns an empty list when the queue has nothing visible", async () => {
    responses.push(ok({ message_backlog_count: 0, messages: [] }));
    expect(await client().pull({ batchSize: 1, visibilityTimeoutMs: 1000 })).toEqual([]);
  });

  it("retries a 503 and then succeeds", async () => {
    responses.push({ status: 503, body: { success: false, errors: [{ code: 15000, message: "Unknown error" }] } }, ok({ messages: [wire("m1", "text", "hi")] }));
    const messages = await client().pull({ batchSize: 1, visibilityTimeoutMs: 1000 });
    expect(messages.map((m) => m.body)).toEqual(["hi"]);
    expect(received).toHaveLength(2);
  });

  it("waits as long as Retry-After says on a 429", async () => {
    // The canned responses through the client's fetch option, so the clock can be faked end to end.
    const canned: Canned[] = [
      { status: 429, headers: { "retry-after": "1" }, body: { success: false, errors: [{ code: 10250, message: "Queue is overloaded" }] } },
      ok({ messages: [] }),
    ];
    let calls = 0;
    const fakeFetch = (async () => {
      calls++;
      const next = canned.shift() as Canned;
      return new Response(JSON.stringify(next.body), { status: next.status ?? 200, headers: { "content-type": "application/json", ...next.headers } });
    }) as unknown as typeof fetch;
    vi.useFakeTimers();
    try {
      const pulling = createQueueClient({ apiUrl, accountId: "acc123", queueId: "q456", token: "secret-token", baseDelayMs: 5, fetch: fakeFetch }).pull({
        batchSize: 1,
        visibilityTimeoutMs: 1000,
      });
      // The jittered backoff alone would wait at most 5 ms here.
      await vi.advanceTimersByTimeAsync(999);
      expect(calls).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(await pulling).toEqual([]);
      expect(calls).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("gives up after the last attempt with the API's error", async () => {
    for (let i = 0; i < 3; i++) responses.push({ status: 502, body: { success: false, errors: [{ code: 15000, message: "Unknown error" }] } });
    const error = await client({ maxAttempts: 3 })
      .pull({ batchSize: 1, visibilityTimeoutMs: 1000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueApiError);
    expect(error).toMatchObject({ status: 502, errors: [{ code: 15000, message: "Unknown error" }] });
    expect(received).toHaveLength(3);
  });

  it("throws QueueApiError with the API's messages on a 401, without retrying", async () => {
    responses.push({ status: 401, body: { success: false, errors: [{ code: 10000, message: "Authentication error" }], messages: [], result: null } });
    const error = await client()
      .pull({ batchSize: 1, visibilityTimeoutMs: 1000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueApiError);
    expect(error).toMatchObject({ status: 401, errors: [{ code: 10000, message: "Authentication error" }] });
    expect((error as Error).message).toMatch(/Authentication error/);
    expect(received).toHaveLength(1);
  });

  it("retries network errors and reports them as status 0 once out of attempts", async () => {
    const refused = createQueueClient({ apiUrl: "http://127.0.0.1:1/client/v4", accountId: "a", queueId: "q", token: "t", baseDelayMs: 1, maxAttempts: 2 });
    const error = await refused.pull({ batchSize: 1, visibilityTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueApiError);
    expect(error).toMatchObject({ status: 0 });
  });

  it("acknowledges and retries by lease id in the documented body", async () => {
    responses.push(ok({ ackCount: 2, retryCount: 1, warnings: { "lease-x": "expired" } }));
    const result = await client().ack({ acks: ["lease-a", "lease-b"], retries: [{ leaseId: "lease-c", delaySeconds: 20 }] });
    expect(result).toEqual({ ackCount: 2, retryCount: 1, warnings: { "lease-x": "expired" } });
    expect(received).toEqual([
      {
        method: "POST",
        path: "/client/v4/accounts/acc123/queues/q456/messages/ack",
        authorization: "Bearer secret-token",
        body: { acks: [{ lease_id: "lease-a" }, { lease_id: "lease-b" }], retries: [{ lease_id: "lease-c", delay_seconds: 20 }] },
      },
    ]);
  });

  it("sends nothing for an empty acknowledgement", async () => {
    expect(await client().ack({ acks: [], retries: [] })).toEqual({ ackCount: 0, retryCount: 0, warnings: {} });
    expect(received).toEqual([]);
  });

  it("stops waiting when its signal aborts", async () => {
    responses.push({ status: 503, headers: { "retry-after": "30" }, body: { success: false, errors: [] } });
    const controller = new AbortController();
    const pulling = client().pull({ batchSize: 1, visibilityTimeoutMs: 1000, signal: controller.signal });
    setTimeout(() => controller.abort(new Error("shutting down")), 50);
    await expect(pulling).rejects.toThrow("shutting down");
  });
});
