import { Hono } from "hono";
import * as v from "valibot";
import { licenseType } from "../../db/schema";
import type { AppEnv } from "../env";
import { decodeCursor } from "../lib/pagination";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { renderCertificate } from "../services/commerce/license-certificate";
import { certificateFacts, getLicense, listLicenses } from "../services/commerce/licenses";

const TermsSchema = v.object({
  name: v.string(),
  summary: v.string(),
  permittedUses: v.array(v.string()),
  prohibitedUses: v.array(v.string()),
  printRunLimit: v.nullable(v.number()),
  digitalViewLimit: v.nullable(v.number()),
  merchandiseForResale: v.boolean(),
  commercialUse: v.boolean(),
});

const LicenseSchema = v.object({
  id: s.uuid,
  imageId: s.uuid,
  imageTitle: v.string(),
  thumbnailUrl: v.nullable(v.string()),
  licenseType: v.picklist(licenseType.enumValues),
  terms: TermsSchema,
  priceCents: v.number(),
  currency: v.string(),
  source: v.picklist(["order", "subscription"]),
  orderId: v.nullable(s.uuid),
  issuedAt: v.string(),
  revokedAt: v.nullable(v.string()),
  revokedReason: v.nullable(v.string()),
  certificateUrl: v.string(),
  downloadUrl: v.string(),
});

const ListQuery = v.strictObject({
  ...s.pageQuery,
  imageId: v.optional(s.uuid),
  status: v.optional(v.picklist(["active", "revoked"], "must be active or revoked")),
});

const access = ["buyer"] as const;

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
      responses: { 200: { description: "A page of licenses", schema: v.object({ items: v.array(LicenseSchema), nextCursor: v.nullable(v.string()) }) } },
    }),
    input("query", ListQuery),
    async (c) => {
      const { limit, cursor, imageId, status } = c.req.valid("query");
      const result = await listLicenses(c.var.db, caller(c).userId, { imageId, status }, limit, cursor ? decodeCursor(cursor) : undefined, c.var.config.DERIVATIVES_PUBLIC_URL);
      return c.json(result);
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
    async (c) => c.json(await getLicense(c.var.db, caller(c).userId, c.req.valid("param").id, c.var.config.DERIVATIVES_PUBLIC_URL)),
  )
  .get(
    "/:id/certificate",
    spec({
      summary: "A printable license certificate (HTML)",
      description: "Licensee, image, contributor, license type and full terms, issue date, price and order; a revoked license says so prominently.",
      tags: ["licenses"],
      access,
      apiKeyScope: "licenses:read",
      responses: { 200: { description: "text/html certificate, shown inline" } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      const { id } = c.req.valid("param");
      const facts = await certificateFacts(c.var.db, caller(c).userId, id, c.var.config.DERIVATIVES_PUBLIC_URL);
      const page = await renderCertificate(facts);
      return c.body(page.toString(), 200, {
        "content-type": "text/html; charset=utf-8",
        "content-disposition": `inline; filename="edgestock-license-${id}.html"`,
        "cache-control": "private, no-store",
      });
    },
  );
