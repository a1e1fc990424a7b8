import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/**
 * A user's clone is the repository and nothing else: no code, test, script or config may read the team's
 * scratch folder beside it (`../shared`, `/work/shared`). What the product and the tests need ships in
 * `models/` and `test/fixtures/`. Markdown is prose (notes may tell that history) and is not scanned.
 */
const THIS_FILE = "test/checks/self-contained.test.ts";
const OUTSIDE_THE_REPO = [
  /\.\.\/shared\b/, // "../shared/...", "../../../shared/..."
  /\/work\/shared\b/,
  /\bshared\/data\//, // resolve("..", "shared/data/...")
  /["']\.\.["']\s*,\s*["']shared\b/, // join("..", "shared", ...)
];

function gitFiles(): string[] | null {
  try {
    // Tracked files and new ones git would add, so a check before the commit sees them too.
    const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return [...new Set(out.split("\0").filter(Boolean))];
  } catch {
    return null; // not a git checkout (a downloaded archive): nothing to list
  }
}

const files = gitFiles();

describe("the repository is self-contained", () => {
  it.skipIf(files === null)("no file outside Markdown reads ../shared (the team's scratch folder a clone does not have)", () => {
    const offending: string[] = [];
    for (const file of files ?? []) {
      if (file === THIS_FILE || file.endsWith(".md")) continue;
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        continue; // listed but deleted in the working tree
      }
      if (bytes.subarray(0, 8000).includes(0)) continue; // binary: models, photos
      bytes
        .toString("utf8")
        .split("\n")
        .forEach((line, i) => {
          if (OUTSIDE_THE_REPO.some((pattern) => pattern.test(line))) offending.push(`${file}:${i + 1}: ${line.trim().slice(0, 160)}`);
        });
    }
    expect(offending, "move the data into models/ (product) or test/fixtures/ (tests) and read it there").toEqual([]);
  });

  it("finds the patterns it looks for (so a broken pattern cannot pass silently)", () => {
    const samples = [
      'resolve("..", "shared/data/images/real")',
      'resolve(import.meta.dirname, "../../../shared/data/clip/tokenizer.json")',
      'Path("/work/shared/data/clip/tokenizer.json")',
      'join("..", "shared", "data")',
      "cp ../shared/data/x .",
    ];
    for (const sample of samples) expect(OUTSIDE_THE_REPO.some((p) => p.test(sample)), sample).toBe(true);
    for (const fine of ["WORKER_SHARED_SECRET", 'import { x } from "../common/shared"', "test/fixtures/photos"]) {
      expect(OUTSIDE_THE_REPO.some((p) => p.test(fine)), fine).toBe(false);
    }
  });
});
