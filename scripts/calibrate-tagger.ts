/**
 * Calibrates the AI tagger's z-score cut-off and confidence slope for one CLIP model on images with human
 * keywords, and prints the values to configure (`createTagger(clip, { zThreshold, confidenceSlope })`).
 *
 * Needs real CLIP weights (an Immich or Hugging Face model folder; see scripts/models/README.md) and a
 * labelled set: a JSON file `{ "<image path, relative to the file>": ["keyword", ...] }`, a few hundred
 * varied images whose keywords were chosen from the tagger's vocabulary (gpu-worker/ml/data/tag-vocabulary.txt)
 * by people, e.g. a contributor-keyworded sample of the catalogue. Keywords outside the vocabulary are
 * listed and left out of the scores.
 *
 * Usage: `bun scripts/calibrate-tagger.ts <clip-model-dir> <labels.json> [--cache-dir .data/cache/tagger]`
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import * as v from "valibot";
import { loadClipModel } from "../gpu-worker/ml/clip";
import { createTagger, DEFAULT_Z_THRESHOLD, type LabelledEmbedding } from "../gpu-worker/ml/tagger";

const { positionals, values } = parseArgs({ allowPositionals: true, options: { "cache-dir": { type: "string" } } });
const [modelDir, labelsPath] = positionals;
if (modelDir === undefined || labelsPath === undefined) {
  console.error("Usage: bun scripts/calibrate-tagger.ts <clip-model-dir> <labels.json> [--cache-dir DIR]");
  process.exit(2);
}

const Labels = v.record(v.pipe(v.string(), v.nonEmpty()), v.pipe(v.array(v.pipe(v.string(), v.trim(), v.toLowerCase(), v.nonEmpty())), v.minLength(1)));
const parsed = v.safeParse(Labels, JSON.parse(await readFile(labelsPath, "utf8")));
if (!parsed.success) {
  console.error(`${labelsPath}: ${parsed.issues.map((issue) => `${v.getDotPath(issue) ?? "(root)"}: ${issue.message}`).join("; ")}`);
  process.exit(2);
}

const clip = await loadClipModel(modelDir, { log: (message) => console.info(message) });
try {
  const tagger = await createTagger(clip, { cacheDir: values["cache-dir"], log: (message) => console.info(message) });
  const pairs: LabelledEmbedding[] = [];
  for (const [file, expectedTags] of Object.entries(parsed.output)) {
    const path = resolve(dirname(labelsPath), file);
    const { data, info } = await sharp(path).rotate().removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    pairs.push({ embedding: await clip.embedImage({ data, width: info.width, height: info.height, channels: 3 }), expectedTags });
  }

  const result = tagger.calibrateThreshold(pairs);
  const f1At = (k: number) => {
    let tp = 0;
    let fp = 0;
    let positives = 0;
    for (const { embedding, expectedTags } of pairs) {
      const known = new Set(expectedTags.filter((tag) => tagger.tagEmbedding(tag) !== undefined));
      positives += known.size;
      for (const { tag } of tagger.tag(embedding, { zThreshold: k }).tags) {
        if (known.has(tag)) tp++;
        else fp++;
      }
    }
    return (2 * tp) / (2 * tp + fp + positives - tp);
  };

  console.log(`model ${clip.modelId} (${clip.version}), ${result.images} images, ${tagger.vocabulary.length} tags, maxTags ${tagger.maxTags}`);
  console.log(`  zThreshold      ${result.zThreshold.toFixed(3)}   (default ${DEFAULT_Z_THRESHOLD}: F1 ${f1At(DEFAULT_Z_THRESHOLD).toFixed(3)})`);
  console.log(`  confidenceSlope ${result.confidenceSlope.toFixed(3)}`);
  console.log(
    `  F1 ${result.f1.toFixed(3)}  precision ${result.precision.toFixed(3)}  recall ${result.recall.toFixed(3)}  (TP ${result.truePositives}, FP ${result.falsePositives}, FN ${result.falseNegatives})`,
  );
  if (result.unknownTags.length > 0) console.log(`  not in the vocabulary (left out): ${result.unknownTags.join(", ")}`);
} finally {
  await clip.close();
}
