import type { RouterRoute } from "hono/types";

const patterns = new WeakMap<RouterRoute[], Array<{ method: string; regex: RegExp }>>();

function compile(routes: RouterRoute[]) {
  let compiled = patterns.get(routes);
  if (!compiled) {
    compiled = routes
      .filter((r) => r.method !== "ALL")
      .map((r) => ({
        method: r.method,
        // Exact match, trailing slash included: the router is strict, so "/me/" is not "/me".
        regex: new RegExp(
          `^${r.path
            .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
            .replace(/:[^/]+/g, "[^/]+")
            .replace(/\*/g, ".*")}$`,
        ),
      }));
    patterns.set(routes, compiled);
  }
  return compiled;
}

/** Methods some route accepts at this path: a non-empty answer turns a 404 into a 405. */
export function allowedMethods(routes: RouterRoute[], path: string): string[] {
  const methods = new Set(
    compile(routes)
      .filter((r) => r.regex.test(path))
      .map((r) => r.method),
  );
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}
