import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { timestamps, tstz } from "./columns";
import { images } from "./images";

export const JOB_STATUSES = ["queued", "running", "done", "failed", "dead"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * Processing state per image and step (the queue carries the messages; this records progress).
 * Keyed by (image_id, job_type) so a redelivered message finds and resumes the same row.
 */
export const jobs = pgTable(
  "jobs",
  {
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    /** e.g. derivatives, embed, tag, nsfw, phash */
    jobType: text("job_type").notNull(),
    status: text("status").$type<JobStatus>().notNull().default("queued"),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    output: jsonb("output").$type<Record<string, unknown>>(),
    startedAt: tstz("started_at"),
    finishedAt: tstz("finished_at"),
    ...timestamps,
  },
  (t) => [
    primaryKey({ columns: [t.imageId, t.jobType] }),
    check("jobs_status_check", sql`status in ('queued', 'running', 'done', 'failed', 'dead')`),
    index("jobs_status_updated_idx").on(t.status, t.updatedAt),
  ],
);

export type Job = typeof jobs.$inferSelect;
