import { describe, expect, it } from "vitest";
import { EmbeddingRefused, EmbeddingUnavailable, embedImageQuery, embedQuery, normaliseQuery } from "../../edge/adapters/embed-service";

/**
 * The edge's query-embedding client, inside workerd: it calls the worker's /embed/text with the
 * shared secret and caches by normalised query and model id. The service here is a function that
 * answers as gpu-worker/embed-server.ts does (its own tests run it for real).
 */

function memoryStore() {
  const entries = new Map<string, string>();
  return { entries, get: async (k: string) => entries.get(k) ?? null, set: async (k: string, v: string) => void entries.set(k, v) };
}

const config = { EMBED_SERVICE_URL: "http://worker.test:8788", WORKER_SHARED_SECRET: "s3cret" };
/** The catalogue's active model, as search asks for it. */
const B32 = { model: "ViT-B-32__openai", version: "v1", dimensions: 3 };

function service(model = "ViT-B-32__openai", delayMs = 0, version = "v1") {
  const calls: { url: string; auth: string | null; body: unknown }[] = [];
  const fetch: typeof globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    calls.push({ url: request.url, auth: request.headers.get("authorization"), body: await request.json() });
    if (delayMs) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, delayMs);
        init?.signal?.addEventListener("abort", () => (clearTimeout(timer), reject(new DOMException("timed out", "TimeoutError"))));
      });
    }
    return Response.json({ model, version, dimensions: 3, embeddings: [[0.6, 0.8, 0]] });
  }) as typeof globalThis.fetch;
  return { calls, fetch };
}

describe("embedQuery", () => {
  it("normalises case, Unicode form and spaces", () => {
    expect(normaliseQuery("  Sunset   over the SEA ")).toBe("sunset over the sea");
    expect(normaliseQuery("Cafe\u0301")).toBe(normaliseQuery("café"));
  });

  it("calls the service with the secret once, then answers from the cache for the same normalised query", async () => {
    const store = memoryStore();
    const { calls, fetch } = service();
    const first = await embedQuery({ config, store, fetch }, "Sunset over the sea", B32);
    expect(first).toEqual({ embedding: [0.6, 0.8, 0], model: "ViT-B-32__openai", cached: false });
    // The model search reads is named: during a switch the worker serves two.
    expect(calls).toEqual([{ url: "http://worker.test:8788/embed/text", auth: "Bearer s3cret", body: { texts: ["sunset over the sea"], model: "ViT-B-32__openai" } }]);
    const second = await embedQuery({ config, store, fetch }, "  SUNSET over  the sea", B32);
    expect(second.cached).toBe(true);
    expect(calls).toHaveLength(1);
    expect([...store.entries.keys()][0]).toMatch(/^qe:ViT-B-32__openai:v1:[0-9a-f]{64}$/);
  });

  it("keys the cache by model and version, so a switch of model does not reuse old vectors", async () => {
    const store = memoryStore();
    await embedQuery({ config, store, fetch: service().fetch }, "boats", B32);
    const other = service("ViT-L-14__openai");
    await expect(embedQuery({ config, store, fetch: other.fetch }, "boats", { ...B32, model: "ViT-L-14__openai" })).resolves.toMatchObject({ cached: false });
    expect(other.calls).toHaveLength(1);
    const newer = service("ViT-B-32__openai", 0, "v2");
    await expect(embedQuery({ config, store, fetch: newer.fetch }, "boats", { ...B32, version: "v2" })).resolves.toMatchObject({ cached: false });
    expect(newer.calls).toHaveLength(1);
  });

  it("is unavailable (for keyword fallback) when unconfigured, slow, failing or serving another model", async () => {
    const store = memoryStore();
    await expect(embedQuery({ config: { ...config, EMBED_SERVICE_URL: "" }, store }, "x", B32)).rejects.toBeInstanceOf(EmbeddingUnavailable);
    await expect(embedQuery({ config, store, fetch: service("ViT-B-32__openai", 500).fetch }, "slow", B32, 50)).rejects.toThrow(/did not answer/);
    const failing = (async () => new Response("no", { status: 503 })) as unknown as typeof fetch;
    await expect(embedQuery({ config, store, fetch: failing }, "x", B32)).rejects.toThrow(/answered 503/);
    await expect(embedQuery({ config, store, fetch: service("other-model").fetch }, "x", B32)).rejects.toThrow(/answered with other-model/);
    await expect(embedQuery({ config, store, fetch: service("ViT-B-32__openai", 0, "v0").fetch }, "x", B32)).rejects.toThrow(/answered with ViT-B-32__openai \(v0\)/);
    expect(store.entries.size).toBe(0);
  });
});

describe("embedImageQuery", () => {
  const image = new Uint8Array([0xff, 0xd8, 0xff, 0xe0]).buffer;
  const answering = (response: () => Response) => {
    const calls: { url: string; auth: string | null; type: string | null; bytes: number }[] = [];
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      calls.push({ url: request.url, auth: request.headers.get("authorization"), type: request.headers.get("content-type"), bytes: (await request.arrayBuffer()).byteLength });
      return response();
    }) as typeof globalThis.fetch;
    return { calls, fetch };
  };

  it("posts the image bytes with their type and the secret to /embed/image and returns the embedding", async () => {
    const { calls, fetch } = answering(() => Response.json({ model: "ViT-B-32__openai", version: "v1", dimensions: 2, embedding: [0.6, 0.8] }));
    await expect(embedImageQuery({ config, fetch }, image, "image/jpeg", { ...B32, dimensions: 2 })).resolves.toEqual([0.6, 0.8]);
    expect(calls).toEqual([{ url: "http://worker.test:8788/embed/image?model=ViT-B-32__openai", auth: "Bearer s3cret", type: "image/jpeg", bytes: 4 }]);
    // Another model's vector is another space: refused.
    await expect(embedImageQuery({ config, fetch }, image, "image/jpeg", { ...B32, model: "ViT-L-14__openai", dimensions: 2 })).rejects.toBeInstanceOf(EmbeddingUnavailable);
  });

  it("passes on the worker's reason when it cannot read the image, and is unavailable on any other failure", async () => {
    const refused = answering(() => Response.json({ status: 422, detail: "not a JPEG, PNG or WebP image" }, { status: 422 }));
    await expect(embedImageQuery({ config, fetch: refused.fetch }, image, "image/jpeg", B32)).rejects.toThrow(new EmbeddingRefused("not a JPEG, PNG or WebP image"));
    const bare = answering(() => new Response("?", { status: 422 }));
    await expect(embedImageQuery({ config, fetch: bare.fetch }, image, "image/jpeg", B32)).rejects.toThrow(new EmbeddingRefused("the image could not be read"));
    const odd = answering(() => Response.json({ model: "m", embeddings: [[1]] }));
    await expect(embedImageQuery({ config, fetch: odd.fetch }, image, "image/jpeg", B32)).rejects.toBeInstanceOf(EmbeddingUnavailable);
  });
});
