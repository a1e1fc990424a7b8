import type { Context } from "hono";
import { Hono } from "hono";
import * as v from "valibot";
import { licenseType } from "../../db/schema";
import type { AppEnv } from "../env";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { clientIp } from "../middleware/rate-limit";
import { authorizeDownload, DownloadTicketSchema } from "../services/commerce/downloads";

const deps = (c: Context<AppEnv>) => ({ db: c.var.db, config: c.var.config, s3: c.var.s3 });

/** Downloads of originals: only for the holder of a license, through a short-lived signed URL. */
export const downloadRoutes = new Hono<AppEnv>().get(
  "/:id/download",
  spec({
    summary: "Download an original you hold a license for: a signed URL valid for 5 minutes",
    description:
      "`license` is a license id you hold for this image, or a license type (standard | enhanced | editorial): a held license of that type is used, " +
      "else one subscription credit is spent (standard and editorial only). Re-downloads are allowed; every download is recorded. " +
      "The URL is a presigned GET of the private originals bucket; changing any part of it breaks the signature.",
    tags: ["commerce"],
    access: ["buyer"],
    apiKeyScope: "downloads:create",
    responses: {
      200: { description: "The signed URL", schema: DownloadTicketSchema },
      403: { description: "No valid license and no subscription credit (license-required)" },
      404: { description: "No such image, or no such license of yours for it" },
      410: { description: "The image was taken down" },
    },
  }),
  input("param", v.strictObject({ id: s.uuid })),
  input("query", v.strictObject({ license: v.union([s.uuid, v.picklist(licenseType.enumValues)], "must be a license id or a license type") })),
  async (c) => {
    const ticket = await authorizeDownload(deps(c), caller(c), c.req.valid("param").id, c.req.valid("query").license, {
      ip: clientIp(c),
      userAgent: c.req.header("user-agent") ?? null,
    });
    c.header("cache-control", "no-store");
    return c.json(ticket);
  },
);
