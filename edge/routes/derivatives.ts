import { Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { input, spec } from "../lib/route";
import { publicRendition, RENDITION_FILES } from "../services/catalogue/renditions";

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
    responses: {
      200: { description: "The image (WebP)", content: { "image/webp": { type: "string", format: "binary" } } },
      404: { description: "No such image, not listed, or no such rendition" },
    },
  }),
  input("param", v.strictObject({ id: v.pipe(v.string(), v.uuid()), file: v.picklist(RENDITION_FILES) })),
  async (c) => {
    const { id, file } = c.req.valid("param");
    const object = await publicRendition({ db: c.var.db, env: c.env }, id, file);
    const headers = new Headers();
    object.writeHttpMetadata(headers);
    headers.set("etag", object.httpEtag);
    return new Response(object.body, { headers });
  },
);
