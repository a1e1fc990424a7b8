/**
 * `bun scripts/bench/clip-tokenizer.ts`: what tokenising search queries costs.
 *
 *   - load time from the shipped merges file and from a tokenizer.json;
 *   - 1,000 short queries (2–6 words from a stock-photo word list) through `tokenize` as one [1000, 77]
 *     batch: the first pass on a fresh tokenizer (BPE cache empty) and the median of warm passes;
 *   - the same for 1,000 queries of made-up words, so nearly every word misses the cache.
 * Env: BENCH_RUNS (warm passes, default 20), BENCH_TOKENIZER_JSON (default models/clip-tokenizer/tokenizer.json).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { type ClipTokenizer, DEFAULT_BPE_PATH, loadClipTokenizer } from "../../gpu-worker/ml/clip-tokenizer";
import { recordFigures } from "./lib/figures";

recordFigures("clip-tokenizer");

const runs = Number(process.env.BENCH_RUNS ?? 20);
const tokenizerJson = process.env.BENCH_TOKENIZER_JSON ?? resolve("models/clip-tokenizer/tokenizer.json");

const WORDS = (
  "a an the of in on with at by photo picture portrait aerial view close-up macro cat dog horse bird fish " +
  "woman man child family couple team business office laptop coffee cup table kitchen food salad pizza " +
  "mountain lake river ocean beach sunset sunrise forest tree flower garden city skyline street night rain " +
  "snow winter summer autumn spring red blue green yellow black white golden vintage modern minimal abstract " +
  "background texture pattern isolated happy smiling running walking working reading cooking 4k hdr bokeh " +
  "Berlin Tokyo café über naïve São-Paulo 東京 夜景 Москва 🐱 ☕ &amp; it’s"
).split(" ");

/** Deterministic PRNG (mulberry32) so every run measures the same queries. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function queries(count: number, word: (next: () => number) => string): string[] {
  const next = random(count);
  return Array.from({ length: count }, () => Array.from({ length: 2 + Math.floor(next() * 5) }, () => word(next)).join(" "));
}

const stockQueries = queries(1000, (next) => WORDS[Math.floor(next() * WORDS.length)] ?? "cat");
const madeUpQueries = queries(1000, (next) => Array.from({ length: 4 + Math.floor(next() * 8) }, () => String.fromCharCode(97 + Math.floor(next() * 26))).join(""));

function time(run: () => void): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function load(source: Parameters<typeof loadClipTokenizer>[0]): Promise<[ClipTokenizer, number]> {
  const start = performance.now();
  const tokenizer = await loadClipTokenizer(source);
  return [tokenizer, performance.now() - start];
}

const [, jsonMs] = existsSync(tokenizerJson) ? await load({ tokenizerJson }) : [undefined, Number.NaN];
const [tokenizer, bpeMs] = await load({ bpeGz: DEFAULT_BPE_PATH });
console.log(`load: merges file ${bpeMs.toFixed(0)} ms, tokenizer.json ${jsonMs.toFixed(0)} ms`);

for (const [name, texts] of [
  ["1,000 stock-photo queries", stockQueries],
  ["1,000 made-up-word queries", madeUpQueries],
] as const) {
  const [fresh] = await load({ bpeGz: DEFAULT_BPE_PATH });
  const cold = time(() => fresh.tokenize(texts));
  const warm = median(Array.from({ length: runs }, () => time(() => tokenizer.tokenize(texts))));
  console.log(`${name}: first pass ${cold.toFixed(1)} ms, warm ${warm.toFixed(1)} ms (median of ${runs}), ${((warm / texts.length) * 1000).toFixed(1)} µs/query`);
}
