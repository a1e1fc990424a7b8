import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// The repository's bunfig.toml in a scratch folder with no node_modules above it, so Bun reads it as it
// does at the top of a clone.
const dir = mkdtempSync(join(tmpdir(), "edgestock-bunfig-"));
copyFileSync(resolve("bunfig.toml"), join(dir, "bunfig.toml"));
const bun = (file: string, source: string) => {
  writeFileSync(join(dir, file), source);
  return spawnSync(resolve("node_modules/.bin/bun"), [file], { cwd: dir, encoding: "utf8", timeout: 30_000 });
};

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bunfig.toml", () => {
  it("keeps a stray .env out of the processes Bun runs (configuration is the real environment)", () => {
    writeFileSync(join(dir, ".env"), "DATABASE_URL=postgres://from-a-stray-dotenv/db\n");
    const run = bun("env.ts", 'console.log(process.env.DATABASE_URL ?? "unset")');
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe(process.env.DATABASE_URL ?? "unset");
  });

  it("refuses to auto-install a package that is not in node_modules (npm installs, from the lockfile)", () => {
    const run = bun("import.ts", 'import pad from "left-pad";\nconsole.log(pad("x", 3));');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain("Cannot find package 'left-pad'");
    expect(run.stderr).not.toMatch(/GET https?:/); // no registry request was tried
  });
});
