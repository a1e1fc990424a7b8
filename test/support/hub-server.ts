import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";

/**
 * A local stand-in for the Hugging Face Hub, speaking its HTTP contract for exactly what a model download
 * uses, so `HF_ENDPOINT` can point at it:
 *
 *   - `GET /api/models/{owner}/{repo}/revision/{rev}[?blobs=true]`: `{ id, sha, siblings: [{ rfilename, size,
 *     blobId, lfs: { sha256, size, pointerSize } }] }`; sizes, blob ids and `lfs` only with `blobs=true`, as the Hub.
 *   - `GET /{owner}/{repo}/resolve/{rev}/{path}`: small files served directly (`ETag` = the git blob sha1);
 *     LFS files (`.onnx` here) answered with a 302 to `/cdn/{sha256}` on a second port (another origin, as
 *     the Hub's CDN is another host) carrying `X-Linked-Size`, `X-Linked-Etag`
 *     and `X-Repo-Commit`, as the Hub redirects to its CDN.
 *   - Both the resolve and CDN responses honour `Range: bytes=N-` (206 with `Content-Range`; 416 with
 *     `Content-Range: bytes * /size` past the end).
 *   - With a token set, the API and resolve calls need `Authorization: Bearer <token>` (401 otherwise); unknown
 *     repos and revisions are 404 with `X-Error-Code: RepoNotFound` / `RevisionNotFound`.
 *
 * Faults for tests: `dropAfter` (path → bytes: the first full GET of the file sends that many bytes of a
 * complete-length response, then destroys the socket), `corrupt` (paths served with one byte flipped while the
 * listing keeps the true hash). Every request is recorded (path, Range, whether it carried a token).
 */

export interface HubRequest {
  method: string;
  path: string;
  /** The repository file a CDN request is for (its `path` query parameter); null elsewhere. */
  file: string | null;
  range: string | null;
  authorization: string | null;
}

export interface HubRepoFile {
  content: Buffer;
  lfs: boolean;
  sha256: string;
  gitOid: string;
}

export interface LocalHub {
  url: string;
  /** The "CDN" LFS downloads are redirected to: another origin (port), as the Hub's CDN is another host. */
  cdnUrl: string;
  requests: HubRequest[];
  /** Adds (or replaces) a repository from a folder; `.onnx` files become LFS files. Returns its commit sha. */
  addRepoFromDir(repo: string, dir: string, extra?: Record<string, Buffer>): Promise<string>;
  dropAfter: Map<string, number>;
  corrupt: Set<string>;
  /** When set, API and resolve requests must carry it as a bearer token. */
  token: string | null;
  /** Artificial delay per body chunk of LFS files, to let concurrent clients overlap. */
  chunkDelayMs: number;
  close(): Promise<void>;
}

const gitBlobSha1 = (content: Buffer) => createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");

async function filesOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)).split("\\").join("/"));
  }
  return out.sort();
}

/** Starts the stand-in on a free port of 127.0.0.1. */
export async function startLocalHub(): Promise<LocalHub> {
  const repos = new Map<string, { commit: string; files: Map<string, HubRepoFile> }>();
  const blobs = new Map<string, Buffer>();
  const requests: HubRequest[] = [];
  const dropped = new Set<string>();

  const hub: LocalHub = {
    url: "",
    cdnUrl: "",
    requests,
    dropAfter: new Map(),
    corrupt: new Set(),
    token: null,
    chunkDelayMs: 0,
    async addRepoFromDir(repo, dir, extra = {}) {
      const files = new Map<string, HubRepoFile>();
      const add = (path: string, content: Buffer) => {
        const sha256 = createHash("sha256").update(content).digest("hex");
        const lfs = path.endsWith(".onnx") || path.endsWith(".armnn");
        files.set(path, { content, lfs, sha256, gitOid: gitBlobSha1(content) });
        if (lfs) blobs.set(sha256, content);
      };
      for (const path of await filesOf(dir)) add(path, await readFile(join(dir, path)));
      for (const [path, content] of Object.entries(extra)) add(path, content);
      const commit = createHash("sha1").update(repo).update(String(repos.size)).update(String(Date.now())).digest("hex");
      repos.set(repo, { commit, files });
      return commit;
    },
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => cdnServer.close(() => resolve()));
    },
  };

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(body);
  };

  /** Serves `content` (after faults) with Range support; `key` names the file for the fault tables. */
  async function serveBytes(req: IncomingMessage, res: ServerResponse, key: string, original: Buffer, headers: Record<string, string>, slow: boolean) {
    let content = original;
    if (hub.corrupt.has(key)) {
      content = Buffer.from(original);
      const at = Math.floor(content.length / 2);
      content[at] = (content[at] as number) ^ 0xff;
    }
    const size = content.length;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    let start = 0;
    if (range) {
      start = Number(range[1]);
      if (start >= size) {
        res.writeHead(416, { "content-range": `bytes */${size}`, ...headers });
        res.end();
        return;
      }
      res.writeHead(206, { "content-length": String(size - start), "content-range": `bytes ${start}-${size - 1}/${size}`, "accept-ranges": "bytes", ...headers });
    } else {
      res.writeHead(200, { "content-length": String(size), "accept-ranges": "bytes", ...headers });
    }
    const drop = !range && !dropped.has(key) ? hub.dropAfter.get(key) : undefined;
    const end = drop !== undefined ? Math.min(size, start + drop) : size;
    const chunk = 64 * 1024;
    for (let at = start; at < end; at += chunk) {
      const piece = content.subarray(at, Math.min(end, at + chunk));
      if (!res.write(piece)) await new Promise((r) => res.once("drain", r));
      if (slow && hub.chunkDelayMs > 0) await new Promise((r) => setTimeout(r, hub.chunkDelayMs));
    }
    if (drop !== undefined) {
      dropped.add(key);
      // Let the bytes leave, then cut the connection mid-body.
      await new Promise((r) => setTimeout(r, 50));
      res.socket?.destroy();
      return;
    }
    res.end();
  }

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? "/", hub.url);
      const authorization = req.headers.authorization ?? null;
      requests.push({ method: req.method ?? "GET", path: url.pathname, file: url.searchParams.get("path"), range: req.headers.range ?? null, authorization });
      const authorised = hub.token === null || authorization === `Bearer ${hub.token}`;

      const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
      if (cdn) {
        const blob = blobs.get(cdn[1] as string);
        if (!blob) return send(res, 404, "{}");
        return serveBytes(req, res, url.searchParams.get("path") ?? "", blob, { "content-type": "application/octet-stream" }, true);
      }

      const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
      if (api) {
        if (!authorised)
          return send(res, 401, JSON.stringify({ error: "Invalid credentials in Authorization header" }), { "x-error-message": "Invalid credentials in Authorization header" });
        const repo = repos.get(api[1] as string);
        if (!repo) return send(res, 404, JSON.stringify({ error: "Repository not found" }), { "x-error-code": "RepoNotFound", "x-error-message": "Repository not found" });
        const rev = decodeURIComponent(api[2] as string);
        if (rev !== "main" && rev !== repo.commit) return send(res, 404, JSON.stringify({ error: `Invalid rev id: ${rev}` }), { "x-error-code": "RevisionNotFound" });
        const blobsWanted = url.searchParams.get("blobs") === "true";
        const siblings = [...repo.files].map(([path, f]) =>
          blobsWanted
            ? {
                rfilename: path,
                size: f.content.length,
                blobId: f.lfs ? gitBlobSha1(Buffer.from(`pointer ${f.sha256}`)) : f.gitOid,
                ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.content.length, pointerSize: 134 } } : {}),
              }
            : { rfilename: path },
        );
        return send(res, 200, JSON.stringify({ _id: "x", id: api[1], modelId: api[1], sha: repo.commit, private: false, siblings }));
      }

      const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
      if (resolve) {
        if (!authorised) return send(res, 401, JSON.stringify({ error: "Invalid credentials in Authorization header" }));
        const repo = repos.get(resolve[1] as string);
        const rev = decodeURIComponent(resolve[2] as string);
        if (!repo) return send(res, 404, "{}", { "x-error-code": "RepoNotFound" });
        if (rev !== "main" && rev !== repo.commit) return send(res, 404, "{}", { "x-error-code": "RevisionNotFound" });
        const path = (resolve[3] as string).split("/").map(decodeURIComponent).join("/");
        const file = repo.files.get(path);
        if (!file) return send(res, 404, "{}", { "x-error-code": "EntryNotFound" });
        if (file.lfs) {
          res.writeHead(302, {
            location: `${hub.cdnUrl}/cdn/${file.sha256}?path=${encodeURIComponent(path)}`,
            "x-linked-size": String(file.content.length),
            "x-linked-etag": `"${file.sha256}"`,
            "x-repo-commit": repo.commit,
            etag: `"${file.gitOid}"`,
          });
          return res.end();
        }
        return serveBytes(req, res, path, file.content, { "content-type": "application/octet-stream", etag: `"${file.gitOid}"`, "x-repo-commit": repo.commit }, false);
      }
      send(res, 404, "{}");
    })().catch((error) => {
      res.destroy(error as Error);
    });
  };
  const server: Server = createServer(handle);
  const cdnServer: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => cdnServer.listen(0, "127.0.0.1", resolve));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hub.cdnUrl = `http://127.0.0.1:${(cdnServer.address() as AddressInfo).port}`;
  return hub;
}
