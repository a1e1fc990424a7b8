import type { Dir, Dirent } from "node:fs";
import { lstat, opendir } from "node:fs/promises";
import { extname, join, resolve } from "node:path";

/**
 * The folder walk: an async generator over `opendir`, depth first, so a folder of millions of files
 * is never listed into memory (one open directory handle per depth level). Yields the absolute path
 * of every file with an accepted image extension (JPEG, PNG, TIFF, WebP, AVIF, any case). Hidden
 * files and folders (a leading dot) and symbolic links are skipped. Within a folder of up to
 * SORTED_UP_TO entries the walk goes in name order; a larger folder goes in the order the file system
 * lists it (stable for an unchanged folder), so memory stays bounded. Either way a resumed run sees
 * the files in the same order as the run it continues, and the first path of some content (the one
 * listed; later copies are duplicates) is the same.
 */

/** Folders with at most this many entries are walked in name order (their names are held to sort them). */
export const SORTED_UP_TO = 10_000;

/** Extensions the walk picks up, lower-case; the content is checked later from its signature. */
export const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".avif"]);

/** Whether a file name has an accepted image extension (case-insensitive) and is not hidden. */
export function isImageName(name: string): boolean {
  return !name.startsWith(".") && IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

export type WalkOptions = {
  /** Called for a folder that cannot be read (permissions, removed meanwhile); the walk goes on. Default: throw. */
  onUnreadable?: (path: string, error: Error) => void;
};

/** Some file systems do not report entry types from readdir; ask lstat then. */
async function kindOf(entry: Dirent, path: string): Promise<"file" | "directory" | "other"> {
  if (entry.isFile()) return "file";
  if (entry.isDirectory()) return "directory";
  if (entry.isSymbolicLink() || entry.isFIFO() || entry.isSocket() || entry.isBlockDevice() || entry.isCharacterDevice()) return "other";
  const stats = await lstat(path);
  return stats.isFile() ? "file" : stats.isDirectory() ? "directory" : "other";
}

async function* walkFolder(dir: string, options: WalkOptions): AsyncGenerator<string> {
  let handle: Dir;
  try {
    handle = await opendir(dir, { bufferSize: 128 });
  } catch (error) {
    if (!options.onUnreadable) throw error;
    options.onUnreadable(dir, error as Error);
    return;
  }
  try {
    for await (const entry of entriesOf(handle)) {
      if (entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      const kind = await kindOf(entry, path);
      if (kind === "directory") yield* walkFolder(path, options);
      else if (kind === "file" && isImageName(entry.name)) yield path;
    }
  } finally {
    // Also when the consumer stops early (the generator's return) or a read throws.
    await handle.close().catch(() => {});
  }
}

/** A folder's entries: sorted by name when there are at most SORTED_UP_TO, else as listed. */
async function* entriesOf(handle: Dir): AsyncGenerator<Dirent> {
  const first: Dirent[] = [];
  let entry: Dirent | null = null;
  while ((entry = await handle.read()) !== null) {
    first.push(entry);
    if (first.length > SORTED_UP_TO) break;
  }
  if (entry === null) {
    yield* first.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return;
  }
  yield* first;
  while ((entry = await handle.read()) !== null) yield entry;
}

/**
 * Every image file under `root`, as absolute paths.
 *
 * @example
 * for await (const path of walkImages("/photos")) console.log(path); // "/photos/2019/beach.JPG", ...
 */
export function walkImages(root: string, options: WalkOptions = {}): AsyncGenerator<string> {
  return walkFolder(resolve(root), options);
}
