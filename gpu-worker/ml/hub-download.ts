import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { link, mkdir, open, readFile, rename, rm, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import * as v from "valibot";

/**
 * A small Hugging Face Hub client for one job: put a model repository's files into a local folder,
 * completely or not at all. It speaks the Hub's HTTP contract, so `HF_ENDPOINT` can name a mirror:
 *
 *   - `GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`: the commit the revision points
 *     at (`sha`) and every file with its size, git blob id and, for LFS/Xet files, `lfs.sha256`
 *     (what huggingface_hub's `model_info(files_metadata=True)` and snapshot_download read). Files are
 *     then fetched at that commit, so one download never mixes two revisions.
 *   - `GET {endpoint}/{repo}/resolve/{commit}/{path}`: the file, or for LFS/Xet files a 302 to a CDN
 *     with `X-Linked-Size` and `X-Linked-Etag` (the sha256). The token goes to the Hub only, never to the
 *     CDN. `Range: bytes=N-` resumes a partial file (206; 416 when the range is past the end).
 *
 * Why not `@huggingface/hub`: its `downloadFile` hands back a Blob (no resumable write to disk) and
 * `downloadFileToCacheDir` writes the HF cache layout (blobs + symlinks) without Range resumption or a
 * checksum; the folder the loader reads must appear atomically and be verified, so that part would be ours
 * anyway, and the two HTTP calls are a few lines.
 *
 * Guarantees of `pullRepoFolder`: every file is checked against the size and hash the Hub lists (sha256 for
 * LFS files, the git blob sha1 otherwise); files land in `<dir>.partial/` and the folder is renamed to `<dir>`
 * only when all are verified, so a reader sees a complete folder or none; an interrupted file resumes with a
 * Range request (in the same call after a dropped connection, or on the next start); `<dir>.lock` keeps two
 * processes from downloading the same folder at once (the second waits, then finds the folder).
 */

export type HubFailure = "unauthorized" | "not-found" | "offline" | "refused" | "corrupt" | "unusable";

/** An expected failure, with the kind of problem so callers can say what to do about it. */
export class HubError extends Error {
  constructor(
    readonly kind: HubFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "HubError";
  }
}

/** One file of a repository at a commit, as the Hub lists it. */
export interface HubFile {
  path: string;
  size: number;
  /** sha256 of the content (LFS and Xet files). */
  sha256?: string;
  /** git blob sha1 (`blobId`), checked when there is no sha256. */
  gitOid?: string;
}

export interface HubSnapshot {
  repo: string;
  commit: string;
  files: HubFile[];
}

export interface HubClientOptions {
  /** `HF_ENDPOINT`, e.g. https://huggingface.co (no trailing slash needed). */
  endpoint: string;
  /** `HF_TOKEN`: sent as a bearer token to the endpoint (never to the CDN it redirects to). */
  token?: string;
  /** Branch, tag or commit (default `main`). */
  revision?: string;
  /** Abort a request whose headers take longer (default 30 s). */
  requestTimeoutMs?: number;
  /** Abort a body that stops flowing for this long (default 60 s). */
  stallTimeoutMs?: number;
  /** Tries per file when the connection drops (default 5); each retry resumes where the last stopped. */
  attempts?: number;
  /** Wait before the first retry, doubled each time (default 1 s). */
  retryDelayMs?: number;
}

/** Byte counts for a progress display. */
export interface PullProgress {
  file: string;
  fileBytes: number;
  fileSize: number;
  doneBytes: number;
  totalBytes: number;
}

const Revision = v.object({
  sha: v.pipe(v.string(), v.regex(/^[0-9a-f]{40}$/)),
  siblings: v.array(
    v.object({
      rfilename: v.string(),
      size: v.optional(v.number()),
      blobId: v.optional(v.string()),
      lfs: v.optional(v.object({ sha256: v.string(), size: v.number() })),
    }),
  ),
});

const trimSlash = (s: string) => s.replace(/\/+$/, "");
const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

function authHeaders(options: HubClientOptions): Record<string, string> {
  return options.token ? { authorization: `Bearer ${options.token}` } : {};
}

/** What the Hub said, for a message: its `X-Error-Message` header or a short body. */
async function hubMessage(res: Response): Promise<string> {
  const header = res.headers.get("x-error-message");
  if (header) return header;
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === "string") return body.error;
  } catch {}
  return text.slice(0, 200) || res.statusText;
}

async function failureOf(res: Response, what: string): Promise<HubError> {
  const message = `${what}: HTTP ${res.status} ${await hubMessage(res)}`;
  if (res.status === 401 || res.status === 403)
    return new HubError("unauthorized", `${message} (a private or gated repository needs HF_TOKEN; a wrong token is refused)`, res.status);
  if (res.status === 404) return new HubError("not-found", message, res.status);
  return new HubError("refused", message, res.status);
}

function networkFailure(error: unknown, url: string): HubError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (error as Error).message;
  return new HubError("offline", `cannot reach ${new URL(url).origin} (${detail})`);
}

/** fetch with a header timeout; network failures become `offline` HubErrors. */
async function request(url: string, init: RequestInit, options: HubClientOptions): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(options.requestTimeoutMs ?? 30_000) });
  } catch (error) {
    throw networkFailure(error, url);
  }
}

/**
 * The commit a revision points at and the files there, with sizes and hashes.
 * @example const { commit, files } = await getRepoSnapshot("immich-app/ViT-B-32__openai", { endpoint: "https://huggingface.co" });
 */
/** A relative path of plain segments: no leading slash, no `.` or `..` segment, no backslash or NUL. */
export function isRepoPath(path: string): boolean {
  if (path.length === 0 || path.length > 1000 || path.startsWith("/") || /[\\\0]/.test(path)) return false;
  return path.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

export async function getRepoSnapshot(repo: string, options: HubClientOptions): Promise<HubSnapshot> {
  const url = `${trimSlash(options.endpoint)}/api/models/${repo}/revision/${encodeURIComponent(options.revision ?? "main")}?blobs=true`;
  const res = await request(url, { headers: { accept: "application/json", ...authHeaders(options) } }, options);
  if (!res.ok) throw await failureOf(res, `listing ${repo}`);
  const parsed = v.safeParse(Revision, await res.json().catch(() => null));
  if (!parsed.success) throw new HubError("refused", `listing ${repo}: the answer is not the Hub's revision document (${v.summarize(parsed.issues).replaceAll("\n", "; ")})`);
  const files = parsed.output.siblings.map((s): HubFile => {
    // A listing names paths inside the repository; one that could land outside the model folder is refused.
    if (!isRepoPath(s.rfilename)) throw new HubError("refused", `listing ${repo}: ${JSON.stringify(s.rfilename)} is not a path inside the repository`);
    const size = s.lfs?.size ?? s.size;
    if (size === undefined) throw new HubError("refused", `listing ${repo}: no size for ${s.rfilename} (is ?blobs=true supported by ${options.endpoint}?)`);
    return { path: s.rfilename, size, ...(s.lfs ? { sha256: s.lfs.sha256 } : {}), ...(s.blobId ? { gitOid: s.blobId } : {}) };
  });
  return { repo, commit: parsed.output.sha, files };
}

/**
 * GET a file at a commit, following the Hub's redirect to its CDN by hand: the bearer token stays on the
 * endpoint's origin, and the linked size/etag of the redirect are returned for checking.
 */
async function openFile(snapshot: HubSnapshot, file: HubFile, from: number, options: HubClientOptions, signal: AbortSignal) {
  let url = `${trimSlash(options.endpoint)}/${snapshot.repo}/resolve/${snapshot.commit}/${encodePath(file.path)}`;
  const origin = new URL(url).origin;
  const linked: { size?: number; etag?: string } = {};
  for (let hop = 0; hop < 5; hop++) {
    const headers: Record<string, string> = { ...(new URL(url).origin === origin ? authHeaders(options) : {}), ...(from > 0 ? { range: `bytes=${from}-` } : {}) };
    // The timeout covers the headers only: the body may take minutes (the stall timer watches it).
    const headerTimeout = new AbortController();
    const timer = setTimeout(() => headerTimeout.abort(new Error("no response headers in time")), options.requestTimeoutMs ?? 30_000);
    const res = await request(url, { headers, redirect: "manual", signal: AbortSignal.any([signal, headerTimeout.signal]) }, options).finally(() => clearTimeout(timer));
    if (res.status >= 300 && res.status < 400) {
      const size = res.headers.get("x-linked-size");
      const etag = res.headers.get("x-linked-etag");
      if (size !== null) linked.size = Number(size);
      if (etag !== null) linked.etag = etag.replace(/^W\//, "").replaceAll('"', "");
      const location = res.headers.get("location");
      await res.body?.cancel();
      if (!location) throw new HubError("refused", `${file.path}: HTTP ${res.status} without a Location`, res.status);
      url = new URL(location, url).toString();
      continue;
    }
    return { res, linked };
  }
  throw new HubError("refused", `${file.path}: too many redirects`);
}

async function sizeOf(path: string): Promise<number | null> {
  return stat(path).then(
    (s) => s.size,
    () => null,
  );
}

/** sha256 of the content, or git's blob sha1 (`blob <size>\0<content>`). */
async function hashFile(path: string, kind: "sha256" | "git"): Promise<string> {
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git") hash.update(`blob ${(await stat(path)).size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Null when the file matches the listing, else why not. */
async function verifyFile(path: string, file: HubFile): Promise<string | null> {
  const size = await sizeOf(path);
  if (size !== file.size) return `${size ?? "no"} bytes where the Hub lists ${file.size}`;
  if (file.sha256) {
    const got = await hashFile(path, "sha256");
    return got === file.sha256 ? null : `sha256 ${got} where the Hub lists ${file.sha256}`;
  }
  if (file.gitOid) {
    const got = await hashFile(path, "git");
    return got === file.gitOid ? null : `git blob ${got} where the Hub lists ${file.gitOid}`;
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Downloads one file to `dest` via `dest.incomplete`, resuming what is there with a Range request, and
 * renames it into place once its size and hash match the listing. A mismatch deletes the bytes and throws
 * `corrupt` (the same bytes would come again); a dropped connection is retried from where it stopped.
 */
async function downloadFile(snapshot: HubSnapshot, file: HubFile, dest: string, options: HubClientOptions, onBytes: (fileBytes: number) => void): Promise<void> {
  const partial = `${dest}.incomplete`;
  await mkdir(dirname(dest), { recursive: true });
  const attempts = options.attempts ?? 5;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let have = (await sizeOf(partial)) ?? 0;
    if (have > file.size) {
      await rm(partial, { force: true });
      have = 0;
    }
    onBytes(have);
    if (have < file.size || file.size === 0) {
      const stall = new AbortController();
      let stallTimer: NodeJS.Timeout | undefined;
      const armStall = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => stall.abort(new Error(`no data for ${options.stallTimeoutMs ?? 60_000} ms`)), options.stallTimeoutMs ?? 60_000);
      };
      try {
        armStall();
        const { res, linked } = await openFile(snapshot, file, have, options, stall.signal);
        if (linked.size !== undefined && linked.size !== file.size)
          throw new HubError("corrupt", `${file.path}: X-Linked-Size ${linked.size} differs from the listed ${file.size}`);
        if (linked.etag !== undefined && file.sha256 !== undefined && linked.etag !== file.sha256)
          throw new HubError("corrupt", `${file.path}: X-Linked-Etag ${linked.etag} differs from the listed sha256 ${file.sha256}`);
        if (res.status === 416) {
          // The server says our bytes reach past the file: start again.
          await res.body?.cancel();
          await rm(partial, { force: true });
          continue;
        }
        if (res.status !== 200 && res.status !== 206) throw await failureOf(res, `downloading ${snapshot.repo}/${file.path}`);
        let append = res.status === 206;
        if (append) {
          const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
          if (Number(start) !== have) append = false;
          if (!append) {
            await res.body?.cancel();
            await rm(partial, { force: true });
            continue;
          }
        } else have = 0;
        const out = createWriteStream(partial, { flags: append ? "a" : "w" });
        out.on("error", () => {}); // reported by end() below
        try {
          if (res.body) {
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
              armStall();
              if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
              have += chunk.byteLength;
              onBytes(have);
            }
          }
        } finally {
          await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
        }
      } catch (error) {
        const retryable = !(error instanceof HubError) || error.kind === "offline" || (error.kind === "refused" && (error.status ?? 0) >= 500);
        if (!retryable) throw error;
        lastError = error;
        if (attempt < attempts) await sleep((options.retryDelayMs ?? 1000) * 2 ** (attempt - 1));
        continue;
      } finally {
        clearTimeout(stallTimer);
      }
    }
    if (((await sizeOf(partial)) ?? 0) < file.size) {
      lastError = new Error("the response ended before the file did");
      continue;
    }
    const problem = await verifyFile(partial, file);
    if (problem !== null) {
      await rm(partial, { force: true });
      throw new HubError("corrupt", `${snapshot.repo}/${file.path} at ${snapshot.commit.slice(0, 12)}: ${problem}; not installed`);
    }
    await rename(partial, dest);
    return;
  }
  if (lastError instanceof HubError) throw lastError;
  throw new HubError(
    "offline",
    `${snapshot.repo}/${file.path}: download failed ${attempts} times (${lastError instanceof Error ? lastError.message : String(lastError)}); the next start resumes it`,
  );
}

// ---- the lock ---------------------------------------------------------------------------------------

interface LockInfo {
  token: string;
  pid: number;
  host: string;
}

/** A lock older than this without a refresh belongs to a process that died on another host. */
const LOCK_STALE_MS = 120_000;
const LOCK_REFRESH_MS = 15_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readLock(path: string): Promise<{ info: LockInfo | null; mtimeMs: number } | null> {
  try {
    const [text, s] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    let info: LockInfo | null = null;
    try {
      info = JSON.parse(text) as LockInfo;
    } catch {}
    return { info, mtimeMs: s.mtimeMs };
  } catch {
    return null;
  }
}

/**
 * Takes `path` exclusively (O_EXCL), waiting while a live process holds it; a lock whose process is gone
 * (same host) or that has not been refreshed for two minutes (another host) is taken over. The holder
 * refreshes its mtime while it works. Returns the release function.
 */
export async function acquireLock(path: string, options: { pollMs?: number; onWait?: (holder: LockInfo | null) => void } = {}): Promise<() => Promise<void>> {
  const mine: LockInfo = { token: randomUUID(), pid: process.pid, host: hostname() };
  let told = false;
  for (;;) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(JSON.stringify(mine));
      await handle.close();
      const refresh = setInterval(() => void utimes(path, new Date(), new Date()).catch(() => {}), LOCK_REFRESH_MS);
      refresh.unref();
      return async () => {
        clearInterval(refresh);
        const current = await readLock(path);
        if (current?.info?.token === mine.token) await unlink(path).catch(() => {});
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const held = await readLock(path);
    if (held === null) continue;
    const dead = held.info !== null && held.info.host === mine.host ? !processAlive(held.info.pid) : Date.now() - held.mtimeMs > LOCK_STALE_MS;
    if (dead) {
      // Move the stale lock aside atomically; if a live one was moved by mistake (it changed since we read it), put it back.
      const aside = `${path}.stale-${mine.token}`;
      try {
        await rename(path, aside);
        const moved = await readLock(aside);
        if (moved?.info?.token !== held.info?.token) await link(aside, path).catch(() => {});
        await unlink(aside).catch(() => {});
      } catch {}
      continue;
    }
    if (!told) {
      options.onWait?.(held.info);
      told = true;
    }
    await sleep(options.pollMs ?? 500);
  }
}

// ---- a whole folder -----------------------------------------------------------------------------------

export interface PullOptions extends HubClientOptions {
  repo: string;
  /** The folder to create; it appears only complete. */
  dir: string;
  /** Which of the listed files to fetch; throw (`unusable`) when the repo has nothing usable. */
  select?: (files: HubFile[]) => HubFile[];
  log?: (level: "info" | "warn", msg: string, extra?: Record<string, unknown>) => void;
  progress?: (p: PullProgress) => void;
}

export interface PullResult {
  /** `present`: the folder was already there (perhaps made by another process meanwhile). */
  state: "present" | "downloaded";
  commit?: string;
  bytes?: number;
}

const MARKER = ".edgestock-pull.json";
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * Makes `dir` hold the selected files of `repo` at `revision`, or leaves it absent and throws a HubError.
 * @example await pullRepoFolder({ endpoint: "https://huggingface.co", repo: "immich-app/ViT-B-32__openai", dir: ".data/models/clip/ViT-B-32__openai" });
 */
export async function pullRepoFolder(options: PullOptions): Promise<PullResult> {
  const { dir, repo } = options;
  if (await exists(dir)) return { state: "present" };
  await mkdir(dirname(dir), { recursive: true });
  const release = await acquireLock(`${dir}.lock`, {
    onWait: (holder) => options.log?.("info", `another process is downloading ${repo}; waiting for it`, { holder: holder ? `${holder.host}:${holder.pid}` : "unknown" }),
  });
  try {
    if (await exists(dir)) return { state: "present" };
    const snapshot = await getRepoSnapshot(repo, options);
    const files = options.select ? options.select(snapshot.files) : snapshot.files;
    const partial = `${dir}.partial`;
    // Bytes left by an interrupted pull of the same commit are resumed; of another commit, discarded.
    const marker = await readFile(join(partial, MARKER), "utf8").then(
      (t) => JSON.parse(t) as { repo?: string; commit?: string },
      () => null,
    );
    if (marker === null || marker.repo !== repo || marker.commit !== snapshot.commit) {
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true });
      await writeFile(join(partial, MARKER), JSON.stringify({ repo, commit: snapshot.commit }));
    }
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    options.log?.("info", `downloading ${repo} (${(totalBytes / 1e6).toFixed(1)} MB, ${files.length} files) into ${dir}`, { commit: snapshot.commit, endpoint: options.endpoint });
    let doneBytes = 0;
    for (const file of files) {
      const dest = join(partial, file.path);
      if ((await exists(dest)) && (await verifyFile(dest, file)) === null) {
        doneBytes += file.size;
        continue;
      }
      await rm(dest, { force: true });
      await downloadFile(snapshot, file, dest, options, (fileBytes) =>
        options.progress?.({ file: file.path, fileBytes, fileSize: file.size, doneBytes: doneBytes + fileBytes, totalBytes }),
      );
      doneBytes += file.size;
    }
    await rm(join(partial, MARKER), { force: true });
    await rename(partial, dir);
    options.log?.("info", `downloaded ${repo} into ${dir}`, { commit: snapshot.commit, bytes: totalBytes });
    return { state: "downloaded", commit: snapshot.commit, bytes: totalBytes };
  } finally {
    await release();
  }
}

// ---- progress -----------------------------------------------------------------------------------------

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/**
 * A progress display for `pullRepoFolder`: a bar redrawn on stderr when it is a terminal, otherwise one
 * log line every `intervalMs` (default 10 s). Call `done()` after the pull.
 */
export function progressReporter(
  label: string,
  options: { stream?: NodeJS.WriteStream; log?: (msg: string, extra: Record<string, unknown>) => void; intervalMs?: number } = {},
): { progress: (p: PullProgress) => void; done: () => void } {
  const stream = options.stream ?? process.stderr;
  const started = Date.now();
  let last = 0;
  let drawn = false;
  const line = (p: PullProgress) => {
    const fraction = p.totalBytes > 0 ? p.doneBytes / p.totalBytes : 1;
    const rate = p.doneBytes / Math.max(0.001, (Date.now() - started) / 1000);
    return { fraction, rate };
  };
  return {
    progress(p) {
      const now = Date.now();
      if (stream.isTTY) {
        if (now - last < 100 && p.doneBytes < p.totalBytes) return;
        last = now;
        const { fraction, rate } = line(p);
        const width = 30;
        const filled = Math.round(fraction * width);
        const text = `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${mb(p.doneBytes)}/${mb(p.totalBytes)} MB ${mb(rate)} MB/s ${p.file}`;
        stream.write(`\r${text.slice(0, (stream.columns || 120) - 1).padEnd(Math.min(text.length, (stream.columns || 120) - 1))}`);
        drawn = true;
      } else if (now - last >= (options.intervalMs ?? 10_000)) {
        last = now;
        const { fraction, rate } = line(p);
        options.log?.(`downloading ${label}: ${(fraction * 100).toFixed(0)}%`, {
          file: p.file,
          mb: Number(mb(p.doneBytes)),
          totalMb: Number(mb(p.totalBytes)),
          mbPerSecond: Number(mb(rate)),
        });
      }
    },
    done() {
      if (drawn) stream.write("\n");
      drawn = false;
    },
  };
}
