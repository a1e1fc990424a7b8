/**
 * The production Worker bundle as Cloudflare receives it: `wrangler deploy --dry-run` on
 * wrangler.toml (edge/index.ts, minified), its size and its gzip size (what counts against the
 * Workers size limits: 3 MiB gzipped on the Free plan, 10 MiB on Paid), and the web app's static
 * files (Workers Static Assets, not part of the bundle).
 * Run: `npm run bench:bundle`. Nothing is asserted.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { recordFigures } from "./lib/figures";

recordFigures("bundle");

const root = resolve(import.meta.dirname, "../..");
const out = mkdtempSync(join(tmpdir(), "edgestock-bundle-"));
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
try {
  execFileSync(join(root, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", out, "-c", "wrangler.toml"], {
    cwd: root,
    stdio: "pipe",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" },
  });
  const bundle = readFileSync(join(out, "index.js"));
  const wrangler = JSON.parse(readFileSync(join(root, "node_modules/wrangler/package.json"), "utf8")) as { version: string };
  console.log(`wrangler ${wrangler.version} deploy --dry-run (minify on), edge/index.ts`);
  console.log("");
  console.log(`Worker bundle     ${kib(bundle.length).padStart(9)} minified   ${kib(gzipSync(bundle, { level: 9 }).length).padStart(8)} gzipped`);
  const assets = join(root, "edge/web/public");
  const files = readdirSync(assets, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
  const total = files.reduce((n, f) => n + statSync(join(f.parentPath, f.name)).size, 0);
  console.log(`Static assets     ${kib(total).padStart(9)} in ${files.length} files (edge/web/public, served by Workers Static Assets)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
