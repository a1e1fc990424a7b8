import type { ReprocessStep } from "../../common/jobs";
import type { DerivativeKeys, images } from "../../db/schema";
import type { AnalysedImage } from "./index";
import type { Inference } from "./inference";
import type { Duplicate, ModerationDecision } from "./moderation";

/**
 * The image pipeline, step by step, in the order it runs, and what each step stores. Both callers
 * run it the same way: the live job (gpu-worker/jobs/image-process.ts, one image) and the importer
 * (migrate/, batches of files), and a reprocess (gpu-worker/jobs/image-reprocess.ts) re-runs
 * named steps on a processed image.
 *
 * Where the work is done, by `runs`:
 *   - "analyse": pipeline/index.ts analyseImage, per image, on the CPU: validate the file, clean
 *     its metadata (the original buyers get), SHA-256, read the header, THE one decode (working
 *     size), then perceptual hash, colours and EXIF/IPTC/XMP from it.
 *   - "render": pipeline/index.ts renderDerivatives: the four WebP renditions (watermarked previews).
 *   - "infer": pipeline/inference.ts inferBatch, on a batch (1 live, up to 32 importing): NSFW
 *     score, CLIP embedding, AI tags and categories.
 * Then the moderation rule (pipeline/moderation.ts) decides the status, and {@link processedImageFields}
 * is the images row both callers write.
 *
 * Adding a step: compute it in the function its `runs` names, add it here with the columns it
 * fills (`fields`), and mark it `reprocess: true` (and add its name to REPROCESS_STEPS in
 * common/jobs.ts) if it can be back-filled over the catalogue. The importer then stores it too:
 * it ships {@link analysisOf} across its threads and writes {@link processedImageFields}.
 */

/** What the analysis found, without the pixels and the bytes: what the importer's threads send back and the row is built from. */
export type Analysis = Omit<AnalysedImage, "original" | "working" | "removedMetadata" | "timings" | "cpuTimings" | "sequential"> & {
  /** Size of the cleaned original (images.bytes). */
  bytes: number;
};

/** The analysis of an image, as stored. */
export function analysisOf(analysed: AnalysedImage): Analysis {
  const { original, working: _working, removedMetadata: _removed, timings: _timings, cpuTimings: _cpu, sequential: _sequential, ...found } = analysed;
  return { ...found, bytes: original.byteLength };
}

/** Everything the steps produced for one image. */
export type StepResults = {
  analysis: Analysis;
  /** Keys of the renditions written; empty when none were (a rejected duplicate is never shown). */
  derivativeKeys: DerivativeKeys;
  /** Null when inference did not run (a rejected duplicate; the importer with --no-ml): ml_status stays pending. */
  inference: Inference | null;
};

type ImageFields = Partial<typeof images.$inferInsert>;

export type PipelineStep = {
  name: string;
  runs: "analyse" | "render" | "infer";
  /** The models an "infer" step needs (pipeline/inference.ts InferenceModels). */
  models?: readonly ("nsfw" | "clip" | "tagger")[];
  /** Can be re-run on a processed image by image.reprocess (it never touches status or publishing). */
  reprocess: boolean;
  /** The images columns the step owns; a reprocess writes only these (and the tags step's tables). */
  fields(results: StepResults): ImageFields;
};

/** The steps, in order. */
export const PIPELINE_STEPS = [
  {
    name: "identity",
    runs: "analyse",
    // The content's identity: duplicates and licenses were decided on it.
    reprocess: false,
    fields: ({ analysis: a }) => ({ sha256: a.sha256, bytes: a.bytes, format: a.format, width: a.width, height: a.height, aspectRatio: a.aspectRatio }),
  },
  { name: "metadata", runs: "analyse", reprocess: true, fields: ({ analysis }) => ({ metadata: { ...analysis.metadata.technical } }) },
  { name: "phash", runs: "analyse", reprocess: true, fields: ({ analysis }) => ({ phash: analysis.phash }) },
  { name: "colours", runs: "analyse", reprocess: true, fields: ({ analysis }) => ({ palette: analysis.palette, colourBucket: analysis.colourBucket }) },
  { name: "renditions", runs: "render", reprocess: true, fields: ({ derivativeKeys }) => ({ derivativeKeys }) },
  { name: "nsfw", runs: "infer", models: ["nsfw"], reprocess: true, fields: ({ inference }) => ({ nsfwScore: inference?.nsfw ?? null }) },
  {
    name: "embedding",
    runs: "infer",
    models: ["clip"],
    reprocess: true,
    // The vectors themselves live in image_embeddings, one row per model (db/embedding-models.ts
    // storeEmbeddings, written by each caller in the same transaction as these fields).
    fields: ({ inference }) => ({
      mlStatus: inference === null ? "pending" : inference.embedding ? "done" : "unavailable",
    }),
  },
  // AI tags and categories live in image_tags and image_categories (and tag_text): each caller
  // stores them with its own listing (the importer merges the contributor's keywords first).
  { name: "tags", runs: "infer", models: ["clip", "tagger"], reprocess: true, fields: () => ({}) },
] as const satisfies readonly PipelineStep[];

export type StepName = (typeof PIPELINE_STEPS)[number]["name"];

/** The steps a reprocess may name (REPROCESS_STEPS in common/jobs.ts, checked against this list by test/unit/jobs.test.ts). */
export const REPROCESSABLE: readonly ReprocessStep[] = PIPELINE_STEPS.filter((step) => step.reprocess).map((step) => step.name as ReprocessStep);

/** What running the named steps takes: whether to render, and which models. */
export function requirementsOf(names: readonly StepName[]): { render: boolean; models: Set<"nsfw" | "clip" | "tagger"> } {
  const steps = (PIPELINE_STEPS as readonly PipelineStep[]).filter((step) => names.includes(step.name as StepName));
  return { render: steps.some((step) => step.runs === "render"), models: new Set(steps.flatMap((step) => step.models ?? [])) };
}

/** The columns the named steps own, from their results. */
export function stepFields(results: StepResults, names: readonly StepName[] = PIPELINE_STEPS.map((step) => step.name)): ImageFields {
  const fields: ImageFields = {};
  for (const step of PIPELINE_STEPS as readonly PipelineStep[]) if (names.includes(step.name as StepName)) Object.assign(fields, step.fields(results));
  return fields;
}

/**
 * The images row fields of a freshly processed image, for the live job's update and the importer's
 * insert alike: every step's columns, the moderation decision, and `publishedAt` when approved.
 */
export function processedImageFields(results: StepResults, decision: ModerationDecision, duplicate: Duplicate | null, now: Date): ImageFields {
  return {
    ...stepFields(results),
    status: decision.status,
    statusReason: decision.reason,
    stage: "done",
    duplicateOf: duplicate?.id ?? null,
    publishedAt: decision.status === "approved" ? now : null,
  };
}
