import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe("generated files and builds are current", () => {
  it("edge/worker-configuration.d.ts matches `wrangler types` for wrangler.toml", () => {
    expect(run("node_modules/.bin/bun", ["scripts/check-types.ts"])).toContain("types are current");
  });

  it("committed migrations match the drizzle schema", () => {
    expect(run("node_modules/.bin/bun", ["scripts/check-migrations.ts", "--check"])).toContain("migrations are current");
  });

  it("TypeScript compiles (worker, db, scripts, tests, and the edge with Workers types)", () => {
    run("node_modules/.bin/tsc", ["--noEmit", "-p", "tsconfig.json"]);
    run("node_modules/.bin/tsc", ["--noEmit", "-p", "edge/tsconfig.json"]);
  });

  it("`wrangler deploy --dry-run` bundles the Worker, without node-only packages", () => {
    const out = mkdtempSync(join(tmpdir(), "edgestock-bundle-"));
    try {
      run("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--outdir", out]);
      const bundle = readFileSync(join(out, "index.js"));
      const gzipKiB = gzipSync(bundle).length / 1024;
      console.log(`bundle: ${(statSync(join(out, "index.js")).size / 1024).toFixed(0)} KiB, ${gzipKiB.toFixed(0)} KiB gzipped`);
      expect(gzipKiB).toBeLessThan(1024); // the Workers free-plan limit is 3 MiB; keep well under 1 MiB
      const text = bundle.toString("utf8");
      for (const forbidden of ["onnxruntime", "sharp/lib", "@electric-sql/pglite"]) expect(text).not.toContain(forbidden);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
