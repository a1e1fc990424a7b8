/** Stripe's error types (https://docs.stripe.com/api/errors). */
export type StripeErrorType = "invalid_request_error" | "idempotency_error" | "api_error";

/** The body Stripe answers with on failure: `{ error: { type, code?, message, param? } }`. */
export type StripeErrorBody = { error: { type: StripeErrorType; code?: string; message: string; param?: string } };

/** An expected failure with its HTTP status; the server's error handler renders it as Stripe does. */
export class StripeApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 409,
    readonly type: StripeErrorType,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }

  /** The JSON body Stripe sends for this error. */
  body(): StripeErrorBody {
    return { error: { type: this.type, message: this.message, ...(this.code && { code: this.code }), ...(this.param && { param: this.param }) } };
  }
}

/** 400 for a required parameter that was not sent. */
export function missingParam(param: string): StripeApiError {
  return new StripeApiError(400, "invalid_request_error", `Missing required param: ${param}.`, "parameter_missing", param);
}

/** 400 for a parameter that was sent but cannot be used. */
export function invalidParam(param: string, message: string, code?: string): StripeApiError {
  return new StripeApiError(400, "invalid_request_error", message, code, param);
}

/** 400 for a request the object's current state does not allow. */
export function invalidRequest(message: string, code?: string): StripeApiError {
  return new StripeApiError(400, "invalid_request_error", message, code);
}

/** 404 for an id in the path that names nothing. */
export function noSuchObject(kind: string, id: string): StripeApiError {
  return new StripeApiError(404, "invalid_request_error", `No such ${kind}: '${id}'`, "resource_missing", "id");
}

/** 400 for an id in a parameter that names nothing (Stripe answers 400 here, 404 only for path ids). */
export function noSuchReference(kind: string, id: string, param: string): StripeApiError {
  return new StripeApiError(400, "invalid_request_error", `No such ${kind}: '${id}'`, "resource_missing", param);
}
