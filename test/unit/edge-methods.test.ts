import { describe, expect, it } from "vitest";
import { allowedMethods } from "../../edge/lib/methods";

const routes = [
  { basePath: "/", path: "/v1/api-keys", method: "GET", handler: () => undefined },
  { basePath: "/", path: "/v1/api-keys", method: "POST", handler: () => undefined },
  { basePath: "/", path: "/v1/api-keys/:id", method: "DELETE", handler: () => undefined },
  { basePath: "/", path: "*", method: "ALL", handler: () => undefined },
];

describe("allowed methods for 405", () => {
  it("lists the methods of every route matching the path, HEAD with GET", () => {
    expect(allowedMethods(routes, "/v1/api-keys")).toEqual(["GET", "HEAD", "POST"]);
    expect(allowedMethods(routes, "/v1/api-keys/123")).toEqual(["DELETE"]);
  });

  it("ignores middleware (ALL) and unknown paths", () => {
    expect(allowedMethods(routes, "/v1/nothing")).toEqual([]);
  });
});
