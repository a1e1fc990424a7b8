import * as v from "valibot";

/**
 * Messages on the job queue, shared by the edge (producer, dead-letter consumer) and the GPU
 * worker (pull consumer). A message is `unknown` until parsed with {@link parseJobMessage}.
 * Each job type maps to its payload schema; the worker checks at start that every type has
 * exactly one handler.
 */
export const JOB_PAYLOADS = {
  /** Decode an uploaded original once and derive everything (derivatives, hashes, ML). */
  "image.process": v.object({ imageId: v.pipe(v.string(), v.uuid()) }),
} as const;

export type JobType = keyof typeof JOB_PAYLOADS;
export const JOB_TYPES = Object.keys(JOB_PAYLOADS) as JobType[];

const Envelope = v.object({
  type: v.picklist(JOB_TYPES),
  payload: v.unknown(),
  enqueuedAt: v.pipe(v.string(), v.isoTimestamp()),
});

export type JobMessage<T extends JobType = JobType> = {
  type: T;
  payload: v.InferOutput<(typeof JOB_PAYLOADS)[T]>;
  enqueuedAt: string;
};

/** Validates a queue message body; throws a ValiError naming what is wrong. */
export function parseJobMessage(body: unknown): JobMessage {
  const envelope = v.parse(Envelope, body);
  const payload = v.parse(JOB_PAYLOADS[envelope.type], envelope.payload);
  return { type: envelope.type, payload, enqueuedAt: envelope.enqueuedAt };
}

export function jobMessage<T extends JobType>(type: T, payload: JobMessage<T>["payload"], now = new Date()): JobMessage<T> {
  return { type, payload, enqueuedAt: now.toISOString() };
}
