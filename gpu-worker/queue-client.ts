import * as v from "valibot";

/**
 * Client of Cloudflare Queues' HTTP pull-consumer API (`POST .../queues/{queue_id}/messages/pull`
 * and `.../messages/ack`, developers.cloudflare.com/queues/configuration/pull-consumers). Locally
 * the same client talks to the edge's stand-in at /_local/queues/client/v4. Only web APIs (fetch,
 * atob, TextDecoder), so it runs under Bun, Node and workerd alike.
 */

/** A pulled message. `body` is decoded by its content type; when it cannot be, `decodeError` says why and `body` is the raw string. */
export type PulledMessage = {
  id: string;
  /** Acknowledge or retry the message with this; it names the lease, not the message. */
  leaseId: string;
  /** Deliveries so far, this one included. */
  attempts: number;
  /** When the message was sent to the queue, ms since the epoch. */
  timestampMs: number;
  contentType: string;
  body: unknown;
  decodeError?: string;
};

export type AckResult = {
  ackCount: number;
  retryCount: number;
  /** Lease ids the queue did not act on (unknown or expired), with the reason. */
  warnings: Record<string, string>;
};

export type QueueClientOptions = {
  /** `https://api.cloudflare.com/client/v4`, or the local stand-in's `http://127.0.0.1:8787/_local/queues/client/v4`. */
  apiUrl: string;
  accountId: string;
  /** The queue's id (locally, its name). */
  queueId: string;
  /** API token with Queues read and write. */
  token: string;
  fetch?: typeof fetch;
  /** Attempts per API call on 429, 5xx and network errors (default 4). */
  maxAttempts?: number;
  /** First backoff between attempts, doubled each time with full jitter (default 500 ms). */
  baseDelayMs?: number;
  /** Longest wait between attempts, Retry-After included (default 60 s). */
  maxDelayMs?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
};

export type QueueClient = {
  /** Leases up to `batchSize` (1-100) messages for `visibilityTimeoutMs`; an empty array when none are visible. */
  pull(options: { batchSize: number; visibilityTimeoutMs: number; signal?: AbortSignal }): Promise<PulledMessage[]>;
  /** Acknowledges (done) and retries (again after `delaySeconds`) leased messages; sends nothing when both lists are empty. */
  ack(options: { acks: string[]; retries: { leaseId: string; delaySeconds: number }[]; signal?: AbortSignal }): Promise<AckResult>;
};

/** A call the API refused (4xx other than 429), or one that still failed after every attempt; `status` 0 is a network error. */
export class QueueApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: { code: number; message: string }[],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "QueueApiError";
  }
}

const ErrorItem = v.looseObject({ code: v.optional(v.number(), 0), message: v.optional(v.string(), "") });
const Envelope = v.looseObject({
  success: v.boolean(),
  errors: v.optional(v.nullable(v.array(ErrorItem)), []),
  result: v.optional(v.unknown()),
});
const WireMessage = v.looseObject({
  id: v.string(),
  body: v.string(),
  attempts: v.number(),
  lease_id: v.string(),
  timestamp_ms: v.number(),
  metadata: v.optional(v.nullable(v.record(v.string(), v.unknown())), {}),
});
const PullResult = v.looseObject({ messages: v.optional(v.nullable(v.array(WireMessage)), []) });
const AckResultSchema = v.looseObject({
  ackCount: v.optional(v.number(), 0),
  retryCount: v.optional(v.number(), 0),
  warnings: v.optional(v.nullable(v.record(v.string(), v.pipe(v.unknown(), v.transform(String)))), {}),
});

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function fromBase64(text: string): Uint8Array {
  if (!BASE64.test(text)) throw new Error("body is not valid base64");
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

function decodeJson(body: string): unknown {
  // Cloudflare documents json bodies as base64 of the JSON text. Base64 of JSON text never parses as
  // JSON itself (its first character cannot start a JSON value), so a body that parses is taken as it is.
  try {
    return JSON.parse(body);
  } catch {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64(body)));
  }
}

function decodeMessage(wire: v.InferOutput<typeof WireMessage>): PulledMessage {
  const contentType = typeof wire.metadata?.["CF-Content-Type"] === "string" ? wire.metadata["CF-Content-Type"] : "";
  const message = { id: wire.id, leaseId: wire.lease_id, attempts: wire.attempts, timestampMs: wire.timestamp_ms, contentType };
  try {
    if (contentType === "json") return { ...message, body: decodeJson(wire.body) };
    if (contentType === "text") return { ...message, body: wire.body };
    if (contentType === "bytes") return { ...message, body: fromBase64(wire.body) };
    const reason =
      contentType === "v8"
        ? "content type v8 is specific to the Workers runtime and cannot be read by a pull consumer; send the message with contentType json, text or bytes"
        : `unknown content type ${JSON.stringify(contentType)}`;
    return { ...message, body: wire.body, decodeError: reason };
  } catch (error) {
    return { ...message, body: wire.body, decodeError: `cannot decode the ${contentType} body: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Seconds or an HTTP date, as milliseconds from now; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

type Attempt = { kind: "done"; json: unknown } | { kind: "retry"; error: QueueApiError; waitMs?: number };

/**
 * Creates a pull client. Calls are retried on 429, 5xx and network errors with jittered exponential
 * backoff (Retry-After honoured); other refusals throw {@link QueueApiError} with the API's messages.
 *
 * @example
 * const queue = createQueueClient({ apiUrl: "https://api.cloudflare.com/client/v4", accountId, queueId, token });
 * const messages = await queue.pull({ batchSize: 10, visibilityTimeoutMs: 120_000 });
 */
export function createQueueClient(options: QueueClientOptions): QueueClient {
  const doFetch = options.fetch ?? fetch;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const baseDelayMs = options.baseDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const base = `${options.apiUrl.replace(/\/+$/, "")}/accounts/${encodeURIComponent(options.accountId)}/queues/${encodeURIComponent(options.queueId)}/messages`;

  async function attempt(action: "pull" | "ack", body: unknown, signal?: AbortSignal): Promise<Attempt> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let response: Response;
    let text: string;
    try {
      response = await doFetch(`${base}/${action}`, {
        method: "POST",
        headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const reason = error instanceof Error ? error.message : String(error);
      return { kind: "retry", error: new QueueApiError(0, [], `queue ${action}: network error: ${reason}`, { cause: error }) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const envelope = v.safeParse(Envelope, json);
    const errors = envelope.success ? (envelope.output.errors ?? []) : [];
    const detail = errors.length > 0 ? errors.map((e) => `${e.message} (${e.code})`).join("; ") : text.slice(0, 200) || response.statusText;
    const error = new QueueApiError(response.status, errors, `queue ${action} failed with HTTP ${response.status}: ${detail}`);
    if (response.status === 429 || response.status >= 500) {
      return { kind: "retry", error, waitMs: retryAfterMs(response.headers.get("retry-after")) };
    }
    if (!response.ok || !envelope.success || !envelope.output.success) throw error;
    return { kind: "done", json: envelope.output.result };
  }

  async function call(action: "pull" | "ack", body: unknown, signal?: AbortSignal): Promise<unknown> {
    for (let n = 1; ; n++) {
      const outcome = await attempt(action, body, signal);
      if (outcome.kind === "done") return outcome.json;
      if (n >= maxAttempts) throw outcome.error;
      const backoff = Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1));
      await sleep(Math.min(maxDelayMs, outcome.waitMs ?? backoff), signal);
    }
  }

  function unexpected(action: string, issues: v.BaseIssue<unknown>[]): QueueApiError {
    const detail = issues.map((i) => `${v.getDotPath(i) ?? "result"}: ${i.message}`).join("; ");
    return new QueueApiError(200, [], `queue ${action}: unexpected response: ${detail}`);
  }

  return {
    async pull({ batchSize, visibilityTimeoutMs, signal }) {
      const result = v.safeParse(PullResult, await call("pull", { batch_size: batchSize, visibility_timeout_ms: visibilityTimeoutMs }, signal));
      if (!result.success) throw unexpected("pull", result.issues);
      return (result.output.messages ?? []).map(decodeMessage);
    },

    async ack({ acks, retries, signal }) {
      if (acks.length === 0 && retries.length === 0) return { ackCount: 0, retryCount: 0, warnings: {} };
      const body = {
        acks: acks.map((leaseId) => ({ lease_id: leaseId })),
        retries: retries.map((r) => ({ lease_id: r.leaseId, delay_seconds: r.delaySeconds })),
      };
      const result = v.safeParse(AckResultSchema, (await call("ack", body, signal)) ?? {});
      if (!result.success) throw unexpected("ack", result.issues);
      return { ackCount: result.output.ackCount, retryCount: result.output.retryCount, warnings: result.output.warnings ?? {} };
    },
  };
}
