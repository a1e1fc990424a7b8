import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * docs/openapi.json under the two linters people point at an API: Redocly's and Spectral's
 * recommended rules, with no rule turned off. Both run as the CLIs a user would run; the test reads
 * their JSON reports, so a finding shows by rule and location.
 */
const DOCUMENT = "docs/openapi.json";
const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" };
const dir = mkdtempSync(join(tmpdir(), "edgestock-openapi-lint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function node(args: string[]) {
  const result = spawnSync(process.execPath, args, { env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return result;
}

/** Spectral's JSON report goes to a file: on stdout it is followed by a summary line. */
const spectral = (document: string, ruleset: string, report: string) =>
  node(["node_modules/@stoplight/spectral-cli/dist/index.js", "lint", document, "--ruleset", ruleset, "--format=json", "--output", report, "--fail-severity=hint", "--quiet"]);

describe("docs/openapi.json passes the linters' recommended rules", () => {
  it("Redocly (recommended): 0 errors, 0 warnings", () => {
    const result = node(["node_modules/@redocly/cli/bin/cli.js", "lint", DOCUMENT, "--extends=recommended", "--format=json", "--max-problems=1000"]);
    const parsed = JSON.parse(result.stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };
    const findings = parsed.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer ?? ""}: ${p.message}`);
    expect(findings).toEqual([]);
    expect(parsed.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(result.status, result.stderr).toBe(0);
  });

  it("Spectral (spectral:oas, recommended): no finding of any severity", () => {
    const ruleset = join(dir, ".spectral.yaml");
    writeFileSync(ruleset, 'extends: [["spectral:oas", "recommended"]]\n');
    const report = join(dir, "spectral.json");
    const result = spectral(DOCUMENT, ruleset, report);
    const findings = (JSON.parse(readFileSync(report, "utf8")) as { code: string; message: string; path: string[] }[]).map((f) => `${f.code} ${f.path.join(".")}: ${f.message}`);
    expect(findings).toEqual([]);
    expect(result.status, result.stderr).toBe(0);
  });

  it("the linters do report a broken document (the checks above can fail)", () => {
    const broken = join(dir, "broken.json");
    writeFileSync(
      broken,
      JSON.stringify({ openapi: "3.1.0", info: { title: "x", version: "1" }, paths: { "/a": { get: { tags: ["nowhere"], responses: { 200: { description: "ok" } } } } } }),
    );
    const redocly = node(["node_modules/@redocly/cli/bin/cli.js", "lint", broken, "--extends=recommended", "--format=json"]);
    expect((JSON.parse(redocly.stdout) as { totals: { warnings: number } }).totals.warnings).toBeGreaterThan(0);
    const ruleset = join(dir, ".spectral.yaml");
    writeFileSync(ruleset, 'extends: [["spectral:oas", "recommended"]]\n');
    const report = join(dir, "spectral-broken.json");
    expect(spectral(broken, ruleset, report).status).not.toBe(0);
    expect((JSON.parse(readFileSync(report, "utf8")) as { code: string }[]).map((f) => f.code)).toContain("operation-tag-defined");
  });
});
