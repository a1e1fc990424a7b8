/** A request's parameters: strings from a form or query, any JSON value from a JSON body. */
export type Params = { [key: string]: unknown };

const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** `line_items[0][price_data][currency]` → `["line_items", "0", "price_data", "currency"]`; `expand[]` → `["expand", ""]`. */
function keyPath(key: string): string[] {
  const open = key.indexOf("[");
  if (open <= 0) return [key];
  const rest = [...key.slice(open).matchAll(/\[([^\]]*)\]/g)].map((match) => match[1] ?? "");
  return [key.slice(0, open), ...rest];
}

function assign(root: Params, path: string[], value: string): void {
  let node = root;
  path.forEach((segment, i) => {
    // `[]` appends: the next free index of this level.
    const key = segment === "" ? String(Object.keys(node).length) : segment;
    if (UNSAFE_KEYS.has(key)) return;
    if (i === path.length - 1) {
      node[key] = value;
      return;
    }
    const child = node[key];
    node = typeof child === "object" && child !== null ? (child as Params) : (node[key] = {});
  });
}

/** Objects whose keys are all 0, 1, 2... become arrays, recursively. */
function arraysFromIndexes(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value as Params).map(([key, child]) => [key, arraysFromIndexes(child)] as const);
  const indexed = entries.length > 0 && entries.every(([key]) => /^\d+$/.test(key));
  if (!indexed) return Object.fromEntries(entries);
  return entries.sort(([a], [b]) => Number(a) - Number(b)).map(([, child]) => child);
}

/**
 * Parses Stripe's form encoding (`application/x-www-form-urlencoded` with bracket notation) into
 * nested objects and arrays. Values stay strings; readers convert the ones the API types as integers.
 * @example parseStripeForm("metadata[order_id]=o1&expand[]=customer") // { metadata: { order_id: "o1" }, expand: ["customer"] }
 */
export function parseStripeForm(body: string): Params {
  const root: Params = {};
  for (const pair of body.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
    const key = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? "" : decode(pair.slice(eq + 1));
    assign(root, keyPath(key), value);
  }
  return arraysFromIndexes(root) as Params;
}
