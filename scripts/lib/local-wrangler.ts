import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");

/**
 * Writes wrangler.local.toml: the deployable wrangler.toml plus edge/dev/wrangler.local.toml (the
 * local Queues pull stand-in). Both are TOML whose trailing array-of-tables append cleanly, so a
 * concatenation is a valid config. Returns its path; it sits beside wrangler.toml so relative
 * paths (main, .dev.vars) resolve the same.
 */
export function writeLocalWranglerConfig(): string {
  const path = join(root, "wrangler.local.toml");
  const text = [
    "# Generated from wrangler.toml + edge/dev/wrangler.local.toml by scripts/lib/local-wrangler.ts. Do not edit.",
    readFileSync(join(root, "wrangler.toml"), "utf8"),
    readFileSync(join(root, "edge/dev/wrangler.local.toml"), "utf8"),
  ].join("\n");
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current !== text) writeFileSync(path, text);
  return path;
}
