import * as v from "valibot";
import { type FieldIssue, fieldIssues, ProblemSchema } from "./problem";

/** One way a response differs from what its route declares. */
export type ContractIssue = FieldIssue;

export type DeclaredResponses = Record<number, { description: string; schema?: v.GenericSchema }>;

/** application/json or any application/*+json (problem+json among them), parameters ignored. */
export function isJsonMediaType(contentType: string | null | undefined): boolean {
  const type = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Members of `input` that the schema dropped from `output`: valibot's objects strip unknown keys,
 * so a key the JSON has and the parsed value lacks is one the schema does not declare.
 */
function undeclaredKeys(input: unknown, output: unknown, path: string, found: ContractIssue[]) {
  if (Array.isArray(input) && Array.isArray(output)) {
    input.forEach((item, index) => undeclaredKeys(item, output[index], `${path}${path ? "." : ""}${index}`, found));
  } else if (isRecord(input) && isRecord(output)) {
    for (const [key, value] of Object.entries(input)) {
      const at = path ? `${path}.${key}` : key;
      if (!(key in output)) found.push({ path: at, message: "not declared by the schema" });
      else undeclaredKeys(value, output[key], at, found);
    }
  }
}

/**
 * How a response differs from its route's declaration (empty when it matches): a JSON body must
 * fit the schema declared for its status, with no member the schema leaves out; a problem
 * (`application/problem+json`) must be an RFC 9457 problem whose `status` is the response's.
 */
export async function responseContractIssues(response: Response, declared: DeclaredResponses): Promise<ContractIssue[]> {
  const contentType = response.headers.get("content-type");
  const problem = contentType?.split(";")[0]?.trim().toLowerCase() === "application/problem+json";
  const schema = problem ? ProblemSchema : declared[response.status]?.schema;
  if (!isJsonMediaType(contentType)) {
    return schema && response.status !== 204 ? [{ path: "", message: `declared as JSON, sent as ${contentType ?? "no content type"}` }] : [];
  }
  if (!schema) {
    return [{ path: "", message: declared[response.status] ? "the status declares no schema for its JSON body" : "the status is not declared" }];
  }
  let body: unknown;
  try {
    body = await response.clone().json();
  } catch {
    return [{ path: "", message: "the body is not JSON" }];
  }
  const result = v.safeParse(schema, body);
  if (!result.success) return fieldIssues(result.issues);
  const issues: ContractIssue[] = [];
  if (problem && isRecord(body) && body.status !== response.status) issues.push({ path: "status", message: `says ${String(body.status)}, sent as ${response.status}` });
  // Problems may carry extension members; every other body is checked for undeclared ones.
  if (!problem) undeclaredKeys(body, result.output, "", issues);
  return issues;
}

/** "GET /v1/images/:id 200 does not match its declared response: path: message; ..." */
export function describeContractIssues(operation: string, status: number, issues: ContractIssue[]): string {
  return `${operation} ${status} does not match its declared response: ${issues.map((i) => `${i.path || "(body)"}: ${i.message}`).join("; ")}`;
}
