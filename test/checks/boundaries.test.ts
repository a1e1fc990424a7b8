import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The rooms' edges as rules (issue 18, point 8): a wrong-way import fails here with file → import → rule.
 *
 * Paths are repository-relative. In `from`, `except` and `forbid`, a pattern ending in "/" is a folder
 * (everything under it) and any other pattern is one module, named without its extension ("db/connect").
 * `forbidPackages` names npm packages (a subpath such as "drizzle-orm/pg-core" counts as its package).
 * `allowOnly` lists the folders a file's relative imports must stay in (packages are always allowed).
 * Tests are exempt unless a rule's `from` names test/: they may reach into any room to exercise it.
 */
interface Rule {
  name: string;
  why: string;
  from: string[];
  except?: string[];
  forbid?: string[];
  forbidPackages?: string[];
  allowOnly?: string[];
}

const RULES: Rule[] = [
  {
    name: "db/ imports only db/ and the logger",
    why: "the schema and the one connection helper are shared by every runtime; they depend on nothing above them. The logger is a leaf every room writes through",
    from: ["db/"],
    allowOnly: ["db/", "common/log"],
  },
  {
    name: "common/ imports only common/",
    why: "code both runtimes need; it cannot know about the Worker, the GPU worker or the importer",
    from: ["common/"],
    allowOnly: ["common/"],
  },
  {
    name: "edge/ never imports gpu-worker/, migrate/, scripts/ or test/",
    why: "the Worker bundle holds the edge's own code only (no native modules, no tools, no test helpers)",
    from: ["edge/"],
    forbid: ["gpu-worker/", "migrate/", "scripts/", "test/"],
  },
  {
    name: "gpu-worker/ never imports edge/ or migrate/",
    why: "the worker talks to the edge over HTTP and queues; the importer calls the worker's pipeline, not the other way",
    from: ["gpu-worker/"],
    forbid: ["edge/", "migrate/"],
  },
  {
    name: "migrate/ never imports edge/",
    why: "the importer runs beside the GPU worker, outside workerd; it shares code through common/ and db/",
    from: ["migrate/"],
    forbid: ["edge/"],
  },
  {
    name: "edge/lib/ is HTTP plumbing: it imports no service, route, middleware, adapter or stand-in",
    why: "everything else builds on edge/lib; an import back up makes a cycle and drags the domain into the plumbing",
    from: ["edge/lib/"],
    forbid: ["edge/services/", "edge/routes/", "edge/middleware/", "edge/adapters/", "edge/dev/"],
  },
  {
    name: "edge/services/ never imports routes, middleware or the dev stand-ins",
    why: "services are plain functions over what they are given; HTTP and the local stand-ins sit above them",
    from: ["edge/services/"],
    forbid: ["edge/routes/", "edge/middleware/", "edge/dev/"],
  },
  {
    name: "edge/routes/ are thin: no other route file, no stand-in, no database connection, no drizzle",
    why: "a route parses, calls one service and responds; queries live in the service that owns them",
    from: ["edge/routes/"],
    forbid: ["edge/routes/", "edge/dev/", "db/connect"],
    forbidPackages: ["drizzle-orm"],
  },
  {
    name: "edge/web/ pages are thin too: no route file, no stand-in, no database connection, no drizzle",
    why: "a page calls the same services as the API, so no business rule or query is written twice",
    from: ["edge/web/"],
    forbid: ["edge/routes/", "edge/dev/", "db/connect"],
    forbidPackages: ["drizzle-orm"],
  },
  {
    name: "the web app sits on top: no service, route, middleware, adapter or lib imports edge/web/",
    why: "the API works without its pages; only the app that mounts both (edge/app.ts) knows them",
    from: ["edge/services/", "edge/routes/", "edge/middleware/", "edge/adapters/", "edge/lib/"],
    forbid: ["edge/web/"],
  },
  {
    name: "only edge/dev/ and edge/local.ts import edge/dev/",
    why: "the production entry (edge/index.ts) must bundle no local stand-in",
    from: ["edge/", "common/", "db/", "gpu-worker/", "migrate/", "scripts/"],
    except: ["edge/dev/", "edge/local"],
    forbid: ["edge/dev/"],
  },
  {
    name: "sharp is imported only by gpu-worker/imaging.ts",
    why: "one imaging adapter configures sharp once; the pipeline steps and the importer go through it",
    from: ["gpu-worker/", "migrate/"],
    except: ["gpu-worker/imaging"],
    forbidPackages: ["sharp"],
  },
  {
    name: "onnxruntime-node is imported only by gpu-worker/ml/onnx.ts",
    why: "one ONNX adapter owns sessions and the execution-provider fallback",
    from: ["gpu-worker/", "migrate/"],
    except: ["gpu-worker/ml/onnx"],
    forbidPackages: ["onnxruntime-node"],
  },
];

/** A structured log line goes through the logger; this pattern is written in parts so this file does not match it. */
const CONSOLE_JSON = new RegExp(["console", "\\.\\w+\\(\\s*", "JSON", "\\.stringify\\("].join(""));
const CONSOLE_JSON_RULE = {
  name: "console.*(JSON.stringify(...)) only in common/log.ts",
  why: "one logger writes structured lines, with levels and a request id; a command's own JSON output goes to process.stdout.write",
  allowedIn: ["common/log.ts"],
};

const SOURCE = /\.(ts|mts|cts|tsx|js|mjs|cjs)$/;
const EXTENSION = /\.(d\.ts|ts|mts|cts|tsx|js|mjs|cjs|json)$/;

interface Import {
  file: string;
  specifier: string;
  /** The repository path the specifier points at, without extension (relative specifiers only). */
  target?: string;
  /** The npm package a bare specifier names. */
  pkg?: string;
}

const moduleName = (path: string) => path.replace(EXTENSION, "").replace(/\/index$/, "");

function matches(path: string, pattern: string): boolean {
  return pattern.endsWith("/") ? path.startsWith(pattern) : moduleName(path) === pattern;
}

const isTest = (file: string) => file.startsWith("test/") || /\.test\.[a-z]+$/.test(file);

/** Every static import, re-export, `import()` and `require()` of one source file, resolved against its folder. */
function importsOf(file: string, source: string): Import[] {
  return ts.preProcessFile(source, true, true).importedFiles.map(({ fileName: specifier }) => {
    if (specifier.startsWith(".")) return { file, specifier, target: moduleName(normalize(join(dirname(file), specifier))) };
    const parts = specifier.split("/");
    const pkg = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
    return { file, specifier, pkg };
  });
}

function ruleApplies(rule: Rule, file: string): boolean {
  if (isTest(file) && !rule.from.includes("test/")) return false;
  return rule.from.some((p) => matches(file, p)) && !(rule.except ?? []).some((p) => matches(file, p));
}

function breaks(rule: Rule, imp: Import): boolean {
  if (imp.pkg !== undefined) return (rule.forbidPackages ?? []).includes(imp.pkg);
  const target = imp.target ?? "";
  if (rule.allowOnly && !rule.allowOnly.some((p) => matches(target, p))) return true;
  return (rule.forbid ?? []).some((p) => matches(target, p));
}

/** The violations in a set of files (path → source), one line each: "file → import → rule". */
function violations(files: Map<string, string>): { lines: string[]; importCount: number } {
  const lines: string[] = [];
  let importCount = 0;
  for (const [file, source] of files) {
    const imports = importsOf(file, source);
    importCount += imports.length;
    for (const rule of RULES) {
      if (!ruleApplies(rule, file)) continue;
      for (const imp of imports) if (breaks(rule, imp)) lines.push(`${file} → ${imp.specifier} → ${rule.name} (${rule.why})`);
    }
    if (!CONSOLE_JSON_RULE.allowedIn.includes(file)) {
      source.split("\n").forEach((line, i) => {
        if (CONSOLE_JSON.test(line)) lines.push(`${file}:${i + 1} → ${line.trim().slice(0, 100)} → ${CONSOLE_JSON_RULE.name} (${CONSOLE_JSON_RULE.why})`);
      });
    }
  }
  return { lines: [...new Set(lines)], importCount }; // a module imported twice (a type and a value) is one violation
}

function repositoryFiles(): Map<string, string> | null {
  let listing: string;
  try {
    // Tracked files and new ones git would add, so a check before the commit sees them too.
    listing = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return null; // not a git checkout (a downloaded archive): nothing to list
  }
  const files = new Map<string, string>();
  for (const file of new Set(listing.split("\0"))) {
    if (!SOURCE.test(file) || file.endsWith(".d.ts")) continue;
    try {
      files.set(file, readFileSync(file, "utf8"));
    } catch {
      // listed but deleted in the working tree
    }
  }
  return files;
}

const files = repositoryFiles();

describe("import boundaries", () => {
  it.skipIf(files === null)("no file imports across a boundary the rules forbid", () => {
    const { lines } = violations(files ?? new Map());
    expect(lines, "move the code to the room it belongs in, or go through the module the rule names").toEqual([]);
  });

  it.skipIf(files === null)("the scanner sees the repository's imports (so the rules cannot pass on nothing)", () => {
    const all = files ?? new Map();
    const { importCount } = violations(all);
    expect(all.size).toBeGreaterThan(200);
    expect(importCount).toBeGreaterThan(1000);
    // Each room the rules watch has files the rules apply to.
    for (const rule of RULES)
      expect(
        [...all.keys()].some((file) => ruleApplies(rule, file)),
        rule.name,
      ).toBe(true);
  });

  it("catches each rule's planted violation and passes the allowed imports", () => {
    const planted = new Map([
      ["db/schema/images.ts", 'import { isListed } from "../../common/images";'],
      ["common/images.ts", 'import type { AppEnv } from "../edge/env";'],
      ["edge/services/catalogue/search.ts", 'const x = await import("../../../gpu-worker/ml/clip");'],
      ["gpu-worker/jobs/image-process.ts", 'export { runImport } from "../../migrate/run";'],
      ["migrate/run.ts", 'import { config } from "../edge/config";'],
      ["edge/lib/route.ts", 'import { search } from "../services/catalogue/search";'],
      ["edge/services/commerce/cart.ts", 'import { idempotent } from "../../middleware/idempotency";'],
      ["edge/routes/images.ts", 'import { eq } from "drizzle-orm";\nimport { db } from "../../db/connect";\nimport { searchRoutes } from "./search";'],
      ["edge/index.ts", 'import { s3 } from "./dev/s3";'],
      ["edge/web/pages/storefront.tsx", 'import { db } from "../../../db/connect";\nimport { searchRoutes } from "../../routes/search";'],
      ["edge/services/catalogue/image-page.ts", 'import { render } from "../../web/layout";'],
      ["migrate/analyse-thread.ts", 'import sharp from "sharp";'],
      ["gpu-worker/ml/clip.ts", 'import * as ort from "onnxruntime-node";'],
      ["gpu-worker/runner.ts", `console.error(${"JSON"}.stringify({ msg: "x" }));`],
    ]);
    const { lines } = violations(planted);
    const broken = new Set(lines.map((line) => line.split(" → ")[2]?.replace(/ \(.*$/, "")));
    expect([...broken].sort()).toEqual([...RULES.map((r) => r.name), CONSOLE_JSON_RULE.name].sort());
    expect(lines).toContain(`edge/routes/images.ts → ./search → ${RULES[7]?.name} (${RULES[7]?.why})`);
    expect(lines).toHaveLength(17);

    const allowed = new Map([
      ["db/schema/images.ts", 'import { pgTable } from "drizzle-orm/pg-core";\nimport { timestamps } from "./columns";'],
      ["db/connect.ts", 'import { log } from "../common/log";'],
      ["edge/local.ts", 'import { localRoutes } from "./dev/routes";\nimport app from "./app";'],
      ["edge/routes/images.ts", 'import { imagePage } from "../services/catalogue/image-page";\nimport { route } from "../lib/route";'],
      ["edge/web/pages/storefront.tsx", 'import { imagePage } from "../../services/catalogue/image-page";\nimport { render } from "../layout";'],
      ["edge/app.ts", 'import { webRoutes } from "./web/app";'],
      ["gpu-worker/imaging.ts", 'import sharp from "sharp";'],
      ["gpu-worker/ml/onnx.ts", 'import * as ort from "onnxruntime-node";'],
      ["test/worker/clean-original.test.ts", 'import sharp from "sharp";\nimport { s3 } from "../../edge/dev/s3";'],
      ["common/log.ts", `console.log(${"JSON"}.stringify(line));`],
    ]);
    expect(violations(allowed).lines).toEqual([]);
  });
});
