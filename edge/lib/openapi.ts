import { toJsonSchema } from "@valibot/to-json-schema";
import type { RouterRoute } from "hono/types";
import * as v from "valibot";
import { PROBLEM_BASE_URI, PROBLEMS } from "../../common/problems";
import { INPUT, type InputMiddleware, type RouteSpec, SPEC, type SpecMiddleware } from "./route";

type JsonSchema = Record<string, unknown>;

/** A JSON Schema (generated from a valibot schema): open-ended, so any members. */
const JsonSchemaSchema = v.record(v.string(), v.unknown());
const ContentSchema = v.record(v.string(), v.object({ schema: JsonSchemaSchema }));

const ParameterDocSchema = v.object({ name: v.string(), in: v.string(), required: v.boolean(), description: v.optional(v.string()), schema: JsonSchemaSchema });
const ResponseDocSchema = v.union([v.object({ description: v.string(), content: v.optional(ContentSchema) }), v.object({ $ref: v.string() })]);

const OperationDocSchema = v.object({
  operationId: v.string(),
  summary: v.string(),
  description: v.string(),
  tags: v.array(v.string()),
  "x-access": v.union([v.literal("public"), v.array(v.string())]),
  security: v.array(v.record(v.string(), v.array(v.string()))),
  parameters: v.optional(v.array(ParameterDocSchema)),
  requestBody: v.optional(v.object({ required: v.boolean(), description: v.optional(v.string()), content: ContentSchema })),
  responses: v.record(v.string(), ResponseDocSchema),
});
export type OperationDoc = v.InferOutput<typeof OperationDocSchema>;

/** The OpenAPI 3.1 document GET /v1/openapi.json serves (and docs/openapi.json holds). */
export const OpenApiDocumentSchema = v.object({
  openapi: v.literal("3.1.0"),
  info: v.object({
    title: v.string(),
    version: v.string(),
    description: v.string(),
    contact: v.object({ name: v.string(), url: v.string() }),
    license: v.object({ name: v.string(), url: v.string() }),
  }),
  servers: v.array(v.object({ url: v.string() })),
  tags: v.array(v.object({ name: v.string(), description: v.string() })),
  paths: v.record(v.string(), v.record(v.string(), OperationDocSchema)),
  components: v.object({
    securitySchemes: v.record(v.string(), JsonSchemaSchema),
    schemas: v.record(v.string(), JsonSchemaSchema),
    responses: v.record(v.string(), JsonSchemaSchema),
  }),
});
export type OpenApiDocument = v.InferOutput<typeof OpenApiDocumentSchema>;

/** A valibot schema or pipe item, read as the plain object it is (only the members the conversion looks at). */
type Node = {
  kind: string;
  type: string;
  pipe?: Node[];
  entries?: Record<string, Node>;
  wrapped?: Node;
  item?: Node;
  options?: unknown[];
  key?: Node;
  value?: Node;
  items?: Node[];
  default?: unknown;
  requirement?: unknown;
};

const flatten = (pipe: Node[]): Node[] => pipe.flatMap((item) => (item.pipe ? flatten(item.pipe) : [item]));
const CONTAINERS_OF_SCHEMAS = new Set(["union", "variant", "intersect"]);

/**
 * What a client sends, as the document should describe it. @valibot/to-json-schema (typeMode
 * "input") stops reading a pipe at its first transformation, so the limits after it were lost:
 * `text()` trims and normalises before `minLength`/`maxLength`, and the numeric query strings
 * (`perPage`, `minWidth`, ...) become numbers before `minValue`/`maxValue`. This copy drops the
 * string-to-string transformations (the limits then apply as written, which is what a client must
 * respect), and declares a digits-only string that a transformation turns into a number as the
 * integer it is (`type: integer` with its bounds; on the wire a query value is text either way).
 * Only the conversion reads the copy; requests are still parsed by the original.
 */
function documented(node: Node): { node: Node; integer: boolean } {
  if (node.pipe) {
    const [base, ...actions] = flatten(node.pipe);
    if (!base) return { node, integer: false };
    const digits = actions.find((a) => a.type === "regex" && a.requirement instanceof RegExp && /^\^\\d\{1,(\d)\}\$$/.test(a.requirement.source));
    const toNumber = actions.some((a) => a.kind === "transformation" && (a.type === "transform" || a.type === "to_number"));
    if (base.type === "string" && digits && toNumber) {
      const width = Number((digits.requirement as RegExp).source.match(/\{1,(\d)\}/)?.[1]);
      const bounds = actions.filter((a) => a.type === "min_value" || a.type === "max_value" || a.type === "integer");
      const pipe: Node[] = [v.number() as unknown as Node, v.integer() as unknown as Node];
      if (!bounds.some((a) => a.type === "min_value")) pipe.push(v.minValue(0) as unknown as Node);
      pipe.push(...bounds.filter((a) => a.type !== "integer"));
      if (!bounds.some((a) => a.type === "max_value")) pipe.push(v.maxValue(10 ** width - 1) as unknown as Node);
      return { node: { ...node, type: "number", pipe }, integer: true };
    }
    return { node: { ...node, pipe: [documented(base).node, ...actions.filter((a) => a.kind !== "transformation")] }, integer: false };
  }
  if (node.entries) return { node: { ...node, entries: Object.fromEntries(Object.entries(node.entries).map(([k, e]) => [k, documented(e).node])) }, integer: false };
  if (node.wrapped) {
    const inner = documented(node.wrapped);
    const copy: Node = { ...node, wrapped: inner.node };
    if (inner.integer && typeof node.default === "string") copy.default = Number(node.default);
    return { node: copy, integer: inner.integer };
  }
  if (node.item) return { node: { ...node, item: documented(node.item).node }, integer: false };
  if (node.type === "record" && node.key && node.value) return { node: { ...node, key: documented(node.key).node, value: documented(node.value).node }, integer: false };
  if (node.type === "tuple" && node.items) return { node: { ...node, items: node.items.map((i) => documented(i).node) }, integer: false };
  if (CONTAINERS_OF_SCHEMAS.has(node.type) && node.options) return { node: { ...node, options: (node.options as Node[]).map((o) => documented(o).node) }, integer: false };
  return { node, integer: false };
}

function jsonSchema(schema: v.GenericSchema): JsonSchema {
  const copy = documented(schema as unknown as Node).node as unknown as v.GenericSchema;
  const { $schema: _ignored, ...rest } = toJsonSchema(copy, { target: "draft-2020-12", typeMode: "input", errorMode: "ignore" }) as JsonSchema;
  return rest;
}

/** One operation as found in `app.routes`: its spec and its input validators. */
export type Operation = { method: string; path: string; spec: SpecMiddleware[typeof SPEC] | undefined; inputs: InputMiddleware[typeof INPUT][] };

/** Groups Hono's flat route list (one entry per handler) into operations. */
export function collectOperations(routes: RouterRoute[]): Operation[] {
  const byKey = new Map<string, Operation>();
  for (const route of routes) {
    // The API is everything under /v1; the web app's pages have their own walk (test/edge/pages.test.ts).
    if (route.method === "ALL" || !route.path.startsWith("/v1")) continue;
    const key = `${route.method} ${route.path}`;
    let op = byKey.get(key);
    if (!op) {
      op = { method: route.method, path: route.path, spec: undefined, inputs: [] };
      byKey.set(key, op);
    }
    const handler = route.handler as Partial<SpecMiddleware & InputMiddleware>;
    if (handler[SPEC]) op.spec = handler[SPEC];
    if (handler[INPUT]) op.inputs.push(handler[INPUT]);
  }
  return [...byKey.values()];
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

/** Every tag a route may use, with what it groups: the document lists them, and a route with another tag fails the build of the document. */
export const TAGS: Record<string, string> = {
  auth: "Accounts, sign-in and sessions: access tokens (JWT) and rotating refresh tokens",
  "api-keys": "API keys for server-to-server calls, scoped and revocable",
  uploads: "Contributor uploads: presigned single or multipart upload URLs, completion and cancelling",
  images: "Image pages, edits, similar images, processing status and the public renditions (thumbnails, previews)",
  search: "Keyword, semantic and hybrid search, search by image and autocomplete",
  cart: "The buyer's cart of image licences",
  commerce: "Checkout (Stripe), orders, subscriptions and downloads of licensed originals",
  licenses: "Licences a buyer holds and their printable certificates",
  collections: "Boards of images (lightboxes): private, reorderable, shared read-only by a revocable link, licensed in one go",
  contributor: "A contributor's portfolio, earnings, payouts and payout settings",
  admin: "Moderation, takedowns, reprocessing, prices, payouts and the audit log",
  webhooks: "Events from Stripe",
  docs: "This document and its HTML reference",
  ops: "Health of the service and its dependencies",
};

const PROBLEM_REF = { $ref: "#/components/schemas/Problem" };
const problemContent = () => ({ "application/problem+json": { schema: PROBLEM_REF } });

/**
 * The errors every route of a kind can answer, whatever its spec lists: spec() refuses a missing or
 * wrong principal (401/403; on a public route, credentials that do not verify) and a key without the
 * route's scope (403); input() refuses what does not
 * parse (422) and a JSON body that is not JSON (400, 415). Added where the spec does not name them.
 */
function impliedErrors(spec: RouteSpec, inputs: Operation["inputs"]): Record<number, string> {
  const errors: Record<number, string> = {};
  if (spec.access !== "public") {
    errors[401] = "Not signed in, or the token is invalid or expired (unauthenticated, invalid-token)";
    errors[403] = spec.apiKeyScope
      ? `Your role may not call this route, or the API key lacks the \`${spec.apiKeyScope}\` scope (forbidden, insufficient-scope)`
      : "Your role may not call this route, or it was called with an API key (forbidden, insufficient-scope)";
  } else {
    // A public route serves anyone, but credentials that are sent are checked.
    errors[401] = "Credentials were sent and do not verify: a malformed or expired token, an unknown or revoked API key (invalid-token)";
    if (spec.apiKeyScope) errors[403] = `The API key lacks the \`${spec.apiKeyScope}\` scope (insufficient-scope)`;
  }
  if (inputs.some((i) => i.target === "json")) {
    errors[400] = "The body is not well-formed JSON (invalid-json)";
    errors[415] = "The body is not sent as application/json (unsupported-media-type)";
  }
  if (inputs.length > 0) errors[422] = "The request does not pass validation; `errors` lists each issue (validation-failed)";
  return errors;
}

/** The OpenAPI 3.1 document, generated from the same valibot schemas that validate requests. */
export function buildOpenApi(routes: RouterRoute[], serverUrl: string): OpenApiDocument {
  const paths: Record<string, Record<string, OperationDoc>> = {};
  for (const op of collectOperations(routes)) {
    if (!op.spec) continue;
    const { spec } = op;
    for (const tag of spec.tags) if (!(tag in TAGS)) throw new Error(`${op.method} ${op.path}: tag "${tag}" is not in TAGS (edge/lib/openapi.ts); describe it there`);
    const parameters: NonNullable<OperationDoc["parameters"]> = [];
    let requestBody: OperationDoc["requestBody"];
    for (const { target, schema } of op.inputs) {
      const js = jsonSchema(schema);
      if (target === "json") {
        requestBody = { required: true, content: { "application/json": { schema: js } } };
        continue;
      }
      const location = target === "param" ? "path" : target;
      const properties = (js.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((js.required ?? []) as string[]);
      for (const [name, schema] of Object.entries(properties)) {
        parameters.push({ name, in: location, required: location === "path" || required.has(name), schema });
      }
    }
    for (const header of spec.headers ?? []) parameters.push({ ...header, in: "header" });
    if (spec.requestBody) {
      requestBody = {
        required: true,
        description: spec.requestBody.description,
        content: Object.fromEntries(Object.entries(spec.requestBody.content).map(([type, schema]) => [type, { schema }])),
      };
    }
    if (spec.idempotent) {
      parameters.push({
        name: "Idempotency-Key",
        in: "header",
        required: false,
        description: "Retry-safe creation: the first response for a key is replayed for 24 h.",
        schema: { type: "string", maxLength: 255 },
      });
    }
    const responses: OperationDoc["responses"] = {};
    for (const [status, response] of Object.entries(spec.responses)) {
      const content = response.content
        ? Object.fromEntries(Object.entries(response.content).map(([type, schema]) => [type, { schema }]))
        : response.schema
          ? { "application/json": { schema: jsonSchema(response.schema) } }
          : Number(status) >= 400
            ? problemContent()
            : undefined;
      responses[status] = { description: response.description, ...(content ? { content } : {}) };
    }
    for (const [status, description] of Object.entries(impliedErrors(spec, op.inputs))) {
      responses[status] ??= { description, content: problemContent() };
    }
    responses.default = { $ref: "#/components/responses/Problem" };
    const access = spec.access === "public" ? "public" : spec.access.join(", ");
    const pathItem = (paths[openApiPath(op.path)] ??= {});
    pathItem[op.method.toLowerCase()] = {
      operationId: `${op.method.toLowerCase()}${openApiPath(op.path).replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ""))}`,
      summary: spec.summary,
      description: [spec.description, `Access: ${access}.`, spec.apiKeyScope ? `API keys need scope \`${spec.apiKeyScope}\`.` : ""].filter(Boolean).join(" "),
      tags: spec.tags,
      "x-access": spec.access === "public" ? "public" : [...spec.access],
      ...(spec.access === "public" ? { security: [] } : { security: [{ bearer: [] }, ...(spec.apiKeyScope ? [{ apiKey: [] }] : [])] }),
      ...(parameters.length ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Edgestock API",
      version: "1",
      description: `Errors are RFC 9457 problem documents; \`type\` is one of ${PROBLEM_BASE_URI}{${Object.keys(PROBLEMS).join(", ")}}.`,
      contact: { name: "Edgestock", url: serverUrl },
      license: { name: "Proprietary: the Edgestock terms of use", url: `${serverUrl}/licenses/terms` },
    },
    servers: [{ url: serverUrl }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
        apiKey: { type: "apiKey", in: "header", name: "X-Api-Key" },
      },
      schemas: {
        Problem: {
          type: "object",
          description: "An RFC 9457 problem document",
          required: ["type", "title", "status", "requestId"],
          properties: {
            type: { type: "string", format: "uri", enum: Object.keys(PROBLEMS).map((name) => `${PROBLEM_BASE_URI}${name}`) },
            title: { type: "string" },
            status: { type: "integer", minimum: 400, maximum: 599 },
            detail: { type: "string" },
            instance: { type: "string" },
            requestId: { type: "string" },
            errors: { type: "array", items: { type: "object", required: ["path", "message"], properties: { path: { type: "string" }, message: { type: "string" } } } },
          },
        },
      },
      responses: {
        Problem: { description: "An RFC 9457 problem", content: problemContent() },
      },
    },
  };
}
