/**
 * Checks that edge/worker-configuration.d.ts is what `npm run cf-typegen` would write for the
 * current wrangler.toml (compared without the header line that names the output path).
 * `bun scripts/check-types.ts` prints "types are current" or exits 1.
 */
import { readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
// Generated beside the committed file: the output embeds a path relative to its own folder.
const out = join(root, "edge", `.types-check-${process.pid}.d.ts`);
try {
  const proc = Bun.spawnSync(["node_modules/.bin/wrangler", "types", out, "--strict-vars=false", "--env-file", ".dev.vars.example"], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" },
  });
  if (proc.exitCode !== 0) throw new Error(`wrangler types failed:\n${proc.stderr.toString()}`);
  const body = (file: string) => readFileSync(file, "utf8").split("\n").slice(2).join("\n");
  if (body(out) !== body(join(root, "edge/worker-configuration.d.ts"))) {
    console.error("edge/worker-configuration.d.ts is out of date: run `npm run cf-typegen` and commit it");
    process.exit(1);
  }
  console.log("types are current");
} finally {
  rmSync(out, { force: true });
}
