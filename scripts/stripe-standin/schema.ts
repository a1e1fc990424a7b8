/**
 * The stand-in held to Stripe's own OpenAPI schema (schema/stripe-<version>.json, extracted by
 * extract-schema.ts): requests with parameters the schema does not list are refused as Stripe
 * refuses them, and `schemaErrors` checks a response body against the schema (the schema test).
 *
 * The validator is small on purpose: Stripe's spec is OpenAPI 3.0 (`nullable`, `x-*` notes,
 * `format: unix-time`), which JSON-schema validators need extra options and vocabularies for; the
 * handful of keywords the extracted file keeps are checked here in full.
 */
import { readFileSync } from "node:fs";
import { STANDIN_ENDPOINTS } from "./endpoints";
import { StripeApiError } from "./errors";
import type { Params } from "./form";

export type Schema = {
  $ref?: string;
  type?: "string" | "integer" | "number" | "boolean" | "array" | "object";
  nullable?: boolean;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  additionalProperties?: boolean | Schema;
  title?: string;
};

export type Operation = { query: Record<string, Schema>; body: Schema | null; response: Schema };

export type StripeSchema = {
  source: { repository: string; commit: string; path: string; apiVersion: string; licence: string };
  operations: Record<string, Operation>;
  schemas: Record<string, Schema>;
};

/** The extracted schema file the stand-in is held to. */
export const SCHEMA_FILE = new URL("./schema/stripe-2023-08-16.json", import.meta.url);

let loaded: StripeSchema | undefined;

export function stripeSchema(): StripeSchema {
  loaded ??= JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as StripeSchema;
  return loaded;
}

function resolve(schema: Schema, spec: StripeSchema): Schema {
  let current = schema;
  while (current.$ref) {
    const name = current.$ref.replace("#/components/schemas/", "");
    const target = spec.schemas[name];
    if (!target) throw new Error(`schema ${name} is not in ${SCHEMA_FILE.pathname}`);
    current = target;
  }
  return current;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/**
 * Every way `value` breaks `schema` (empty when it conforms), each as `path: problem`: a required
 * field missing, a wrong type, a null where the schema does not allow one, a value outside an enum.
 * Fields the schema does not name are allowed (Stripe adds fields within an API version).
 */
export function schemaErrors(schema: Schema, value: unknown, path = "$", spec = stripeSchema()): string[] {
  const s = resolve(schema, spec);
  if (value === null) return s.nullable ? [] : [`${path}: is null, which the schema does not allow`];
  const errors: string[] = [];
  if (s.anyOf || s.oneOf) {
    const options = (s.anyOf ?? s.oneOf) as Schema[];
    const results = options.map((option) => schemaErrors(option, value, path, spec));
    if (!results.some((result) => result.length === 0)) {
      const best = results.reduce((a, b) => (b.length < a.length ? b : a));
      errors.push(`${path}: matches none of ${options.length} alternatives; nearest: ${best.join("; ")}`);
    }
  }
  for (const part of s.allOf ?? []) errors.push(...schemaErrors(part, value, path, spec));
  const actual = typeOf(value);
  if (s.type && actual !== s.type && !(s.type === "number" && actual === "integer")) {
    return [...errors, `${path}: is ${actual}, the schema says ${s.type}`];
  }
  if (s.enum && !s.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if (actual === "array" && s.items) {
    (value as unknown[]).forEach((item, i) => {
      errors.push(...schemaErrors(s.items as Schema, item, `${path}[${i}]`, spec));
    });
  }
  if (actual === "object") {
    const object = value as Record<string, unknown>;
    for (const name of s.required ?? []) if (!(name in object)) errors.push(`${path}.${name}: required by the schema but missing`);
    for (const [name, child] of Object.entries(object)) {
      const property = s.properties?.[name];
      if (property) errors.push(...schemaErrors(property, child, `${path}.${name}`, spec));
      else if (typeof s.additionalProperties === "object") errors.push(...schemaErrors(s.additionalProperties, child, `${path}.${name}`, spec));
    }
  }
  return errors;
}

/** The operation (`POST /v1/customers`) serving `method` on `path` (`/v1/customers/cus_1`), if the stand-in serves it. */
export function operationFor(method: string, path: string): string | undefined {
  const endpoint = STANDIN_ENDPOINTS.find((candidate) => candidate.method === method && new RegExp(`^${candidate.path.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(path));
  // A literal path (`/v1/transfers`) wins over a template that also matches it: none here do both.
  return endpoint && `${endpoint.method} ${endpoint.path}`;
}

/** The first parameter in `value` the schema does not know, as Stripe names it (`line_items[0][colour]`). */
function unknownIn(schema: Schema | undefined, value: unknown, name: string, spec: StripeSchema): string | undefined {
  if (!schema || typeof value !== "object" || value === null) return undefined;
  const s = resolve(schema, spec);
  const options = s.anyOf ?? s.oneOf;
  if (options) {
    // A parameter may take one of several shapes: it is unknown only if every shape refuses it.
    const found = options.map((option) => unknownIn(option, value, name, spec));
    return found.every((result) => result !== undefined) ? found[0] : undefined;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const unknown = unknownIn(s.items, item, `${name}[${i}]`, spec);
      if (unknown) return unknown;
    }
    return undefined;
  }
  if (!s.properties) return undefined;
  for (const [key, child] of Object.entries(value as Params)) {
    const property = s.properties[key];
    const childName = name ? `${name}[${key}]` : key;
    if (!property) {
      if (s.additionalProperties) continue;
      return childName;
    }
    const unknown = unknownIn(property, child, childName, spec);
    if (unknown) return unknown;
  }
  return undefined;
}

/** Stripe's 400 for a parameter it does not know: `parameter_unknown`, naming it. */
export function unknownParam(param: string): StripeApiError {
  return new StripeApiError(400, "invalid_request_error", `Received unknown parameter: ${param}`, "parameter_unknown", param);
}

/** Refuses, as Stripe does, a request to `operation` carrying a parameter the schema does not list for it. */
export function checkParams(operation: string, params: Params, spec = stripeSchema()): void {
  const op = spec.operations[operation];
  if (!op) return;
  const schema: Schema = { type: "object", properties: { ...op.query, ...(op.body?.properties ?? {}) } };
  const unknown = unknownIn(schema, params, "", spec);
  if (unknown) throw unknownParam(unknown);
}
