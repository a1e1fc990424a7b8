import { type Context, Hono } from "hono";
import * as v from "valibot";
import { UPLOAD_CONTENT_TYPES } from "../../common/images";
import type { AppEnv } from "../env";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { idempotent } from "../middleware/idempotency";
import {
  abortUpload,
  completeUpload,
  createUpload,
  MorePartsSchema,
  NewUploadSchema,
  signMoreParts,
  type UploadDeps,
  UploadStateSchema,
  UploadTicketSchema,
} from "../services/catalogue/uploads";

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

const deps = (c: Context<AppEnv>): UploadDeps => ({ db: c.var.db, config: c.var.config, env: c.env, s3: c.var.s3 });

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
      responses: { 201: { description: "Upload ticket", schema: UploadTicketSchema }, 415: { description: "Not an accepted image type" } },
    }),
    input("json", NewUploadSchema),
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
      responses: { 200: { description: "Part URLs", schema: MorePartsSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("json", v.strictObject({ partNumbers: v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000))), v.minLength(1), v.maxLength(100)) })),
    async (c) => c.json(await signMoreParts(deps(c), c.req.valid("param").id, caller(c), c.req.valid("json").partNumbers)),
  )
  .post(
    "/:id/complete",
    spec({
      summary: "Finish an upload (body {} or, for multipart, { parts }): checks the object and its size, enqueues processing once",
      description: "In production R2's event notification does the same on its own; calling this as well is harmless.",
      tags: ["uploads"],
      access: ["contributor", "admin"],
      responses: {
        200: { description: "The upload's state", schema: UploadStateSchema },
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
