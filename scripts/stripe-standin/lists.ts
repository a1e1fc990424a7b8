import { invalidParam } from "./errors";
import type { Params } from "./form";
import { listOf, type StripeList } from "./objects";
import { optionalInteger, optionalString } from "./params";

const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;

/**
 * One page of a list endpoint (https://docs.stripe.com/api/pagination): `limit` (1 to 100,
 * default 10) items after `starting_after`, with `has_more` telling whether more follow.
 * `items` are already in the list's order (newest first for Stripe's lists).
 */
export function paginate<T extends { id: string }>(items: T[], params: Params, url: string): StripeList<T> {
  const limit = optionalInteger(params, "limit") ?? DEFAULT_LIMIT;
  if (limit < 1 || limit > MAX_LIMIT) throw invalidParam("limit", `Invalid limit: must be between 1 and ${MAX_LIMIT}`);
  const after = optionalString(params, "starting_after");
  let start = 0;
  if (after) {
    const index = items.findIndex((item) => item.id === after);
    if (index === -1) throw invalidParam("starting_after", `No such object: '${after}'`, "resource_missing");
    start = index + 1;
  }
  return listOf(items.slice(start, start + limit), url, start + limit < items.length);
}
