import type { Context } from "hono";
import * as v from "valibot";
import { PROBLEM_BASE_URI, PROBLEMS, type ProblemType } from "../../common/problems";

/** One problem with one part of a document: where (a dot path, "" for the whole) and what. */
export const FieldIssueSchema = v.object({ path: v.string(), message: v.string() });
export type FieldIssue = v.InferOutput<typeof FieldIssueSchema>;

/** Valibot's issues as {@link FieldIssue}s, for a 422's `errors` and the response check. */
export function fieldIssues(issues: readonly v.BaseIssue<unknown>[]): FieldIssue[] {
  return issues.map((issue) => ({ path: v.getDotPath(issue) ?? "", message: issue.message }));
}

/**
 * Every error response's body (RFC 9457). Loose: a problem may carry extension members
 * (`errors`, `maxBytes`, `retryAfter`...), as the RFC allows.
 */
export const ProblemSchema = v.looseObject({
  type: v.pipe(v.string(), v.startsWith(PROBLEM_BASE_URI)),
  title: v.string(),
  status: v.pipe(v.number(), v.integer()),
  detail: v.optional(v.string()),
  instance: v.optional(v.string()),
  requestId: v.string(),
  /** Validation failures: one entry per issue. */
  errors: v.optional(v.array(FieldIssueSchema)),
});
export type Problem = v.InferOutput<typeof ProblemSchema>;

/**
 * The one error type for expected failures. `app.onError` turns it into an RFC 9457
 * `application/problem+json` response; anything else becomes a 500 problem.
 *
 * @example throw new ApiError("not-found", "No image with this id")
 */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly type: ProblemType,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? PROBLEMS[type].title);
    this.status = PROBLEMS[type].status;
  }
}

/** RFC 9457's own members: a route's extension members never replace them. */
const STANDARD_MEMBERS = new Set(["type", "title", "status", "detail", "instance", "requestId"]);

/** Renders a problem response with the request id and no stack trace. */
export function problemResponse(c: Context, error: ApiError): Response {
  const extensions = Object.fromEntries(Object.entries(error.extra).filter(([name]) => !STANDARD_MEMBERS.has(name)));
  const body = {
    ...extensions,
    type: PROBLEM_BASE_URI + error.type,
    title: PROBLEMS[error.type].title,
    status: error.status,
    ...(error.detail ? { detail: error.detail } : {}),
    instance: new URL(c.req.url).pathname,
    requestId: c.get("requestId"),
  };
  return new Response(JSON.stringify(body), {
    status: error.status,
    headers: { "content-type": "application/problem+json", "x-request-id": c.get("requestId") ?? "", ...error.headers },
  });
}
