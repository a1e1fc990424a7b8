import { InferenceSession, Tensor } from "onnxruntime-node";

/**
 * The worker's one adapter over onnxruntime-node: session creation with its settings, the
 * execution-provider fallback (CUDA, then CPU) and the description of a graph's inputs and outputs
 * used in contract errors. The models (nsfw.ts, clip.ts) build their tensors with the `Tensor`
 * re-exported here; nothing else in gpu-worker/ or migrate/ imports onnxruntime-node (test/checks
 * enforces it).
 */

export type { InferenceSession };
export { Tensor };

export type ExecutionProviderName = "cuda" | "cpu";

export type SessionSettings = {
  /** onnxruntime intra-op threads; its default is one per physical core. */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /** Full graph optimisation costs load time once and saves it on every run. */
  optimise?: boolean;
};

/** One session of a graph (a path or its bytes) on one provider. */
export function createSession(model: string | Uint8Array, provider: ExecutionProviderName, settings: SessionSettings = {}): Promise<InferenceSession> {
  const options: InferenceSession.SessionOptions = { executionProviders: [provider] };
  if (settings.optimise) options.graphOptimizationLevel = "all";
  if (settings.intraOpNumThreads !== undefined) options.intraOpNumThreads = settings.intraOpNumThreads;
  if (settings.interOpNumThreads !== undefined) options.interOpNumThreads = settings.interOpNumThreads;
  return typeof model === "string" ? InferenceSession.create(model, options) : InferenceSession.create(model, options);
}

/**
 * Runs `open` with each provider in order and returns the first that works, with why the ones
 * before it were skipped (first line of onnxruntime's message: the rest is native detail). An error
 * for which `isFinal` is true is thrown at once (a graph that breaks its contract fails on every
 * provider). When none works, the error names each provider's reason.
 *
 * @example const { value: session, provider } = await withProviderFallback(["cuda", "cpu"], (p) => createSession(path, p), { what: "the NSFW model" });
 */
export async function withProviderFallback<T>(
  providers: readonly ExecutionProviderName[],
  open: (provider: ExecutionProviderName) => Promise<T>,
  options: { what: string; isFinal?: (error: unknown) => boolean },
): Promise<{ value: T; provider: ExecutionProviderName; skipped: Record<string, string> }> {
  if (providers.length === 0) throw new Error("executionProviders must name at least one provider");
  const skipped: Record<string, string> = {};
  for (const provider of providers) {
    try {
      return { value: await open(provider), provider, skipped };
    } catch (error) {
      if (options.isFinal?.(error)) throw error;
      const message = error instanceof Error ? error.message : String(error);
      skipped[provider] = (message.split("\n")[0] ?? message).replace(/\u001b\[[0-9;]*m/g, "").slice(0, 300);
    }
  }
  throw new Error(
    `cannot load ${options.what} with ${providers.join(" or ")}: ${Object.entries(skipped)
      .map(([p, why]) => `${p}: ${why}`)
      .join("; ")}`,
  );
}

/** A graph's inputs or outputs as `"name" type [shape]`, for contract errors. */
export function describeValues(metas: readonly InferenceSession.ValueMetadata[]): string {
  const parts = metas.map((m) => (m.isTensor ? `"${m.name}" ${m.type} [${m.shape.join(",")}]` : `"${m.name}" (not a tensor)`));
  return parts.length > 0 ? parts.join(", ") : "none";
}
