import { findAnyObject, type StandinState } from "./state";

function expandAt(state: StandinState, node: unknown, path: string[]): unknown {
  if (path.length === 0) return node;
  if (Array.isArray(node)) return node.map((item) => expandAt(state, item, path));
  if (typeof node !== "object" || node === null) return node;
  const [field, ...rest] = path as [string, ...string[]];
  const record = node as Record<string, unknown>;
  const value = record[field];
  const expanded = typeof value === "string" ? (structuredClone(findAnyObject(state, value)) ?? value) : value;
  record[field] = expandAt(state, expanded, rest);
  return record;
}

/**
 * A copy of `object` with the ids that the `expand` paths name replaced by the objects
 * (https://docs.stripe.com/expand): `customer`, `payment_intent.latest_charge`, `data.destination`.
 * Ids the stand-in does not know stay ids.
 */
export function expandObject<T>(state: StandinState, object: T, paths: string[]): T {
  const copy = structuredClone(object);
  for (const path of paths) expandAt(state, copy, path.split("."));
  return copy;
}
