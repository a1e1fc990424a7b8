import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Biome's formatter and linter over the whole tree, as `npm run lint` runs them (biome.json says what is
 * checked; docs/development.md says why each rule that is off is off). `npm run format` fixes what it can.
 */
describe("formatting and lint", () => {
  it("`biome ci .` finds nothing to reformat and no lint error", () => {
    const run = spawnSync(resolve("node_modules/.bin/biome"), ["ci", "--colors=off", "--max-diagnostics=50", "."], { encoding: "utf8", timeout: 120_000 });
    expect(run.error).toBeUndefined();
    // The whole report is the failure message: it names each file, line and rule, and `npm run format` fixes most.
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  });
});
