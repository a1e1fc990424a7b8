import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/**
 * A user's clone is the repository and nothing else: no code, test, script or config may read the team's
 * scratch folder beside the clone (its sibling named SCRATCH below). What the product and the tests need
 * ships in `models/` and `test/fixtures/`. Markdown is prose (notes may tell that history) and is not
 * scanned. The patterns are assembled from parts, so this file passes its own scan.
 */
const SCRATCH = "shared";
const UP = "..";
const OUTSIDE_THE_REPO = [
  new RegExp(`\\.\\./${SCRATCH}\\b`), // the sibling folder, from any depth
  new RegExp(`/work/${SCRATCH}\\b`), // its absolute path on the team's machines
  new RegExp(`\\b${SCRATCH}/data/`), // resolve(UP, "<scratch>/data/...")
  new RegExp(`["']\\.\\.["']\\s*,\\s*["']${SCRATCH}\\b`), // join(UP, "<scratch>", ...)
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
  it.skipIf(files === null)("no file outside Markdown reads the team's scratch folder beside the clone (a user's clone has none)", () => {
    const offending: string[] = [];
    for (const file of files ?? []) {
      if (file.endsWith(".md")) continue;
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
      `resolve("${UP}", "${SCRATCH}/data/images/real")`,
      `resolve(import.meta.dirname, "${UP}/${UP}/${UP}/${SCRATCH}/data/clip/tokenizer.json")`,
      `Path("/work/${SCRATCH}/data/clip/tokenizer.json")`,
      `join("${UP}", "${SCRATCH}", "data")`,
      `cp ${UP}/${SCRATCH}/data/x .`,
    ];
    for (const sample of samples)
      expect(
        OUTSIDE_THE_REPO.some((p) => p.test(sample)),
        sample,
      ).toBe(true);
    for (const fine of ["WORKER_SHARED_SECRET", `import { x } from "${UP}/common/${SCRATCH}"`, "test/fixtures/photos"]) {
      expect(
        OUTSIDE_THE_REPO.some((p) => p.test(fine)),
        fine,
      ).toBe(false);
    }
  });
});
