/**
 * Extracts, from Stripe's published OpenAPI spec (github.com/stripe/openapi, MIT), the part the
 * stand-in is held to: the request parameters and response schemas of the endpoints it serves, and
 * the component schemas those responses use. Writes scripts/stripe-standin/schema/stripe-<version>.json.
 *
 * Usage: npx tsx scripts/stripe-standin/extract-schema.ts <spec3.json> <stripe/openapi commit> [<path in that repository>]
 * (see scripts/stripe-standin/README.md for where the spec comes from).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { STANDIN_ENDPOINTS } from "./endpoints";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The keywords the schema test validates with; descriptions and Stripe's x-* notes are dropped to keep the file small. */
const KEPT = new Set(["type", "nullable", "enum", "properties", "required", "items", "anyOf", "oneOf", "allOf", "additionalProperties", "$ref", "format", "title", "x-resourceId"]);
/** Keys whose value is a map of names to schemas (the names are data, not keywords). */
const SCHEMA_MAPS = new Set(["properties"]);

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The API resources the stand-in returns (and so is held to). A reference to any other resource
 * (say a charge's `balance_transaction`, expanded) becomes a bare object: the stand-in never returns
 * those expanded, and following them would pull in most of the spec.
 */
export const STANDIN_RESOURCES = new Set([
  "account",
  "account_link",
  "charge",
  "checkout.session",
  "customer",
  "dispute",
  "event",
  "invoice",
  "item",
  "line_item",
  "payment_intent",
  "price",
  "product",
  "refund",
  "subscription",
  "subscription_item",
  "transfer",
]);

/** `schema` with only the kept keywords, and every component it refers to added to `wanted`. */
function trim(schema: Json, wanted: Set<string>, components: JsonObject): Json {
  if (Array.isArray(schema)) return schema.map((item) => trim(item, wanted, components));
  if (!isObject(schema)) return schema;
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace("#/components/schemas/", "");
    const target = components[name];
    if (isObject(target) && typeof target["x-resourceId"] === "string" && !STANDIN_RESOURCES.has(name)) {
      return { type: "object", title: `${name} (not extracted: the stand-in does not return it)` };
    }
    wanted.add(name);
    return { $ref: schema.$ref };
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!KEPT.has(key)) continue;
    if (SCHEMA_MAPS.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, trim(child, wanted, components)]));
    } else if (key === "enum" || key === "required") {
      out[key] = value;
    } else {
      out[key] = trim(value, wanted, components);
    }
  }
  return out;
}

export function extract(spec: JsonObject, source: { repository: string; commit: string; path: string }): JsonObject {
  const paths = spec.paths as JsonObject;
  const components = (spec.components as JsonObject).schemas as JsonObject;
  const wanted = new Set<string>();
  const operations: JsonObject = {};
  for (const { method, path } of STANDIN_ENDPOINTS) {
    const operation = (paths[path] as JsonObject | undefined)?.[method.toLowerCase()];
    if (!isObject(operation)) throw new Error(`the spec has no ${method} ${path}`);
    const query = ((operation.parameters as JsonObject[] | undefined) ?? []).filter((parameter) => parameter.in === "query");
    const content = isObject(operation.requestBody) ? (operation.requestBody.content as JsonObject) : {};
    const form = content["application/x-www-form-urlencoded"];
    const responses = operation.responses as JsonObject;
    const ok = (responses["200"] as JsonObject).content as JsonObject;
    operations[`${method} ${path}`] = {
      query: Object.fromEntries(query.map((parameter) => [parameter.name as string, trim(parameter.schema ?? {}, wanted, components)])),
      body: isObject(form) ? trim(form.schema ?? {}, wanted, components) : null,
      response: trim((ok["application/json"] as JsonObject).schema ?? {}, wanted, components),
    };
  }
  // The closure of the referenced components (a component refers to others; those come too).
  const schemas: JsonObject = {};
  const queue = [...wanted];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (name in schemas) continue;
    const component = components[name];
    if (component === undefined) throw new Error(`the spec has no component ${name}`);
    const more = new Set<string>();
    schemas[name] = trim(component, more, components);
    queue.push(...[...more].filter((next) => !(next in schemas)));
  }
  const info = spec.info as JsonObject;
  return {
    source: { ...source, apiVersion: info.version as string, licence: "MIT (Copyright Stripe, Inc.)" },
    operations,
    schemas: Object.fromEntries(
      Object.keys(schemas)
        .sort()
        .map((name) => [name, schemas[name] as Json]),
    ),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [specPath, commit, pathInRepo = "openapi/spec3.json"] = process.argv.slice(2);
  if (!specPath || !commit || !/^[0-9a-f]{7,40}$/.test(commit)) {
    console.error("usage: npx tsx scripts/stripe-standin/extract-schema.ts <spec3.json> <stripe/openapi commit> [<path in that repository>]");
    process.exit(2);
  }
  const spec = JSON.parse(readFileSync(specPath, "utf8")) as JsonObject;
  const extracted = extract(spec, { repository: "https://github.com/stripe/openapi", commit, path: pathInRepo });
  const version = (extracted.source as JsonObject).apiVersion as string;
  const out = join(dirname(fileURLToPath(import.meta.url)), "schema", `stripe-${version}.json`);
  writeFileSync(out, `${JSON.stringify(extracted, null, 2)}\n`);
  // In the layout `npm run lint` (biome) expects, so regenerating gives a clean diff.
  execFileSync("npx", ["biome", "format", "--write", out], { stdio: "inherit" });
  console.log(`wrote ${out}: ${Object.keys(extracted.operations as JsonObject).length} operations, ${Object.keys(extracted.schemas as JsonObject).length} schemas`);
}
