import { type Context, Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { decodeCursor } from "../lib/pagination";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { certificateOf } from "../services/commerce/license-certificate";
import { getLicense, LicensePageSchema, LicenseSchema, listLicenses } from "../services/commerce/licenses";

const ListQuery = v.strictObject({
  ...s.pageQuery,
  imageId: v.optional(s.uuid),
  status: v.optional(v.picklist(["active", "revoked"], "must be active or revoked")),
});

const access = ["buyer"] as const;

const deps = (c: Context<AppEnv>) => ({ db: c.var.db, urls: c.var.urls });

/** A buyer's licenses and their printable certificates. Licenses are issued by checkout and subscriptions. */
export const licenseRoutes = new Hono<AppEnv>()
  .get(
    "/",
    spec({
      summary: "Your licenses, newest first",
      description: "Filter by image or by status (active, revoked). Revoked licenses stay listed with the date and reason.",
      tags: ["licenses"],
      access,
      apiKeyScope: "licenses:read",
      responses: { 200: { description: "A page of licenses", schema: LicensePageSchema } },
    }),
    input("query", ListQuery),
    async (c) => {
      const { limit, cursor, imageId, status } = c.req.valid("query");
      return c.json(await listLicenses(deps(c), caller(c).userId, { imageId, status }, limit, cursor ? decodeCursor(cursor) : undefined));
    },
  )
  .get(
    "/:id",
    spec({
      summary: "One of your licenses with its terms",
      description: "Another buyer's license is a 404.",
      tags: ["licenses"],
      access,
      apiKeyScope: "licenses:read",
      responses: { 200: { description: "The license", schema: LicenseSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => c.json(await getLicense(deps(c), caller(c).userId, c.req.valid("param").id)),
  )
  .get(
    "/:id/certificate",
    spec({
      summary: "A printable license certificate (HTML)",
      description: "Licensee, image, contributor, license type and full terms, issue date, price and order; a revoked license says so prominently.",
      tags: ["licenses"],
      access,
      apiKeyScope: "licenses:read",
      responses: { 200: { description: "text/html certificate, shown inline", content: { "text/html": { type: "string" } } } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      const { id } = c.req.valid("param");
      const page = await certificateOf(deps(c), caller(c).userId, id);
      return c.body(page.toString(), 200, {
        "content-type": "text/html; charset=utf-8",
        "content-disposition": `inline; filename="edgestock-license-${id}.html"`,
        "cache-control": "private, no-store",
      });
    },
  );
