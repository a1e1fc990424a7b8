import { eq } from "drizzle-orm";
import { Hono } from "hono";
import * as v from "valibot";
import { images, jobs } from "../../db/schema";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/problem";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { audit } from "../services/audit";
import { assertCategoriesExist, ownImage, writeContributorLabels } from "../services/uploads";
import { ListingFields } from "./uploads";

const StatusSchema = v.object({
  imageId: s.uuid,
  status: v.string(),
  stage: v.string(),
  reason: v.nullable(v.string()),
  duplicateOf: v.nullable(v.string()),
  withdrawn: v.boolean(),
  attempts: v.number(),
  derivatives: v.record(v.string(), v.string()),
  updatedAt: v.string(),
});

const PatchBody = v.pipe(
  v.strictObject({
    title: v.optional(ListingFields.title),
    // "" clears the description.
    description: v.optional(s.text(5000, 0)),
    // An empty list clears the contributor's keywords (AI tags stay).
    keywords: v.optional(v.pipe(v.array(s.text(50)), v.maxLength(50, "at most 50 keywords"))),
    categories: ListingFields.categories,
    editorial: ListingFields.editorial,
  }),
  v.check((body) => Object.keys(body).length > 0, "change at least one field"),
);

const access = ["contributor", "admin"] as const;

/** A contributor's own images: processing status, metadata edits, withdrawal from sale. */
export const imageRoutes = new Hono<AppEnv>()
  .get(
    "/:id/status",
    spec({
      summary: "Where an upload is: stage, outcome and the reason for it",
      tags: ["images"],
      access,
      responses: { 200: { description: "Processing status", schema: StatusSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      const image = await ownImage(c.var.db, c.req.valid("param").id, caller(c));
      const [job] = await c.var.db.select({ attempts: jobs.attempts, lastError: jobs.lastError }).from(jobs).where(eq(jobs.imageId, image.id));
      const base = c.var.config.DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");
      const derivatives = Object.fromEntries(Object.entries(image.derivativeKeys ?? {}).map(([name, key]) => [name, `${base}/${key}`]));
      return c.json({
        imageId: image.id,
        status: image.status,
        stage: image.stage,
        reason: image.statusReason ?? (image.status === "processing" ? (job?.lastError ?? null) : null),
        duplicateOf: image.duplicateOf,
        withdrawn: image.withdrawnAt !== null,
        attempts: job?.attempts ?? 0,
        derivatives,
        updatedAt: image.updatedAt.toISOString(),
      });
    },
  )
  .patch(
    "/:id",
    spec({
      summary: "Edit a listing's title, description, keywords, categories or editorial flag",
      tags: ["images"],
      access,
      responses: { 200: { description: "The edited fields", schema: v.object({ imageId: s.uuid, title: v.string(), description: v.nullable(v.string()), editorial: v.boolean() }) } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("json", PatchBody),
    async (c) => {
      const actor = caller(c);
      const image = await ownImage(c.var.db, c.req.valid("param").id, actor);
      const body = c.req.valid("json");
      await assertCategoriesExist(c.var.db, body.categories ?? []);
      const updated = await c.var.db.transaction(async (tx) => {
        const [row] = await tx
          .update(images)
          .set({
            ...(body.title !== undefined ? { title: body.title } : {}),
            ...(body.description !== undefined ? { description: body.description || null } : {}),
            ...(body.editorial !== undefined ? { editorial: body.editorial } : {}),
            updatedAt: new Date(),
          })
          .where(eq(images.id, image.id))
          .returning({ imageId: images.id, title: images.title, description: images.description, editorial: images.editorial });
        await writeContributorLabels(tx, image.id, body.keywords, body.categories);
        if (actor.role === "admin" && actor.userId !== image.contributorId) {
          await audit(tx, { actorId: actor.userId, action: "image.edit", targetType: "image", targetId: image.id, detail: body, requestId: c.var.requestId });
        }
        return row;
      });
      return c.json(updated);
    },
  )
  .delete(
    "/:id",
    spec({
      summary: "Withdraw an image from sale (buyers who licensed it can still download it)",
      tags: ["images"],
      access,
      responses: { 200: { description: "Withdrawn", schema: v.object({ imageId: s.uuid, withdrawnAt: v.string() }) } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      const actor = caller(c);
      const image = await ownImage(c.var.db, c.req.valid("param").id, actor);
      if (image.stage === "awaiting_upload") throw new ApiError("conflict", "this upload never completed: abandon it with DELETE /v1/uploads/{id}");
      const withdrawnAt = image.withdrawnAt ?? new Date();
      if (!image.withdrawnAt) {
        await c.var.db.update(images).set({ withdrawnAt, updatedAt: new Date() }).where(eq(images.id, image.id));
        if (actor.role === "admin" && actor.userId !== image.contributorId) {
          await audit(c.var.db, { actorId: actor.userId, action: "image.withdraw", targetType: "image", targetId: image.id, requestId: c.var.requestId });
        }
      }
      return c.json({ imageId: image.id, withdrawnAt: withdrawnAt.toISOString() });
    },
  );
