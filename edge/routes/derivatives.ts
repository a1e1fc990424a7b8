import { eq } from "drizzle-orm";
import { Hono } from "hono";
import * as v from "valibot";
import { isListed } from "../../common/images";
import { images } from "../../db/schema";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/problem";
import { input, spec } from "../lib/route";

/**
 * Thumbnails and watermarked previews from the public bucket. In production the bucket is served
 * from its own custom domain (DERIVATIVES_PUBLIC_URL) by R2 and the CDN; this route serves the
 * same objects through the Worker, which is what DERIVATIVES_PUBLIC_URL points at locally. The
 * bucket holds renditions of listed images only (edge/services/catalogue/renditions.ts); the route also
 * checks the listing, so a rendition left behind by a failed sync is not served here either.
 */
export const derivativeRoutes = new Hono<AppEnv>().get(
  "/images/:id/:file",
  spec({
    summary: "A thumbnail or watermarked preview (WebP, cached for a year)",
    tags: ["images"],
    access: "public",
    responses: { 200: { description: "The image" } },
  }),
  input("param", v.strictObject({ id: v.pipe(v.string(), v.uuid()), file: v.picklist(["thumb-150.webp", "thumb-450.webp", "thumb-1000.webp", "preview-1200.webp"]) })),
  async (c) => {
    const { id, file } = c.req.valid("param");
    const [image] = await c.var.db.select({ status: images.status, withdrawnAt: images.withdrawnAt, takenDownAt: images.takenDownAt }).from(images).where(eq(images.id, id));
    if (!image || !isListed(image)) throw new ApiError("not-found", "no such rendition");
    const object = await c.env.DERIVATIVES.get(`images/${id}/${file}`);
    if (!object) throw new ApiError("not-found", "no such rendition");
    const headers = new Headers();
    object.writeHttpMetadata(headers);
    headers.set("etag", object.httpEtag);
    return new Response(object.body, { headers });
  },
);
