import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type JobType, jobMessage, jobPolicy, QUEUE_MAX_DELIVERIES, retryDelaySeconds } from "../../common/jobs";
import { createLogger } from "../../common/log";
import type { PulledMessage, QueueClient } from "../../gpu-worker/queue-client";
import { checkHandlers, type Handlers, type JobContext, startRunner } from "../../gpu-worker/runner";

/**
 * The runner's side of the job table (common/jobs.ts): each job's backoff and last attempt, its
 * own failure recorder, and what handlers get ({ attempt, signal, log }). The queue here keeps
 * Cloudflare's lease semantics in memory (a pulled message is invisible until acknowledged or
 * retried; every delivery counts); the whole stack runs against the real API shape in
 * test/e2e/pipeline.test.ts. The clock is faked: the runner's polling waits cost nothing.
 */

type Stored = { id: string; body: unknown; attempts: number; leased: boolean };

function memoryQueue(bodies: unknown[]) {
  const messages: Stored[] = bodies.map((body, i) => ({ id: `m${i}`, body, attempts: 0, leased: false }));
  const acked: string[] = [];
  const retried: { id: string; attempt: number; delaySeconds: number }[] = [];
  const idOf = (leaseId: string) => leaseId.split("#")[0] as string;
  const client: QueueClient = {
    async pull({ batchSize }) {
      const ready = messages.filter((m) => !m.leased && !acked.includes(m.id)).slice(0, batchSize);
      return ready.map((m): PulledMessage => {
        m.leased = true;
        m.attempts++;
        return { id: m.id, leaseId: `${m.id}#${m.attempts}`, attempts: m.attempts, timestampMs: 0, contentType: "json", body: m.body };
      });
    },
    async ack({ acks, retries }) {
      for (const leaseId of acks) acked.push(idOf(leaseId));
      for (const { leaseId, delaySeconds } of retries) {
        const message = messages.find((m) => m.id === idOf(leaseId)) as Stored;
        retried.push({ id: message.id, attempt: message.attempts, delaySeconds });
        // Past the queue's last delivery the message goes to the dead-letter queue: gone from here.
        if (message.attempts >= QUEUE_MAX_DELIVERIES) acked.push(message.id);
        else message.leased = false;
      }
      return { ackCount: acks.length, retryCount: retries.length, warnings: {} };
    },
  };
  return { client, acked, retried };
}

const imageId = "6f1c8a4e-3b1d-4c55-9a40-2f1f6f7d2a10";
const lines: string[] = [];
const log = createLogger({}, { write: (_level, line) => lines.push(line) });

type Calls = { type: JobType; context: JobContext }[];

function handlersFor(run: (type: JobType, context: JobContext) => Promise<unknown>, calls: Calls, failures: { type: JobType; attempt: number; final: boolean }[]): Handlers {
  return {
    "image.process": {
      run: (_message, context) => (calls.push({ type: "image.process", context }), run("image.process", context)),
      recordFailure: async (_message, _error, { attempt, final }) => void failures.push({ type: "image.process", attempt, final }),
    },
    "image.reprocess": {
      run: (_message, context) => (calls.push({ type: "image.reprocess", context }), run("image.reprocess", context)),
      recordFailure: async (_message, _error, { attempt, final }) => void failures.push({ type: "image.reprocess", attempt, final }),
    },
  };
}

const options = { concurrency: 2, batchSize: 2, visibilityTimeoutMs: 60_000, pollIntervalMs: 100, shutdownGraceMs: 1000, log };

beforeEach(() => {
  vi.useFakeTimers();
  lines.length = 0;
});
afterEach(() => void vi.useRealTimers());

describe("the job runner", () => {
  it("refuses to start without exactly one handler per job type", () => {
    const failing = handlersFor(async () => undefined, [], []);
    expect(() => checkHandlers(failing)).not.toThrow();
    const { "image.reprocess": _, ...missing } = failing;
    expect(() => checkHandlers(missing)).toThrow(/missing image.reprocess/);
    expect(() => checkHandlers({ ...failing, "image.explode": failing["image.process"] })).toThrow(/unknown image.explode/);
  });

  it("retries a failing job after its policy's backoff, records each failure, and lets the last one dead-letter", async () => {
    const queue = memoryQueue([jobMessage("image.process", { imageId })]);
    const calls: Calls = [];
    const failures: { type: JobType; attempt: number; final: boolean }[] = [];
    const runner = startRunner({ ...options, queue: queue.client, handlers: handlersFor(async () => Promise.reject(new Error("R2 is down")), calls, failures) });
    await vi.advanceTimersByTimeAsync(10_000);
    await runner.stop();

    const policy = jobPolicy("image.process");
    expect(calls.map((c) => c.context.attempt)).toEqual([1, 2, 3]);
    expect(failures).toEqual([
      { type: "image.process", attempt: 1, final: false },
      { type: "image.process", attempt: 2, final: false },
      { type: "image.process", attempt: 3, final: true },
    ]);
    expect(queue.retried).toEqual([
      { id: "m0", attempt: 1, delaySeconds: retryDelaySeconds(policy, 1) },
      { id: "m0", attempt: 2, delaySeconds: retryDelaySeconds(policy, 2) },
      { id: "m0", attempt: 3, delaySeconds: 0 },
    ]);
    expect(lines.some((line) => line.includes('"msg":"job failed for the last time"') && line.includes(imageId))).toBe(true);
  });

  it("gives each job a logger with its fields and acknowledges it when done", async () => {
    const queue = memoryQueue([jobMessage("image.reprocess", { imageId, steps: ["colours"] })]);
    const calls: Calls = [];
    const runner = startRunner({ ...options, queue: queue.client, handlers: handlersFor(async (_type, context) => context.log.info("working"), calls, []) });
    await vi.advanceTimersByTimeAsync(1000);
    await runner.stop();
    expect(queue.acked).toEqual(["m0"]);
    const working = JSON.parse(lines.find((line) => line.includes('"msg":"working"')) ?? "{}");
    expect(working).toMatchObject({ type: "image.reprocess", messageId: "m0", attempt: 1, imageId, steps: ["colours"] });
  });

  it("aborts a job's signal when a stop outlasts the grace period, and releases it to another worker", async () => {
    const queue = memoryQueue([jobMessage("image.process", { imageId })]);
    const calls: Calls = [];
    const runner = startRunner({
      ...options,
      queue: queue.client,
      handlers: handlersFor((_type, context) => new Promise((_resolve, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason))), calls, []),
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(1);
    const signal = calls[0]?.context.signal as AbortSignal;
    const stopping = runner.stop();
    await vi.advanceTimersByTimeAsync(options.shutdownGraceMs - 1);
    expect(signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await stopping).toEqual({ finished: 0, released: 1 });
    expect(signal.aborted).toBe(true);
    expect(queue.retried[0]).toEqual({ id: "m0", attempt: 1, delaySeconds: 0 });
  });
});
