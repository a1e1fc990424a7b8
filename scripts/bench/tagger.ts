/**
 * Tagger figures: `tag()` latency against the shipped vocabulary at CLIP ViT-B (512) and ViT-L (768)
 * embedding widths, and how long a start takes with and without the matrix cache. A deterministic
 * hash-based text encoder stands in for CLIP (no weights here), so the build figure is the tagger's own
 * overhead, not the text encoder's: with a real model the cache saves the ~5,800 text-encoder passes.
 * Run: `bun scripts/bench/tagger.ts [N=500]`. Prints a table; nothing is asserted.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTagger, type TaggerTextEncoder } from "../../gpu-worker/ml/tagger";
import { recordFigures } from "./lib/figures";

recordFigures("tagger");

const N = Number(process.argv[2] ?? 500);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;

/** A unit vector from a PRNG seeded by the text. */
function hashEmbedding(text: string, dim: number): Float32Array {
  let state = createHash("sha256").update(text).digest().readUInt32LE(0) || 1;
  const vector = new Float32Array(dim);
  let squares = 0;
  for (let i = 0; i < dim; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    vector[i] = state / 4294967296 - 0.5;
    squares += (vector[i] as number) ** 2;
  }
  return vector.map((x) => x / Math.sqrt(squares));
}

const cacheDir = mkdtempSync(join(tmpdir(), "edgestock-bench-tagger-"));
try {
  for (const dim of [512, 768]) {
    const encoder: TaggerTextEncoder = { modelId: `bench-${dim}`, version: "1", embedDim: dim, embedTexts: async (texts) => texts.map((text) => hashEmbedding(text, dim)) };
    let started = performance.now();
    const tagger = await createTagger(encoder, { cacheDir });
    const buildMs = performance.now() - started;
    started = performance.now();
    await createTagger(encoder, { cacheDir });
    const cachedMs = performance.now() - started;

    const images = Array.from({ length: N }, (_, i) => hashEmbedding(`image ${i}`, dim));
    for (const image of images.slice(0, 50)) tagger.tag(image); // warm the JIT
    const times: number[] = [];
    let tags = 0;
    for (const image of images) {
      const t = performance.now();
      tags += tagger.tag(image).tags.length;
      times.push(performance.now() - t);
    }
    console.log(
      `dim ${dim}: ${tagger.vocabulary.length} tags × ${dim}  tag() p50 ${pct(times, 50).toFixed(3)} ms  p95 ${pct(times, 95).toFixed(3)} ms  ` +
        `(n=${N}, ${(tags / N).toFixed(1)} tags/image on random embeddings)  start: embed ${buildMs.toFixed(0)} ms, from cache ${cachedMs.toFixed(0)} ms`,
    );
  }
} finally {
  rmSync(cacheDir, { recursive: true, force: true });
}
