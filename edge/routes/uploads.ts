import { type Context, Hono } from "hono";
import * as v from "valibot";
import { MAX_UPLOAD_BYTES, UPLOAD_CONTENT_TYPES } from "../../common/images";
import type { AppEnv } from "../env";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { idempotent } from "../middleware/idempotency";
import { abortUpload, completeUpload, createUpload, signMoreParts, type UploadDeps } from "../services/catalogue/uploads";

const keyword = s.text(50);

/** Listing metadata a contributor gives with an upload (and may edit later with PATCH /v1/images/{id}). */
export const ListingFields = {
  title: s.text(200),
  description: v.optional(s.text(5000, 0)),
  keywords: v.optional(v.pipe(v.array(keyword), v.minLength(1, "omit keywords rather than sending none"), v.maxLength(50, "at most 50 keywords"))),
  categories: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,40}$/, "must be a category slug"))), v.maxLength(2, "at most 2 categories"))),
  editorial: v.optional(v.boolean()),
};

const CreateBody = v.strictObject({
  ...ListingFields,
  // Checked by the service so an unaccepted type is a 415 naming the accepted ones, not a 422.
  contentType: v.pipe(s.text(100), v.toLowerCase()),
  bytes: v.pipe(v.number(), v.integer("must be a whole number of bytes"), v.minValue(1, "an empty file is not an image"), v.maxValue(MAX_UPLOAD_BYTES, `uploads are limited to ${MAX_UPLOAD_BYTES} bytes (200 MB)`)),
  /** Force (or refuse) a multipart upload; by default files over 64 MiB use one. */
  multipart: v.optional(v.boolean()),
});

const SignedPartSchema = v.object({ partNumber: v.number(), url: v.string(), method: v.literal("PUT"), headers: v.record(v.string(), v.string()), expiresAt: v.string() });

const TicketSchema = v.object({
  imageId: s.uuid,
  key: v.string(),
  method: v.literal("PUT"),
  expiresAt: v.string(),
  uploadUrl: v.optional(v.string()),
  headers: v.optional(v.record(v.string(), v.string())),
  multipart: v.optional(v.object({ uploadId: v.string(), partSize: v.number(), partCount: v.number(), parts: v.array(SignedPartSchema) })),
});

const StateSchema = v.object({ imageId: s.uuid, status: v.string(), stage: v.string(), enqueued: v.boolean() });

const Part = v.strictObject({ partNumber: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)), etag: v.pipe(v.string(), v.minLength(1), v.maxLength(200)) });

/** `{}` for a single upload; multipart uploads list their parts with the ETags R2 returned. */
const CompleteBody = v.strictObject({
  parts: v.optional(
    v.pipe(
      // One clear issue per bad item ("parts.0") rather than one per missing key.
      v.array(v.custom<v.InferOutput<typeof Part>>((item) => v.is(Part, item), "each part is { partNumber: 1 to 10000, etag: the ETag R2 returned }")),
      v.minLength(1),
      v.maxLength(10_000),
    ),
  ),
});

const deps = (c: Context<AppEnv>): UploadDeps => ({ db: c.var.db, config: c.var.config, env: c.env, ctx: c.executionCtx as ExecutionContext });

/**
 * Contributor uploads: the bytes go straight from the contributor to R2 (presigned), never
 * through the Worker; the edge signs, then checks and enqueues.
 */
export const uploadRoutes = new Hono<AppEnv>()
  .post(
    "/",
    spec({
      summary: "Start an upload: creates the listing and returns a presigned R2 PUT (or multipart part URLs)",
      description: `Accepted types: ${UPLOAD_CONTENT_TYPES.join(", ")}; at most 200 MB. PUT the file to \`uploadUrl\` with exactly \`headers\` within an hour, then call complete.`,
      tags: ["uploads"],
      access: ["contributor", "admin"],
      idempotent: true,
      responses: { 201: { description: "Upload ticket", schema: TicketSchema }, 415: { description: "Not an accepted image type" } },
    }),
    input("json", CreateBody),
    idempotent(),
    async (c) => {
      const ticket = await createUpload(deps(c), caller(c).userId, c.req.valid("json"));
      return c.json(ticket, 201, { location: `/v1/images/${ticket.imageId}/status` });
    },
  )
  .post(
    "/:id/parts",
    spec({
      summary: "Fresh presigned URLs for parts of a multipart upload (to resume after they expired)",
      tags: ["uploads"],
      access: ["contributor", "admin"],
      responses: { 200: { description: "Part URLs", schema: v.object({ parts: v.array(SignedPartSchema) }) } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("json", v.strictObject({ partNumbers: v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000))), v.minLength(1), v.maxLength(100)) })),
    async (c) => {
      const parts = await signMoreParts(deps(c), c.req.valid("param").id, caller(c), c.req.valid("json").partNumbers);
      return c.json({ parts });
    },
  )
  .post(
    "/:id/complete",
    spec({
      summary: "Finish an upload (body {} or, for multipart, { parts }): checks the object and its size, enqueues processing once",
      description: "In production R2's event notification does the same on its own; calling this as well is harmless.",
      tags: ["uploads"],
      access: ["contributor", "admin"],
      responses: {
        200: { description: "The upload's state", schema: StateSchema },
        409: { description: "Nothing uploaded yet, or the multipart upload could not be completed" },
        422: { description: "The uploaded size differs from the declared size (the upload is discarded)" },
      },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("json", CompleteBody),
    async (c) => c.json(await completeUpload(deps(c), c.req.valid("param").id, caller(c), c.req.valid("json").parts)),
  )
  .delete(
    "/:id",
    spec({
      summary: "Abandon an upload that has not completed (aborts a multipart upload, removes the listing)",
      tags: ["uploads"],
      access: ["contributor", "admin"],
      responses: { 204: { description: "Abandoned" }, 409: { description: "Already complete: withdraw the image instead" } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      await abortUpload(deps(c), c.req.valid("param").id, caller(c));
      return c.body(null, 204);
    },
  );
