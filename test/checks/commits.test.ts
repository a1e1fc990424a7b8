import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

/**
 * Commit subjects fit in one line of `git log --oneline` and of a review tool: at most 72 characters, the
 * why goes in the body. Checked from the first commit after the rule was adopted (SINCE); older history
 * is left as it was written.
 */
const SINCE = "f8c1f36";
const MAX_SUBJECT = 72;

const git = (...args: string[]) => spawnSync("git", args, { encoding: "utf8" });

// Skipped where there is no history to read: a downloaded archive (no git checkout) or a shallow clone
// that does not reach SINCE.
const hasHistory = git("rev-parse", "--is-inside-work-tree").status === 0 && git("cat-file", "-e", `${SINCE}^{commit}`).status === 0;

/** The subjects longer than `max`, as "abbreviated hash (length): subject". */
function longSubjects(log: string, max: number): string[] {
  return log
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [hash = "", subject = ""] = line.split("\0");
      return { hash, subject };
    })
    .filter(({ subject }) => [...subject].length > max)
    .map(({ hash, subject }) => `${hash.slice(0, 9)} (${[...subject].length}): ${subject}`);
}

describe("commit subjects", () => {
  it.skipIf(!hasHistory)(`every commit after ${SINCE} has a subject of at most ${MAX_SUBJECT} characters`, () => {
    const log = git("log", "--format=%H%x00%s", `${SINCE}..HEAD`);
    expect(log.status, log.stderr).toBe(0);
    expect(longSubjects(log.stdout, MAX_SUBJECT), "shorten the subject (git commit --amend before it is shared); the why goes in the body").toEqual([]);
  });

  it("measures a subject in characters and reports the long one", () => {
    const ok = "a".repeat(MAX_SUBJECT);
    const long = `${"é".repeat(MAX_SUBJECT)}!`;
    expect(longSubjects(`1111111111\0${ok}\n2222222222\0${long}\n`, MAX_SUBJECT)).toEqual([`222222222 (73): ${long}`]);
  });
});
