import { toJsonSchema } from "@valibot/to-json-schema";
import type { RouterRoute } from "hono/types";
import * as v from "valibot";
import { PROBLEM_BASE_URI, PROBLEMS } from "../../common/problems";
import { INPUT, type InputMiddleware, SPEC, type SpecMiddleware } from "./route";

type JsonSchema = Record<string, unknown>;

/** A JSON Schema (generated from a valibot schema): open-ended, so any members. */
const JsonSchemaSchema = v.record(v.string(), v.unknown());
const ContentSchema = v.record(v.string(), v.object({ schema: JsonSchemaSchema }));

const OperationDocSchema = v.object({
  operationId: v.string(),
  summary: v.string(),
  description: v.string(),
  tags: v.array(v.string()),
  "x-access": v.union([v.literal("public"), v.array(v.string())]),
  security: v.array(v.record(v.string(), v.array(v.string()))),
  parameters: v.optional(v.array(v.object({ name: v.string(), in: v.string(), required: v.boolean(), description: v.optional(v.string()), schema: JsonSchemaSchema }))),
  requestBody: v.optional(v.object({ required: v.boolean(), content: ContentSchema })),
  responses: v.record(v.string(), v.union([v.object({ description: v.string(), content: v.optional(ContentSchema) }), v.object({ $ref: v.string() })])),
});
export type OperationDoc = v.InferOutput<typeof OperationDocSchema>;

/** The OpenAPI 3.1 document GET /v1/openapi.json serves (and docs/openapi.json holds). */
export const OpenApiDocumentSchema = v.object({
  openapi: v.literal("3.1.0"),
  info: v.object({ title: v.string(), version: v.string(), description: v.string() }),
  servers: v.array(v.object({ url: v.string() })),
  paths: v.record(v.string(), v.record(v.string(), OperationDocSchema)),
  components: v.object({ securitySchemes: v.record(v.string(), JsonSchemaSchema), responses: v.record(v.string(), JsonSchemaSchema) }),
});
export type OpenApiDocument = v.InferOutput<typeof OpenApiDocumentSchema>;

function jsonSchema(schema: v.GenericSchema): JsonSchema {
  const { $schema: _ignored, ...rest } = toJsonSchema(schema, { target: "draft-2020-12", typeMode: "input", errorMode: "ignore" }) as JsonSchema;
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

/** The OpenAPI 3.1 document, generated from the same valibot schemas that validate requests. */
export function buildOpenApi(routes: RouterRoute[], serverUrl: string): OpenApiDocument {
  const paths: Record<string, Record<string, OperationDoc>> = {};
  for (const op of collectOperations(routes)) {
    if (!op.spec) continue;
    const { spec } = op;
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
      responses[status] = {
        description: response.description,
        ...(response.schema ? { content: { "application/json": { schema: jsonSchema(response.schema) } } } : {}),
      };
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
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
        apiKey: { type: "apiKey", in: "header", name: "X-Api-Key" },
      },
      responses: {
        Problem: {
          description: "An RFC 9457 problem",
          content: {
            "application/problem+json": {
              schema: {
                type: "object",
                required: ["type", "title", "status", "requestId"],
                properties: {
                  type: { type: "string", format: "uri" },
                  title: { type: "string" },
                  status: { type: "integer" },
                  detail: { type: "string" },
                  instance: { type: "string" },
                  requestId: { type: "string" },
                  errors: { type: "array", items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } } },
                },
              },
            },
          },
        },
      },
    },
  };
}
