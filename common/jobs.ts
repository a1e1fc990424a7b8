import * as v from "valibot";

/**
 * The job queue's contract, one table for every side: the edge (producer, dead-letter consumer),
 * the local queue stand-in (edge/dev/local-queue.ts) and the GPU worker (pull consumer, runner).
 * Each job type declares its payload schema and its policy: how often it is tried, how long it
 * waits between tries, and what a final failure means. A message is `unknown` until parsed with
 * {@link parseJobMessage}; the worker checks at start that every type has exactly one handler.
 */

/** Steps of the image pipeline a reprocess can re-run (gpu-worker/pipeline/steps.ts, those marked `reprocess`). */
export const REPROCESS_STEPS = ["metadata", "phash", "colours", "renditions", "nsfw", "embedding", "tags"] as const;
export type ReprocessStep = (typeof REPROCESS_STEPS)[number];

const ImageId = v.pipe(v.string(), v.uuid());

export type JobPolicy = {
  /** Deliveries before the job counts as failed for good (the first one included). */
  maxAttempts: number;
  /** Wait before the next delivery: `baseSeconds` after the first failure, doubling, at most `maxSeconds`. */
  backoff: { baseSeconds: number; maxSeconds: number };
  /**
   * What a final failure does, on the worker (its last attempt) and on the edge (the dead-letter
   * consumer): "mark-image-failed" records the job dead and the image processing_failed (the
   * contributor sees why); "record-job" records the job dead and leaves the image as it is.
   */
  onFinalFailure: "mark-image-failed" | "record-job";
};

export const JOBS = {
  /** Decode an uploaded original once and derive everything (derivatives, hashes, ML, moderation). */
  "image.process": {
    payload: v.object({ imageId: ImageId }),
    policy: { maxAttempts: 3, backoff: { baseSeconds: 10, maxSeconds: 300 }, onFinalFailure: "mark-image-failed" },
  },
  /**
   * Re-run named pipeline steps on a processed image from its stored original, updating only what
   * they own (a back-fill after a new or changed step). Never changes the image's status.
   */
  "image.reprocess": {
    payload: v.object({
      imageId: ImageId,
      steps: v.pipe(v.array(v.picklist(REPROCESS_STEPS, `steps are ${REPROCESS_STEPS.join(", ")}`)), v.minLength(1, "name at least one step")),
    }),
    policy: { maxAttempts: 3, backoff: { baseSeconds: 30, maxSeconds: 300 }, onFinalFailure: "record-job" },
  },
} as const satisfies Record<string, { payload: v.GenericSchema; policy: JobPolicy }>;

export type JobType = keyof typeof JOBS;
export const JOB_TYPES = Object.keys(JOBS) as JobType[];

/**
 * Deliveries the queue allows any message: the most any job type wants. Cloudflare Queues retries
 * per queue, not per job (`wrangler queues consumer http add --message-retries` is this minus one;
 * the local stand-in reads it); a job type that wants fewer is settled by the worker's runner.
 */
export const QUEUE_MAX_DELIVERIES = Math.max(...JOB_TYPES.map((type) => JOBS[type].policy.maxAttempts));

/** The policy of a job type. */
export const jobPolicy = (type: JobType): JobPolicy => JOBS[type].policy;

/**
 * Seconds before the next delivery after `attempts` failed ones: the policy's base, doubling, capped.
 *
 * @example retryDelaySeconds(jobPolicy("image.process"), 1) // 10; (…, 3) // 40; (…, 9) // 300
 */
export function retryDelaySeconds(policy: Pick<JobPolicy, "backoff">, attempts: number): number {
  const exponent = Math.max(0, Math.floor(attempts) - 1);
  return Math.min(policy.backoff.maxSeconds, policy.backoff.baseSeconds * 2 ** Math.min(exponent, 16));
}

const Envelope = v.object({
  type: v.picklist(JOB_TYPES),
  payload: v.unknown(),
  enqueuedAt: v.pipe(v.string(), v.isoTimestamp()),
});

export type JobPayload<T extends JobType> = v.InferOutput<(typeof JOBS)[T]["payload"]>;

export type JobMessage<T extends JobType = JobType> = { [K in T]: { type: K; payload: JobPayload<K>; enqueuedAt: string } }[T];

/** Validates a queue message body; throws a ValiError naming what is wrong. */
export function parseJobMessage(body: unknown): JobMessage {
  const envelope = v.parse(Envelope, body);
  const payload = v.parse(JOBS[envelope.type].payload, envelope.payload);
  return { type: envelope.type, payload, enqueuedAt: envelope.enqueuedAt } as JobMessage;
}

export function jobMessage<T extends JobType>(type: T, payload: JobPayload<T>, now = new Date()): JobMessage<T> {
  return { type, payload, enqueuedAt: now.toISOString() } as JobMessage<T>;
}
