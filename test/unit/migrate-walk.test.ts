import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isImageName, SORTED_UP_TO, walkImages } from "../../migrate/walk";

const collect = async (root: string, options = {}) => {
  const paths: string[] = [];
  for await (const path of walkImages(root, options)) paths.push(path);
  return paths;
};

describe("the migration walk", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "migrate-walk-"));
    mkdirSync(join(root, "a/b/c"), { recursive: true });
    mkdirSync(join(root, ".cache/thumbs"), { recursive: true });
    for (const name of ["z.jpg", "b.JPEG", "a.png", "notes.txt", "doc.pdf", ".hidden.jpg", "README", "photo.jpg.bak"]) writeFileSync(join(root, name), "x");
    for (const name of ["x.TIF", "y.tiff", "w.WebP"]) writeFileSync(join(root, "a", name), "x");
    writeFileSync(join(root, "a/b/c/deep.avif"), "x");
    writeFileSync(join(root, "a/b/c/deep.jpe"), "x");
    writeFileSync(join(root, ".cache/thumbs/t.jpg"), "x");
    symlinkSync(join(root, "z.jpg"), join(root, "link.jpg"));
    symlinkSync(join(root, "a"), join(root, "linked-folder"));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("finds every image in a nested tree, extensions in any case, in name order per folder", async () => {
    // Depth first, names compared as strings: the folder "a" comes before the file "a.png".
    expect(await collect(root)).toEqual([
      join(root, "a/b/c/deep.avif"),
      join(root, "a/b/c/deep.jpe"),
      join(root, "a/w.WebP"),
      join(root, "a/x.TIF"),
      join(root, "a/y.tiff"),
      join(root, "a.png"),
      join(root, "b.JPEG"),
      join(root, "z.jpg"),
    ]);
  });

  it("skips non-images, hidden files and folders, and symbolic links", async () => {
    const found = await collect(root);
    for (const skipped of ["notes.txt", "doc.pdf", ".hidden.jpg", "README", "photo.jpg.bak", ".cache/thumbs/t.jpg", "link.jpg", "linked-folder/x.TIF"]) {
      expect(found).not.toContain(join(root, skipped));
    }
  });

  it("yields absolute paths from a relative root", async () => {
    const relative = join(root, "a", "..", "a");
    expect((await collect(relative)).every((path) => path.startsWith(join(root, "a/")))).toBe(true);
  });

  it("stops reading when the consumer stops early", async () => {
    const first: string[] = [];
    for await (const path of walkImages(root)) {
      first.push(path);
      if (first.length === 2) break;
    }
    expect(first).toHaveLength(2);
    // The handles were closed: walking again from the start works and sees everything.
    expect(await collect(root)).toHaveLength(8);
  });

  it("reports an unreadable folder and walks on, or throws without a handler", async () => {
    const missing = join(root, "gone");
    const seen: string[] = [];
    expect(await collect(missing, { onUnreadable: (path: string) => seen.push(path) })).toEqual([]);
    expect(seen).toEqual([missing]);
    await expect(collect(missing)).rejects.toThrow(/ENOENT/);
  });

  it("names images by extension only", () => {
    expect(["a.jpg", "a.JPG", "a.jpeg", "a.png", "a.tif", "a.TIFF", "a.webp", "a.avif"].every(isImageName)).toBe(true);
    expect(["a.gif", "a.heic", "a.jpg.txt", ".a.jpg", "jpg"].some(isImageName)).toBe(false);
  });

  it("walks a folder larger than the sorting limit completely", async () => {
    const big = mkdtempSync(join(tmpdir(), "migrate-walk-big-"));
    try {
      const count = SORTED_UP_TO + 5;
      for (let i = 0; i < count; i++) writeFileSync(join(big, `${i}.jpg`), "");
      const found = await collect(big);
      expect(found).toHaveLength(count);
      expect(new Set(found).size).toBe(count);
    } finally {
      rmSync(big, { recursive: true, force: true });
    }
  });
});
