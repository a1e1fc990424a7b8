import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");
const PRODUCTION_MAIN = /^main = "edge\/index\.ts"$/m;

/**
 * Writes wrangler.local.toml: the deployable wrangler.toml with `main` pointing at the local entry
 * (edge/local.ts: the production Worker plus the stand-ins), then edge/dev/wrangler.local.toml (the
 * local Queues pull stand-in). Both are TOML whose trailing array-of-tables append cleanly, so a
 * concatenation is a valid config. Returns its path; it sits beside wrangler.toml so relative
 * paths (main, assets) resolve the same.
 */
export function writeLocalWranglerConfig(): string {
  const path = join(root, "wrangler.local.toml");
  const deployable = readFileSync(join(root, "wrangler.toml"), "utf8");
  if (!PRODUCTION_MAIN.test(deployable)) throw new Error('wrangler.toml has no `main = "edge/index.ts"` line to point at edge/local.ts');
  const text = [
    "# Generated from wrangler.toml + edge/dev/wrangler.local.toml by scripts/lib/local-wrangler.ts. Do not edit.",
    deployable.replace(PRODUCTION_MAIN, 'main = "edge/local.ts"'),
    readFileSync(join(root, "edge/dev/wrangler.local.toml"), "utf8"),
  ].join("\n");
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current !== text) writeFileSync(path, text);
  return path;
}
