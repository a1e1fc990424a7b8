import { JOB_TYPES, type JobMessage, type JobType, parseJobMessage } from "../common/jobs";
import { backoffSeconds, type PulledMessage, type QueueClient } from "./queue-client";

/** A job handler: resolves when the job is done (or needs no work); throws to be retried. */
export type Handler<T extends JobType = JobType> = (message: JobMessage<T>, attempt: number) => Promise<unknown>;
export type Handlers = { [T in JobType]: Handler<T> };

export type RunnerOptions = {
  queue: QueueClient;
  handlers: Handlers;
  /** Called when an attempt throws, before the message is retried (records the reason). */
  onFailure?: (message: JobMessage, error: Error, attempt: number) => Promise<void>;
  concurrency: number;
  batchSize: number;
  visibilityTimeoutMs: number;
  pollIntervalMs: number;
  /** First retry delay, doubled per attempt up to 5 minutes. */
  retryBaseSeconds: number;
  /** After this many deliveries the queue dead-letters a failed message; the runner only reports it. */
  maxAttempts: number;
  /** How long a stop waits for jobs in flight before releasing them back to the queue. */
  shutdownGraceMs: number;
  log: (level: "info" | "warn" | "error", msg: string, extra?: Record<string, unknown>) => void;
};

/** Every job type has exactly one handler (checked at start, so a missing one is not found in production). */
export function checkHandlers(handlers: Partial<Record<string, unknown>>): void {
  const missing = JOB_TYPES.filter((type) => typeof handlers[type] !== "function");
  const unknown = Object.keys(handlers).filter((type) => !(JOB_TYPES as string[]).includes(type));
  if (missing.length || unknown.length) {
    throw new Error(`job handlers: ${[missing.length ? `missing ${missing.join(", ")}` : "", unknown.length ? `unknown ${unknown.join(", ")}` : ""].filter(Boolean).join("; ")}`);
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * The pull loop: leases up to `batchSize` messages while fewer than `concurrency` jobs run, runs
 * them concurrently, acknowledges each success and retries each failure with backoff. The queue
 * owns attempts and dead-lettering (its max-retries setting); nothing is acknowledged before its
 * work is committed, so a crash (even SIGKILL) leaves the message leased, and it comes back when
 * the lease expires. `stop()` stops pulling, waits up to the grace period for jobs in flight, then
 * releases the rest (retry with no delay) so another worker picks them up at once.
 */
export function startRunner(options: RunnerOptions) {
  const { queue, log } = options;
  const stopping = new AbortController();
  const inFlight = new Map<string, { task: Promise<void>; message: PulledMessage }>();
  let wake: (() => void) | undefined;

  async function settle(message: PulledMessage, outcome: { ok: true } | { ok: false; delaySeconds: number }) {
    try {
      await queue.ack(outcome.ok ? { acks: [message.leaseId], retries: [] } : { acks: [], retries: [{ leaseId: message.leaseId, delaySeconds: outcome.delaySeconds }] });
    } catch (error) {
      // The lease then simply expires and the message comes back: safe, only slower.
      log("error", "ack failed", { messageId: message.id, error: (error as Error).message });
    }
  }

  async function run(message: PulledMessage) {
    if (message.decodeError) {
      log("error", "unreadable message acknowledged", { messageId: message.id, error: message.decodeError });
      return settle(message, { ok: true });
    }
    let job: JobMessage;
    try {
      job = parseJobMessage(message.body);
    } catch (error) {
      // Retrying cannot fix a malformed body: let the queue's retries run out into the dead-letter queue.
      log("error", "invalid job message", { messageId: message.id, attempt: message.attempts, error: (error as Error).message });
      return settle(message, { ok: false, delaySeconds: 0 });
    }
    const started = performance.now();
    try {
      const handler = options.handlers[job.type] as Handler;
      const result = await handler(job, message.attempts);
      log("info", "job done", { type: job.type, payload: job.payload, attempt: message.attempts, ms: Math.round(performance.now() - started), result });
      await settle(message, { ok: true });
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      const last = message.attempts >= options.maxAttempts;
      log(last ? "error" : "warn", last ? "job failed for the last time" : "job failed; will retry", {
        type: job.type,
        payload: job.payload,
        attempt: message.attempts,
        error: err.message,
      });
      await options.onFailure?.(job, err, message.attempts).catch((e) => log("error", "recording the failure failed", { error: (e as Error).message }));
      await settle(message, { ok: false, delaySeconds: last ? 0 : backoffSeconds(message.attempts, options.retryBaseSeconds) });
    }
  }

  const loop = (async () => {
    let idle = 0;
    while (!stopping.signal.aborted) {
      const free = options.concurrency - inFlight.size;
      if (free <= 0) {
        await Promise.race([...[...inFlight.values()].map((f) => f.task), new Promise<void>((resolve) => (wake = resolve))]);
        continue;
      }
      let messages: PulledMessage[] = [];
      try {
        messages = await queue.pull({ batchSize: Math.min(options.batchSize, free), visibilityTimeoutMs: options.visibilityTimeoutMs, signal: stopping.signal });
      } catch (error) {
        if (stopping.signal.aborted) break;
        log("error", "pull failed", { error: (error as Error).message });
      }
      if (stopping.signal.aborted) {
        // Pulled while stopping: hand them straight back.
        await Promise.all(messages.map((m) => settle(m, { ok: false, delaySeconds: 0 })));
        break;
      }
      for (const message of messages) {
        const task = run(message).finally(() => {
          inFlight.delete(message.leaseId);
          wake?.();
        });
        inFlight.set(message.leaseId, { task, message });
      }
      if (messages.length === 0) {
        idle = Math.min(idle + 1, 5);
        await sleep(options.pollIntervalMs * idle, stopping.signal);
      } else idle = 0;
    }
  })();

  return {
    /** Jobs running now. */
    get active() {
      return inFlight.size;
    },
    /** Stops pulling; waits for jobs in flight up to the grace period. Resolves when the loop has ended. */
    async stop(): Promise<{ finished: number; released: number }> {
      stopping.abort();
      wake?.();
      await loop;
      const pending = [...inFlight.values()];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        Promise.all(pending.map((f) => f.task)).then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), options.shutdownGraceMs))),
      ]);
      clearTimeout(timer);
      if (!timedOut) return { finished: pending.length, released: 0 };
      // Past the grace period: release the rest so another worker takes them now, not at lease expiry.
      const left = [...inFlight.values()];
      await Promise.all(left.map((f) => settle(f.message, { ok: false, delaySeconds: 0 })));
      return { finished: pending.length - left.length, released: left.length };
    },
  };
}
