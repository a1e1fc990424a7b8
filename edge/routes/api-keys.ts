import { Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { decodeCursor } from "../lib/pagination";
import { ALL_ROLES, caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { idempotent } from "../middleware/idempotency";
import { AUTH_LIMITS, rateLimit } from "../middleware/rate-limit";
import { ApiKeyPageSchema, ApiKeyRequestSchema, createApiKey, listApiKeys, NewApiKeySchema, RevokedApiKeySchema, revokeApiKey } from "../services/accounts/api-keys";

/** Programmatic access for buyers' systems. Keys are managed with an access token, never with a key. */
export const apiKeyRoutes = new Hono<AppEnv>()
  .post(
    "/",
    spec({
      summary: "Create an API key; the secret is in this response only",
      tags: ["api-keys"],
      access: ALL_ROLES,
      idempotent: true,
      responses: { 201: { description: "Created", schema: NewApiKeySchema } },
    }),
    input("json", ApiKeyRequestSchema),
    rateLimit(AUTH_LIMITS.perUser),
    idempotent({ redact: ["secret"] }),
    async (c) => {
      const created = await createApiKey(c.var.db, caller(c).userId, c.req.valid("json"), c.var.requestId);
      return c.json(created, 201, { location: `/v1/api-keys/${created.apiKey.id}` });
    },
  )
  .get(
    "/",
    spec({
      summary: "List your API keys, newest first",
      tags: ["api-keys"],
      access: ALL_ROLES,
      responses: { 200: { description: "A page of keys", schema: ApiKeyPageSchema } },
    }),
    input("query", v.strictObject(s.pageQuery)),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      return c.json(await listApiKeys(c.var.db, caller(c).userId, limit, cursor ? decodeCursor(cursor) : undefined));
    },
  )
  .delete(
    "/:id",
    spec({
      summary: "Revoke an API key (idempotent)",
      tags: ["api-keys"],
      access: ALL_ROLES,
      responses: { 200: { description: "The revoked key", schema: RevokedApiKeySchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    rateLimit(AUTH_LIMITS.perUser),
    async (c) => c.json(await revokeApiKey(c.var.db, caller(c).userId, c.req.valid("param").id, c.var.requestId)),
  );
