import * as v from "valibot";

/** One line naming every missing or bad variable, for fail-fast configuration errors. */
export function describeConfigIssues(issues: v.BaseIssue<unknown>[]): string {
  return issues
    .map((issue) => {
      const name = v.getDotPath(issue) ?? "?";
      return issue.input === undefined ? `${name} is not set` : `${name}: ${issue.message}`;
    })
    .join("; ");
}
