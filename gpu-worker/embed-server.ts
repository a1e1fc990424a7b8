import { timingSafeEqual } from "node:crypto";
import * as v from "valibot";
import { EMBED_PATHS, type HealthResponse, type ImageResponse, MAX_QUERY_IMAGE_BYTES, TextRequest, type TextResponse } from "../common/embed-service";
import { log } from "../common/log";
import { PROBLEM_BASE_URI, PROBLEMS, type ProblemType } from "../common/problems";
import { decodeWorking, type RawImage } from "./imaging";
import type { ClipModel } from "./ml/clip";

function problem(type: ProblemType, detail: string, extra: Record<string, unknown> = {}): Response {
  const { status, title } = PROBLEMS[type];
  return Response.json({ type: PROBLEM_BASE_URI + type, title, status, detail, ...extra }, { status, headers: { "content-type": "application/problem+json" } });
}

function authorised(request: Request, secret: string): boolean {
  const header = request.headers.get("authorization") ?? "";
  const given = Buffer.from(header.startsWith("Bearer ") ? header.slice(7) : "");
  const expected = Buffer.from(secret);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const metaOf = (model: ClipModel) => ({ model: model.modelId, version: model.version, dimensions: model.embedDim });

export type EmbedServerOptions = {
  port: number;
  hostname?: string;
  /** Shared with the edge (WORKER_SHARED_SECRET); every request presents it as a bearer token. */
  secret: string;
  /** The loaded model, or null when none is installed: the service then answers 503. */
  clip: ClipModel | null;
  /** During a switch of model, the one search still reads (gpu-worker/ml/models.ts joinCatalogue). */
  previousClip?: ClipModel | null;
  maxImagePixels: number;
};

/**
 * The query-embedding service the edge calls (a Worker cannot run a CLIP text encoder):
 * `POST /embed/text` `{ texts }` and `POST /embed/image` (an image body). Requests running at the
 * same time share inference batches through the model's batcher. Errors are problem documents.
 * The edge names the model it searches with (`model` in the text body, `?model=` for an image):
 * during a switch this worker serves both the new and the previous model; any other is a 409.
 * Without a name, the worker's own model answers.
 */
export function startEmbedServer(options: EmbedServerOptions) {
  const { clip } = options;
  const served = [clip, options.previousClip].filter((model): model is ClipModel => Boolean(model));
  const pick = (name: string | null | undefined) => (name ? (served.find((model) => model.modelId === name) ?? null) : clip);
  return Bun.serve({
    port: options.port,
    hostname: options.hostname ?? "127.0.0.1",
    maxRequestBodySize: MAX_QUERY_IMAGE_BYTES + 1024,
    async fetch(request) {
      const { pathname } = new URL(request.url);
      if (pathname === EMBED_PATHS.health) return Response.json({ model: clip?.modelId ?? null, version: clip?.version ?? null } satisfies HealthResponse);
      if (pathname !== EMBED_PATHS.text && pathname !== EMBED_PATHS.image) return problem("not-found", "no route matches this path");
      if (request.method !== "POST") return problem("method-not-allowed", "use POST");
      if (!authorised(request, options.secret)) return problem("unauthenticated", "send the shared secret as a bearer token");
      if (!clip) return problem("service-unavailable", "no CLIP model is installed on this worker: semantic features are unavailable");
      const refuse = (name: string) =>
        problem("conflict", `this worker does not serve ${name}; it serves ${served.map((model) => model.modelId).join(" and ")}`, {
          models: served.map((model) => model.modelId),
        });

      if (pathname === EMBED_PATHS.text) {
        if (!request.headers.get("content-type")?.startsWith("application/json")) return problem("unsupported-media-type", "send { texts } as application/json");
        let body: unknown;
        try {
          body = await request.json();
        } catch {
          return problem("invalid-json", "the body is not valid JSON");
        }
        const parsed = v.safeParse(TextRequest, body);
        if (!parsed.success) {
          return problem("validation-failed", "invalid body", { errors: parsed.issues.map((i) => ({ path: v.getDotPath(i) ?? "", message: i.message })) });
        }
        const model = pick(parsed.output.model);
        if (!model) return refuse(parsed.output.model ?? "");
        const embeddings = await model.embedTexts(parsed.output.texts);
        return Response.json({ ...metaOf(model), embeddings: embeddings.map((e) => Array.from(e)) } satisfies TextResponse);
      }

      const requested = new URL(request.url).searchParams.get("model");
      const model = pick(requested);
      if (!model) return refuse(requested ?? "");
      const length = Number(request.headers.get("content-length") ?? "0");
      if (length > MAX_QUERY_IMAGE_BYTES) return problem("payload-too-large", `images are limited to ${MAX_QUERY_IMAGE_BYTES} bytes`);
      if (!request.headers.get("content-type")?.startsWith("image/")) return problem("unsupported-media-type", "send the image bytes with an image/* content type");
      const bytes = Buffer.from(await request.arrayBuffer());
      if (bytes.length === 0) return problem("validation-failed", "the body is empty", { errors: [{ path: "", message: "an image is required" }] });
      if (bytes.length > MAX_QUERY_IMAGE_BYTES) return problem("payload-too-large", `images are limited to ${MAX_QUERY_IMAGE_BYTES} bytes`);
      let raw: RawImage;
      try {
        raw = await decodeWorking(bytes, options.maxImagePixels);
      } catch (error) {
        return problem("validation-failed", `the image could not be decoded: ${(error as Error).message.split("\n")[0]}`, {
          errors: [{ path: "", message: "not a readable image" }],
        });
      }
      const embedding = await model.embedImage(raw);
      return Response.json({ ...metaOf(model), embedding: Array.from(embedding) } satisfies ImageResponse);
    },
    error(error) {
      log.error("embed service error", { error: error.message });
      return problem("internal", "the embedding failed");
    },
  });
}
