/**
 * `npm run openapi`: writes docs/openapi.json, the document the Worker serves at GET /v1/openapi.json,
 * built by the same function (edge/lib/openapi.ts) from the app's route table (edge/app.ts), here under
 * Bun: the app is plain Hono and imports nothing from workerd (the local stand-ins are another entry).
 * Committed, so an API change shows in the diff of the change that made it.
 *
 * `npm run openapi -- --check [file]`: exits 1 with a summary of what differs when the committed file
 * (or `file`) is not what would be written; prints "openapi.json is current" otherwise.
 *
 * The server URL is PUBLIC_APP_URL from wrangler.toml's [vars] (the committed configuration), never the
 * environment or .dev.vars, so the file is the same on every machine.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const check = args.includes("--check");
const target = resolve(root, args.find((arg) => !arg.startsWith("--")) ?? "docs/openapi.json");
const shown = relative(root, target);

type Document = { paths?: Record<string, Record<string, unknown>> } & Record<string, unknown>;

// The edge compiles in its own project (edge/tsconfig.json, with the Workers types); a literal import here
// would pull it into the root project, which has Node's types instead. Bun loads it either way.
const EDGE_APP = "../edge/app";
const EDGE_OPENAPI = "../edge/lib/openapi";
type RouteTable = { app: { routes: unknown[] } };
type OpenApiBuilder = { buildOpenApi(routes: unknown[], serverUrl: string): Document };

async function currentDocument(): Promise<Document> {
  let app: RouteTable["app"];
  try {
    ({ app } = (await import(EDGE_APP)) as RouteTable);
  } catch (error) {
    throw new Error(`edge/app.ts could not be loaded outside workerd (it must not import cloudflare: modules; the local stand-ins belong in edge/local.ts): ${error}`);
  }
  const { buildOpenApi } = (await import(EDGE_OPENAPI)) as OpenApiBuilder;
  const vars = (Bun.TOML.parse(readFileSync(resolve(root, "wrangler.toml"), "utf8")) as { vars?: Record<string, string> }).vars ?? {};
  if (!vars.PUBLIC_APP_URL) throw new Error("wrangler.toml has no PUBLIC_APP_URL in [vars]");
  // The route serves the configured origin, without a path (edge/routes/docs.ts).
  return buildOpenApi(app.routes, new URL(vars.PUBLIC_APP_URL).origin);
}

/** What differs between two documents, one line per operation added, removed or changed, then other keys. */
function differences(before: Document, after: Document): string[] {
  const operations = (doc: Document) =>
    new Map(
      Object.entries(doc.paths ?? {}).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => [`${method.toUpperCase()} ${path}`, JSON.stringify(op)] as const)),
    );
  const was = operations(before);
  const now = operations(after);
  const lines: string[] = [];
  for (const [key, op] of now) {
    if (!was.has(key)) lines.push(`+ ${key} (new in the routes)`);
    else if (was.get(key) !== op) lines.push(`~ ${key} (changed)`);
  }
  for (const key of was.keys()) if (!now.has(key)) lines.push(`- ${key} (no longer in the routes)`);
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key !== "paths" && JSON.stringify(before[key]) !== JSON.stringify(after[key])) lines.push(`~ ${key}`);
  }
  return lines;
}

const text = `${JSON.stringify(await currentDocument(), null, 2)}\n`;
if (check) {
  const committed = existsSync(target) ? readFileSync(target, "utf8") : null;
  if (committed === text) {
    console.log("openapi.json is current");
    process.exit(0);
  }
  const lines = committed === null ? [`${shown} does not exist`] : differences(JSON.parse(committed) as Document, JSON.parse(text) as Document);
  console.error(`${shown} is stale: run \`npm run openapi\` and commit it\n${lines.length > 0 ? lines.join("\n") : "(formatting only)"}`);
  process.exit(1);
}
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, text);
console.log(`wrote ${shown} (${Object.keys(JSON.parse(text).paths ?? {}).length} paths)`);
