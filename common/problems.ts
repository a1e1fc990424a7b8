/**
 * Stable RFC 9457 problem types. The `type` URI of a problem never changes once published, so
 * clients can branch on it; titles are for humans.
 */
export const PROBLEMS = {
  "bad-request": { status: 400, title: "Bad request" },
  "invalid-json": { status: 400, title: "Malformed JSON body" },
  "validation-failed": { status: 422, title: "The request did not pass validation" },
  unauthenticated: { status: 401, title: "Authentication required" },
  "invalid-credentials": { status: 401, title: "Email or password is wrong" },
  "invalid-token": { status: 401, title: "The token is invalid or expired" },
  "refresh-token-reused": { status: 401, title: "Refresh token reuse detected; the session was revoked" },
  forbidden: { status: 403, title: "Your role does not allow this" },
  "csrf-token-invalid": { status: 403, title: "The form or request lacks a valid CSRF token; reload the page and try again" },
  "insufficient-scope": { status: 403, title: "The API key lacks the scope this route needs" },
  "not-found": { status: 404, title: "Not found" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  "email-taken": { status: 409, title: "An account with this email already exists" },
  "idempotency-in-progress": { status: 409, title: "A request with this Idempotency-Key is still in progress" },
  "idempotency-key-reused": { status: 422, title: "This Idempotency-Key was used with a different request" },
  "license-required": { status: 403, title: "You hold no license for this image" },
  "image-unavailable": { status: 410, title: "The image is no longer available" },
  "webhook-signature-invalid": { status: 400, title: "The webhook signature does not verify" },
  "payload-too-large": { status: 413, title: "Request body too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported content type" },
  "rate-limited": { status: 429, title: "Too many requests" },
  "payment-provider-error": { status: 502, title: "The payment provider refused or failed the request" },
  internal: { status: 500, title: "Internal server error" },
  "service-unavailable": { status: 503, title: "A dependency is unavailable" },
} as const;

export type ProblemType = keyof typeof PROBLEMS;

export const PROBLEM_BASE_URI = "https://edgestock.dev/problems/";
