import { JOB_TYPES, type JobMessage, type JobType, jobPolicy, parseJobMessage, QUEUE_MAX_DELIVERIES, retryDelaySeconds } from "../common/jobs";
import type { Logger } from "../common/log";
import type { PulledMessage, QueueClient } from "./queue-client";

/** What a handler gets beside its message. */
export type JobContext = {
  /** Deliveries so far, this one included. */
  attempt: number;
  /** Aborts when the worker stops and the grace period has run out: the job is released to another worker. */
  signal: AbortSignal;
  /** The worker's logger with the job's fields (type, message id, attempt, payload). */
  log: Logger;
};

/** Runs a job: resolves when it is done (or needs no work); throws to be retried. */
export type Handler<T extends JobType = JobType> = (message: JobMessage<T>, context: JobContext) => Promise<unknown>;

/**
 * Records a failed attempt (the reason, for the status route and the admin); `final` is true on
 * the last attempt of the job's policy (common/jobs.ts), where the job's own final-failure rule applies.
 */
export type FailureRecorder<T extends JobType = JobType> = (message: JobMessage<T>, error: Error, context: { attempt: number; final: boolean }) => Promise<void>;

export type JobHandler<T extends JobType = JobType> = { run: Handler<T>; recordFailure: FailureRecorder<T> };
export type Handlers = { [T in JobType]: JobHandler<T> };

export type RunnerOptions = {
  queue: QueueClient;
  handlers: Handlers;
  concurrency: number;
  batchSize: number;
  visibilityTimeoutMs: number;
  pollIntervalMs: number;
  /** Replaces every policy's first retry delay (tests retry at once); the policies' own otherwise. */
  retryBaseSeconds?: number;
  /** How long a stop waits for jobs in flight before aborting them and releasing them back to the queue. */
  shutdownGraceMs: number;
  log: Logger;
};

/** Every job type has exactly one handler (checked at start, so a missing one is not found in production). */
export function checkHandlers(handlers: Partial<Record<string, unknown>>): void {
  const missing = JOB_TYPES.filter((type) => {
    const handler = handlers[type] as Partial<JobHandler> | undefined;
    return typeof handler?.run !== "function" || typeof handler.recordFailure !== "function";
  });
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
 * them concurrently, acknowledges each success and retries each failure after its policy's backoff
 * (common/jobs.ts). After a job's last attempt its failure is recorded by its own rule; the queue
 * dead-letters it when that was also the queue's last delivery, else the runner acknowledges it.
 * Nothing is acknowledged before its work is committed, so a crash (even SIGKILL) leaves the
 * message leased, and it comes back when the lease expires. `stop()` stops pulling, waits up to
 * the grace period for jobs in flight, then aborts their signals and releases them (retry with no
 * delay) so another worker picks them up at once.
 */
export function startRunner(options: RunnerOptions) {
  const { queue, log } = options;
  const stopping = new AbortController();
  const inFlight = new Map<string, { task: Promise<void>; message: PulledMessage; abort: AbortController }>();
  let wake: (() => void) | undefined;

  async function settle(message: PulledMessage, outcome: { ok: true } | { ok: false; delaySeconds: number }) {
    try {
      await queue.ack(outcome.ok ? { acks: [message.leaseId], retries: [] } : { acks: [], retries: [{ leaseId: message.leaseId, delaySeconds: outcome.delaySeconds }] });
    } catch (error) {
      // The lease then simply expires and the message comes back: safe, only slower.
      log.error("ack failed", { messageId: message.id, error: (error as Error).message });
    }
  }

  async function run(message: PulledMessage, signal: AbortSignal) {
    if (message.decodeError) {
      log.error("unreadable message acknowledged", { messageId: message.id, error: message.decodeError });
      return settle(message, { ok: true });
    }
    let job: JobMessage;
    try {
      job = parseJobMessage(message.body);
    } catch (error) {
      // Retrying cannot fix a malformed body: let the queue's retries run out into the dead-letter queue.
      log.error("invalid job message", { messageId: message.id, attempt: message.attempts, error: (error as Error).message });
      return settle(message, { ok: false, delaySeconds: 0 });
    }
    const jobLog = log.child({ type: job.type, messageId: message.id, attempt: message.attempts, ...job.payload });
    const handler = options.handlers[job.type] as JobHandler;
    const policy = jobPolicy(job.type);
    const started = performance.now();
    try {
      const result = await handler.run(job, { attempt: message.attempts, signal, log: jobLog });
      jobLog.info("job done", { ms: Math.round(performance.now() - started), result });
      await settle(message, { ok: true });
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      const final = message.attempts >= policy.maxAttempts;
      if (final) jobLog.error("job failed for the last time", { error: err.message });
      else jobLog.warn("job failed; will retry", { error: err.message });
      await handler.recordFailure(job, err, { attempt: message.attempts, final }).catch((e) => jobLog.error("recording the failure failed", { error: (e as Error).message }));
      if (final && message.attempts < QUEUE_MAX_DELIVERIES) {
        // The job is done trying and its failure is recorded; the queue would deliver it again.
        await settle(message, { ok: true });
        return;
      }
      const backoff = options.retryBaseSeconds === undefined ? policy : { backoff: { ...policy.backoff, baseSeconds: options.retryBaseSeconds } };
      await settle(message, { ok: false, delaySeconds: final ? 0 : retryDelaySeconds(backoff, message.attempts) });
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
        log.error("pull failed", { error: (error as Error).message });
      }
      if (stopping.signal.aborted) {
        // Pulled while stopping: hand them straight back.
        await Promise.all(messages.map((m) => settle(m, { ok: false, delaySeconds: 0 })));
        break;
      }
      for (const message of messages) {
        const abort = new AbortController();
        const task = run(message, abort.signal).finally(() => {
          inFlight.delete(message.leaseId);
          wake?.();
        });
        inFlight.set(message.leaseId, { task, message, abort });
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
      // Past the grace period: abort the rest and release them so another worker takes them now, not at lease expiry.
      const left = [...inFlight.values()];
      for (const f of left) f.abort.abort(new Error("the worker is stopping"));
      await Promise.all(left.map((f) => settle(f.message, { ok: false, delaySeconds: 0 })));
      return { finished: pending.length - left.length, released: left.length };
    },
  };
}
