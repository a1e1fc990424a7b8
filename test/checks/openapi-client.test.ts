import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * A typed client from docs/openapi.json: openapi-typescript generates the types, and the buyer flow
 * in test/fixtures/openapi-client/buyer-flow.ts (openapi-fetch against them) must type-check. The
 * second test breaks the document in the ways a route change could (a path, a query parameter, a
 * response member gone) and expects tsc to refuse the flow each time, so the first can fail.
 */
const root = resolve(".");
const FLOW = "test/fixtures/openapi-client/buyer-flow.ts";
const base = mkdtempSync(join(tmpdir(), "edgestock-openapi-client-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

type Doc = {
  paths: Record<
    string,
    Record<string, { parameters?: { name: string }[]; responses: Record<string, { content?: Record<string, { schema: { properties: Record<string, unknown> } }> }> }>
  >;
};

/** Generates the types for `doc` next to a copy of the flow and type-checks it; the tsc result. */
function typeCheck(name: string, doc: Doc) {
  const dir = join(base, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "openapi.json"), JSON.stringify(doc));
  const generated = spawnSync(process.execPath, ["node_modules/openapi-typescript/bin/cli.js", join(dir, "openapi.json"), "-o", join(dir, "api-types.ts")], { encoding: "utf8" });
  expect(generated.status, `${generated.stdout}${generated.stderr}`).toBe(0);
  copyFileSync(FLOW, join(dir, "buyer-flow.ts"));
  const compilerOptions = {
    target: "ES2023",
    lib: ["ES2024", "DOM"],
    module: "ESNext",
    moduleResolution: "Bundler",
    strict: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    // The flow imports openapi-fetch as a user's project would; here it resolves to this checkout's copy.
    paths: { "openapi-fetch": [join(root, "node_modules/openapi-fetch")] },
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["buyer-flow.ts"] }));
  const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", join(dir, "tsconfig.json")], { encoding: "utf8" });
  return { status: tsc.status, output: `${tsc.stdout}${tsc.stderr}` };
}

const current = (): Doc => JSON.parse(readFileSync("docs/openapi.json", "utf8")) as Doc;

describe("a client generated from docs/openapi.json (openapi-typescript + openapi-fetch)", () => {
  it("type-checks the buyer flow: register, login, search, image page, cart, checkout, licences, download", () => {
    const result = typeCheck("current", current());
    expect(result.output).toBe("");
    expect(result.status).toBe(0);
  });

  it("refuses the flow when a path, a parameter or a response member disappears from the document", () => {
    const withoutPath = current();
    delete withoutPath.paths["/v1/licenses"];

    const withoutParameter = current();
    const search = withoutParameter.paths["/v1/search"]?.get;
    if (!search?.parameters) throw new Error("GET /v1/search has no parameters");
    search.parameters = search.parameters.filter((p) => p.name !== "perPage");

    const withoutMember = current();
    const ticket = withoutMember.paths["/v1/images/{id}/download"]?.get?.responses["200"]?.content?.["application/json"]?.schema;
    if (!ticket) throw new Error("GET /v1/images/{id}/download has no JSON 200");
    delete ticket.properties.url;

    for (const [name, doc, expected] of [
      ["no-path", withoutPath, /"\/v1\/licenses"/],
      ["no-parameter", withoutParameter, /perPage/],
      ["no-member", withoutMember, /'url'/],
    ] as const) {
      const result = typeCheck(name, doc);
      expect(result.status, name).not.toBe(0);
      expect(result.output, name).toMatch(/buyer-flow\.ts\(\d+,\d+\): error TS/);
      expect(result.output, name).toMatch(expected);
    }
  });
});
