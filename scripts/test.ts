/**
 * `npm test`: every suite (unit, worker, db, edge in workerd, checks, e2e, web in Chromium) through vitest, then one
 * summary line `N passed, N failed` (CI reads it). Extra arguments go to vitest.
 * The db and edge suites also run against a PostgreSQL server when TEST_DATABASE_URL is set.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const report = resolve(root, ".tmp/vitest-report.json");
mkdirSync(resolve(root, ".tmp"), { recursive: true });

const child = Bun.spawn(["node", "node_modules/vitest/vitest.mjs", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: ["inherit", "inherit", "inherit"],
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" },
});
const code = await child.exited;

let passed = 0;
let failed = 0;
try {
  const json = JSON.parse(readFileSync(report, "utf8")) as { numPassedTests: number; numFailedTests: number; numFailedTestSuites: number };
  passed = json.numPassedTests;
  failed = json.numFailedTests + (code !== 0 && json.numFailedTests === 0 ? Math.max(1, json.numFailedTestSuites) : 0);
} catch {
  failed = 1;
}
if (!process.env.TEST_DATABASE_URL) console.log("(TEST_DATABASE_URL not set: the PostgreSQL-server variants were skipped)");
console.log(`${passed} passed, ${failed} failed`);
process.exit(code === 0 && failed === 0 ? 0 : 1);
