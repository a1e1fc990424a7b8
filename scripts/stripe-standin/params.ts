import { invalidParam, missingParam } from "./errors";
import type { Params } from "./form";

/** `name` inside `prefix` the way Stripe names nested params: `line_items[0][quantity]`. */
export function paramName(prefix: string, name: string): string {
  return prefix ? `${prefix}[${name}]` : name;
}

/** An optional string parameter (an empty string counts as absent, as in Stripe's form encoding). */
export function optionalString(params: Params, name: string, prefix = ""): string | undefined {
  const value = params[name];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "object") throw invalidParam(paramName(prefix, name), `Invalid string: ${paramName(prefix, name)} must be a string.`);
  return String(value);
}

/** A required string parameter. */
export function requiredString(params: Params, name: string, prefix = ""): string {
  const value = optionalString(params, name, prefix);
  if (value === undefined) throw missingParam(paramName(prefix, name));
  return value;
}

/** An optional string parameter restricted to `allowed`. */
export function optionalEnum<T extends string>(params: Params, name: string, allowed: readonly T[], prefix = ""): T | undefined {
  const value = optionalString(params, name, prefix);
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalidParam(paramName(prefix, name), `Invalid ${paramName(prefix, name)}: must be one of ${allowed.join(", ")}`);
  }
  return value as T;
}

/** A required string parameter restricted to `allowed`. */
export function requiredEnum<T extends string>(params: Params, name: string, allowed: readonly T[], prefix = ""): T {
  const value = optionalEnum(params, name, allowed, prefix);
  if (value === undefined) throw missingParam(paramName(prefix, name));
  return value;
}

/** An optional non-negative integer parameter (form values arrive as strings). */
export function optionalInteger(params: Params, name: string, prefix = ""): number | undefined {
  const value = optionalString(params, name, prefix);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw invalidParam(paramName(prefix, name), `Invalid integer: ${value}`, "parameter_invalid_integer");
  return Number(value);
}

/** A required non-negative integer parameter. */
export function requiredInteger(params: Params, name: string, prefix = ""): number {
  const value = optionalInteger(params, name, prefix);
  if (value === undefined) throw missingParam(paramName(prefix, name));
  return value;
}

/** An optional hash parameter. */
export function optionalHash(params: Params, name: string, prefix = ""): Params | undefined {
  const value = params[name];
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidParam(paramName(prefix, name), `Invalid object: ${paramName(prefix, name)} must be a hash.`);
  }
  return value as Params;
}

/** An optional array parameter (`name[0]=...` or `name[]=...`). */
export function optionalArray(params: Params, name: string, prefix = ""): unknown[] | undefined {
  const value = params[name];
  if (value === undefined || value === "") return undefined;
  if (!Array.isArray(value)) throw invalidParam(paramName(prefix, name), `Invalid array: ${paramName(prefix, name)} must be an array.`);
  return value;
}

/** An optional boolean parameter (`true`/`false` as strings or JSON booleans). */
export function optionalBoolean(params: Params, name: string, prefix = ""): boolean | undefined {
  const value = optionalString(params, name, prefix);
  if (value === undefined) return undefined;
  if (value !== "true" && value !== "false") throw invalidParam(paramName(prefix, name), `Invalid boolean: ${value}`);
  return value === "true";
}

/** The `metadata` hash: string keys to string values; keys set to "" are dropped. */
export function metadataParam(params: Params, prefix = "", name = "metadata"): Record<string, string> {
  const hash = optionalHash(params, name, prefix) ?? {};
  const metadata: Record<string, string> = {};
  for (const key of Object.keys(hash)) {
    const value = optionalString(hash, key, paramName(prefix, name));
    if (value !== undefined) metadata[key] = value;
  }
  return metadata;
}

/** The `expand` list, as dotted paths. */
export function expandParam(params: Params): string[] {
  return (optionalArray(params, "expand") ?? []).map(String);
}
