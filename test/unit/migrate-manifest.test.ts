import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ManifestError, type ManifestRow, readManifest } from "../../migrate/manifest";

const dir = mkdtempSync(join(tmpdir(), "migrate-manifest-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function read(extension: string, content: string): Promise<ManifestRow[]> {
  const file = join(dir, `m${n++}.${extension}`);
  writeFileSync(file, content);
  const rows: ManifestRow[] = [];
  for await (const row of readManifest(file, "/photos")) rows.push(row);
  return rows;
}

async function failure(extension: string, content: string): Promise<string> {
  try {
    await read(extension, content);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return (error as Error).message;
  }
  throw new Error("the manifest was accepted");
}

describe("CSV manifests", () => {
  it("reads quoted fields with commas, quotes and line breaks, and resolves paths against the folder", async () => {
    const rows = await read(
      "csv",
      "path,title,description,keywords,editorial,category\n" +
        'beach/one.jpg,"Sunset, with ""quotes""","Two\nlines",beach; sea | sunset,yes,nature\n' +
        "/elsewhere/two.png,Plain,,,,\n",
    );
    expect(rows).toEqual([
      {
        sourcePath: "/photos/beach/one.jpg",
        title: 'Sunset, with "quotes"',
        description: "Two\nlines",
        keywords: ["beach", "sea", "sunset"],
        editorial: true,
        category: "nature",
        line: 3,
      },
      { sourcePath: "/elsewhere/two.png", title: "Plain", line: 4 },
    ]);
  });

  it("accepts any column order, a BOM, CRLF line ends, blank lines and keywords split by commas in quotes", async () => {
    const rows = await read("csv", '\uFEFFkeywords,path\r\n"a, b ,c",x.jpg\r\n\r\n,y.jpg\r\n');
    expect(rows.map((r) => [r.sourcePath, r.keywords])).toEqual([
      ["/photos/x.jpg", ["a", "b", "c"]],
      ["/photos/y.jpg", undefined],
    ]);
  });

  it("reads editorial as true/false, yes/no or 1/0", async () => {
    const rows = await read("csv", "path,editorial\na.jpg,TRUE\nb.jpg,no\nc.jpg,1\nd.jpg,0\n");
    expect(rows.map((r) => r.editorial)).toEqual([true, false, true, false]);
  });

  it("names the line of a bad row", async () => {
    expect(await failure("csv", "path,editorial\na.jpg,yes\nb.jpg,maybe\n")).toMatch(/m\d+\.csv:3: editorial must be true or false/);
    expect(await failure("csv", `path,title\na.jpg,${"x".repeat(201)}\n`)).toMatch(/:2: title is longer than 200 characters/);
    expect(await failure("csv", "path,category\na.jpg,Not A Slug\n")).toMatch(/:2: category must be a category slug/);
    expect(await failure("csv", "path,title\n,Untitled\n")).toMatch(/:2: path is missing/);
  });

  it("refuses unknown columns and broken quoting", async () => {
    expect(await failure("csv", "path,titel\na.jpg,x\n")).toMatch(/:2: unknown column "titel"/);
    expect(await failure("csv", 'path,title\na.jpg,"open\n')).toMatch(/Quote Not Closed/i);
    expect(await failure("csv", "path,title\na.jpg,x,extra\n")).toMatch(/m\d+\.csv:2:/);
  });

  it("reads the credit, its licence and source, and limits their length", async () => {
    const rows = await read(
      "csv",
      'path,credit,credit_license,credit_source\nfig.jpg,"Trevor ""Freespace""",CC-BY-4.0,"Debian package lomiri-wallpapers-16.04, /usr/share/backgrounds/x.jpg"\nown.jpg,,,\n',
    );
    expect(rows).toEqual([
      {
        sourcePath: "/photos/fig.jpg",
        credit: 'Trevor "Freespace"',
        creditLicense: "CC-BY-4.0",
        creditSource: "Debian package lomiri-wallpapers-16.04, /usr/share/backgrounds/x.jpg",
        line: 2,
      },
      { sourcePath: "/photos/own.jpg", line: 3 },
    ]);
    expect(await failure("csv", `path,credit\na.jpg,${"c".repeat(301)}\n`)).toMatch(/:2: credit is longer than 300 characters/);
    expect(await failure("jsonl", '{"path":"a.jpg","credit_license":7}\n')).toMatch(/:1: credit_license must be text/);
  });

  it("limits keywords as uploads do", async () => {
    const many = Array.from({ length: 51 }, (_, i) => `k${i}`).join(";");
    expect(await failure("csv", `path,keywords\na.jpg,${many}\n`)).toMatch(/at most 50 keywords/);
  });
});

describe("JSONL manifests", () => {
  it("reads one object per line, keywords as a list or a string, null as absent", async () => {
    const rows = await read(
      "jsonl",
      '{"path":"a.jpg","title":"A","keywords":["x","y"],"editorial":false}\n\n{"path":"b/c.webp","keywords":"p; q","description":null,"category":"travel"}\n',
    );
    expect(rows).toEqual([
      { sourcePath: "/photos/a.jpg", title: "A", keywords: ["x", "y"], editorial: false, line: 1 },
      { sourcePath: "/photos/b/c.webp", keywords: ["p", "q"], category: "travel", line: 3 },
    ]);
  });

  it("names the line of invalid JSON, a non-object, a wrong type or an unknown key", async () => {
    expect(await failure("jsonl", '{"path":"a.jpg"}\n{"path": "b.jpg",\n')).toMatch(/m\d+\.jsonl:2: not JSON/);
    expect(await failure("jsonl", '["a.jpg"]\n')).toMatch(/:1: each line must be a JSON object/);
    expect(await failure("jsonl", '{"path":"a.jpg","editorial":"yes"}\n')).toMatch(/:1: editorial must be true or false/);
    expect(await failure("jsonl", '{"path":"a.jpg","tags":["x"]}\n')).toMatch(/:1: unknown key "tags"/);
    expect(await failure("jsonl", '{"title":"x"}\n')).toMatch(/:1: path is missing/);
  });

  it("refuses other file types", async () => {
    expect(() => readManifest(join(dir, "m.xlsx"), "/photos")).toThrow(ManifestError);
  });
});
