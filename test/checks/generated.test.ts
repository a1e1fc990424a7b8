import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
/** Runs a command; a failure's message carries its output (tsc prints its errors on stdout). */
const run = (cmd: string, args: string[]) => {
  try {
    return execFileSync(cmd, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${stdout}${stderr}`);
  }
};

describe("generated files and builds are current", () => {
  /**
   * `wrangler types --check` (wrangler's own check, `npm run cf-typegen:check`) as a clean clone runs it:
   * in a folder beside the checkout holding wrangler.toml and links to the code, so a developer's own
   * .dev.vars or .env (whose names wrangler would add to the types) is not read.
   */
  function wranglerTypesCheck(edit?: { wranglerToml?: (text: string) => string; devVars?: string }) {
    const dir = mkdtempSync(join(tmpdir(), "edgestock-types-"));
    try {
      for (const name of ["edge", "common", "db", "node_modules"]) symlinkSync(resolve(name), join(dir, name));
      writeFileSync(join(dir, "wrangler.toml"), (edit?.wranglerToml ?? ((t) => t))(readFileSync("wrangler.toml", "utf8")));
      if (edit?.devVars) writeFileSync(join(dir, ".dev.vars"), edit.devVars);
      return spawnSync("node_modules/.bin/wrangler", ["types", "edge/worker-configuration.d.ts", "--check"], { cwd: dir, env, encoding: "utf8" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("edge/worker-configuration.d.ts passes `wrangler types --check` for wrangler.toml", () => {
    const check = wranglerTypesCheck();
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    expect(check.stdout).toContain("are up to date");
  });

  it("`wrangler types --check` fails when wrangler.toml gains a var, or when secrets it would type appear", () => {
    const newVar = wranglerTypesCheck({ wranglerToml: (t) => t.replace(/^\[vars\]$/m, '[vars]\nNEW_SETTING = "x"') });
    expect(newVar.status).toBe(1);
    expect(`${newVar.stdout}${newVar.stderr}`).toContain("are out of date");
    expect(wranglerTypesCheck({ devVars: "SOME_SECRET=x\n" }).status).toBe(1);
  });

  it("the secrets declared beside the generated types are the ones .dev.vars.example lists", () => {
    const declared = [...readFileSync("edge/secrets.d.ts", "utf8").matchAll(/^\s+([A-Z][A-Z0-9_]*)\??: string;$/gm)].map((m) => m[1]);
    const listed = [...readFileSync(".dev.vars.example", "utf8").matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect(declared.length).toBeGreaterThan(10);
    expect([...declared].sort()).toEqual([...listed].sort());
    // The generated file holds wrangler.toml's bindings and vars only: no secret is typed twice.
    const generated = readFileSync("edge/worker-configuration.d.ts", "utf8");
    for (const name of declared) expect(generated, name).not.toMatch(new RegExp(`\\b${name}:`));
  });

  it("committed migrations match the drizzle schema", () => {
    expect(run("node_modules/.bin/bun", ["scripts/check-migrations.ts", "--check"])).toContain("migrations are current");
  });

  it("docs/openapi.json is the document the routes produce (`npm run openapi` writes it)", () => {
    expect(run("node_modules/.bin/bun", ["scripts/openapi.ts", "--check"])).toContain("openapi.json is current");
  });

  it("`npm run openapi -- --check` fails on a stale document and names the operations that changed", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgestock-openapi-"));
    try {
      const doc = JSON.parse(readFileSync("docs/openapi.json", "utf8")) as { paths: Record<string, unknown> };
      const [first] = Object.keys(doc.paths);
      delete doc.paths[first as string];
      doc.paths["/v1/retired"] = { get: { summary: "gone" } };
      const stale = join(dir, "openapi.json");
      writeFileSync(stale, JSON.stringify(doc, null, 2));
      const check = spawnSync("node_modules/.bin/bun", ["scripts/openapi.ts", "--check", stale], { env, encoding: "utf8" });
      expect(check.status).toBe(1);
      expect(check.stderr).toContain("is stale: run `npm run openapi`");
      expect(check.stderr).toContain(` ${first} (new in the routes)`);
      expect(check.stderr).toContain("- GET /v1/retired (no longer in the routes)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

describe("the README's figures", () => {
  it("are the generated figures files, block for block (a bench run rewrites both)", async () => {
    const { readmeBlock, readmeFigures } = await import("../../scripts/bench/lib/figures");
    const readme = readFileSync("README.md", "utf8");
    const names = [...readme.matchAll(/<!-- figures:([a-z0-9-]+) -->/g)].map((m) => m[1] as string);
    expect(names.length, "the README shows some generated figures").toBeGreaterThan(0);
    for (const name of names) {
      const block = readmeBlock(readme, name);
      expect(block, `README block figures:${name} has its closing marker`).not.toBeNull();
      const shown = readme.slice(block?.start, block?.end);
      expect(shown, `README figures:${name} differs from docs/figures/${name}.md: rerun its bench`).toBe(readmeFigures(readFileSync(`docs/figures/${name}.md`, "utf8")));
    }
  });
});
