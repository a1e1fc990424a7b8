import type { Database } from "../db/connect";
import type { ObjectStore } from "../gpu-worker/jobs/image-outputs";
import type { LoadedModels } from "../gpu-worker/ml/models";
import type { RawImage } from "../gpu-worker/pipeline/index";
import { type Inference, type InferenceModels, inferBatch } from "../gpu-worker/pipeline/inference";
import { moderationDecision } from "../gpu-worker/pipeline/moderation";
import { processedImageFields } from "../gpu-worker/pipeline/steps";
import { batchesOf } from "./batches";
import { type Checkpoint, type CheckpointUpdate, readCheckpoints, registerFiles, updateCheckpoints } from "./checkpoint";
import type { Limit } from "./limit";
import { listingFor } from "./listing";
import { type ListingHints, manifestFor } from "./manifest-store";
import type { Counts } from "./progress";
import type { StageClock } from "./stages";
import type { AnalysedFile, AnalyseOutcome, AnalysisThreads } from "./threads";
import { type Turn, takeTurns } from "./turns";
import { derivativeKeysFor, uploadFile } from "./upload";
import { commitBatch, findListed, type ReadyFile } from "./write";

/**
 * The migration loop: batches of paths from the walk (or, with --retry-failed, from the failed
 * checkpoints) go through the analysis threads, the batched ML steps, the uploads and one database
 * transaction each. Batches overlap (the threads analyse the next while the previous one uploads
 * and commits), at most MAX_BATCHES_IN_FLIGHT at a time; the ML steps and the commits take their
 * turns in walk order. Stopping (the signal) lets the batches in flight finish.
 */

const MAX_BATCHES_IN_FLIGHT = 3;

export type RunDeps = {
  db: Database;
  store: ObjectStore;
  threads: AnalysisThreads;
  /** Null with --no-ml: nothing is scored or embedded and images record ml_status pending. */
  /** With the previous CLIP model during a switch (gpu-worker/ml/models.ts joinCatalogue). */
  models: (LoadedModels & Pick<InferenceModels, "previousClip">) | null;
  clock: StageClock;
  uploadLimit: Limit;
  settings: {
    contributorId: string;
    originalsBucket: string;
    derivativesBucket: string;
    nsfwThreshold: number;
    batch: number;
    /** Only files whose checkpoint says failed are run; the others count as skipped. */
    retryFailed: boolean;
    knownCategories: ReadonlySet<string>;
  };
  /** Updated as batches commit. */
  counts: Counts;
  signal: AbortSignal;
};

type Prepared = { path: string; checkpoint: Checkpoint | undefined; manifest: ListingHints | undefined };
/** `inference` is null with --no-ml. */
type Worked = Prepared & { file: Omit<AnalysedFile, "working">; inference: Inference | null };

/** What the checkpoints and the listing look-ups know a file by. */
const identity = (file: Omit<AnalysedFile, "working">) => ({ imageId: file.imageId, sha256: file.analysis.sha256, bytes: file.analysis.bytes });

const failure = (path: string, error: string, known?: { imageId: string; sha256: string; bytes: number }): CheckpointUpdate => ({
  sourcePath: path,
  stage: "failed",
  imageId: known?.imageId ?? null,
  sha256: known?.sha256 ?? null,
  bytes: known?.bytes ?? null,
  duplicate: false,
  error,
  finished: true,
});

const raster = (file: AnalysedFile): RawImage => ({
  data: Buffer.from(file.working.data.buffer, file.working.data.byteOffset, file.working.data.byteLength),
  width: file.working.width,
  height: file.working.height,
  channels: 3,
});

/** Registers the batch's paths and keeps those to run; the rest count as skipped. */
async function prepare(deps: RunDeps, paths: string[]): Promise<Prepared[]> {
  const { db, settings, counts } = deps;
  const checkpoints = settings.retryFailed ? await readCheckpoints(db, paths) : await registerFiles(db, paths);
  const manifest = await manifestFor(db, paths);
  const run: Prepared[] = [];
  for (const path of paths) {
    const checkpoint = checkpoints.get(path);
    const stage = checkpoint?.stage ?? "pending";
    const wanted = settings.retryFailed ? stage === "failed" : stage !== "indexed" && stage !== "failed";
    if (wanted) run.push({ path, checkpoint, manifest: manifest.get(path) });
    else counts.skipped++;
  }
  return run;
}

/** The renditions are in the bucket from an earlier run of this very content. */
const uploadedBefore = (item: Prepared, sha256: string) => item.checkpoint?.stage === "uploaded" && item.checkpoint.sha256 === sha256;

/** The moderation rule for an imported file: no duplicate here (the commit records those). */
const decisionFor = (deps: RunDeps, inference: Inference | null) => moderationDecision(null, deps.settings.contributorId, inference?.nsfw ?? null, deps.settings.nsfwThreshold);

function readyFile(deps: RunDeps, item: Worked): ReadyFile {
  const { file, inference } = item;
  const { analysis } = file;
  return {
    path: item.path,
    ...identity(file),
    contentType: file.contentType,
    listing: listingFor({
      path: item.path,
      manifest: item.manifest,
      descriptive: analysis.metadata.descriptive,
      aiTags: inference?.tags ?? [],
      aiCategories: inference?.categories ?? [],
      knownCategories: deps.settings.knownCategories,
    }),
    // The same row fields a live upload gets (gpu-worker/pipeline/steps.ts).
    fields: processedImageFields({ analysis, derivativeKeys: derivativeKeysFor(file.imageId), inference }, decisionFor(deps, inference), null, new Date()),
    embeddings: inference?.embeddings ?? [],
  };
}

/** Uploads what is not in the buckets yet; returns the files that made it and the failures. */
async function upload(deps: RunDeps, worked: Worked[]): Promise<{ kept: Worked[]; failed: CheckpointUpdate[] }> {
  const { db, clock, settings } = deps;
  const listed = await clock.time("db", () =>
    findListed(
      db,
      worked.map((w) => identity(w.file)),
    ),
  );
  // One upload per content: later copies in the batch wait for the first's outcome.
  const first = new Map<string, Worked>();
  for (const item of worked) if (!listed.has(item.file.analysis.sha256) && !first.has(item.file.analysis.sha256)) first.set(item.file.analysis.sha256, item);
  const errors = new Map<string, string>();
  const uploaded: Worked[] = [];
  await Promise.all(
    [...first.values()].map(async (item) => {
      const { sha256 } = item.file.analysis;
      if (uploadedBefore(item, sha256)) return;
      if (item.file.renditions.length === 0) {
        errors.set(sha256, "the file changed since an earlier run uploaded it; --retry-failed runs it afresh");
        return;
      }
      try {
        await uploadFile(
          deps.store,
          deps.uploadLimit,
          clock,
          { originalsBucket: settings.originalsBucket, derivativesBucket: settings.derivativesBucket, contributorId: settings.contributorId },
          {
            path: item.path,
            imageId: item.file.imageId,
            sha256,
            contentType: item.file.contentType,
            renditions: item.file.renditions,
            listed: decisionFor(deps, item.inference).status === "approved",
          },
        );
        uploaded.push(item);
      } catch (error) {
        errors.set(sha256, `upload failed: ${(error as Error).message}`);
      }
    }),
  );
  await clock.time("db", () =>
    updateCheckpoints(
      db,
      uploaded.map((item) => ({ sourcePath: item.path, stage: "uploaded", ...identity(item.file), duplicate: false, error: null, finished: false })),
    ),
  );
  const kept: Worked[] = [];
  const failed: CheckpointUpdate[] = [];
  for (const item of worked) {
    const error = errors.get(item.file.analysis.sha256);
    if (error === undefined) kept.push(item);
    else failed.push(failure(item.path, error, identity(item.file)));
  }
  return { kept, failed };
}

async function finishBatch(deps: RunDeps, batch: Prepared[], analyses: Promise<AnalyseOutcome>[], mlTurn: Turn, commitTurn: Turn): Promise<void> {
  const { db, clock, counts } = deps;
  try {
    const failed: CheckpointUpdate[] = [];
    let analysed: { item: Prepared; file: AnalysedFile }[] = [];
    (await Promise.all(analyses)).forEach((outcome, i) => {
      const item = batch[i] as Prepared;
      if (outcome.kind === "analysed") analysed.push({ item, file: outcome.file });
      else failed.push(failure(item.path, outcome.reason));
    });

    const models = deps.models;
    const inference = models
      ? await mlTurn.run(() =>
          inferBatch(
            models,
            analysed.map((a) => raster(a.file)),
            (step, work) => clock.time(step, work),
          ),
        )
      : analysed.map(() => null);
    mlTurn.release();
    // The working rasters (a few MB each) are not needed past the ML steps.
    const worked: Worked[] = analysed.map(({ item, file: { working: _, ...file } }, i) => ({ ...item, file, inference: inference[i] ?? null }));
    // Let them go for real: the settled analyses (and the caller's array of them) still reach them.
    for (const { file } of analysed) file.working = { data: new Uint8Array(0), width: 0, height: 0 };
    analyses.length = 0;
    analysed = [];

    await clock.time("db", () =>
      updateCheckpoints(
        db,
        // A file already uploaded by an earlier run stays at that stage.
        worked
          .filter((w) => !uploadedBefore(w, w.file.analysis.sha256))
          .map((w) => ({ sourcePath: w.path, stage: "processed", ...identity(w.file), duplicate: false, error: null, finished: false })),
      ),
    );
    const { kept, failed: uploadFailures } = await upload(deps, worked);
    failed.push(...uploadFailures);
    const ready = kept.map((item) => readyFile(deps, item));
    const result = await commitTurn.run(() => clock.time("db", () => commitBatch(db, deps.settings.contributorId, ready, failed)));
    counts.done += result.listed.length;
    counts.duplicates += result.duplicates.length;
    counts.failed += failed.length;
  } finally {
    mlTurn.release();
    commitTurn.release();
  }
}

/** Runs every path of `source`; throws the first error that is not a file's own (database, ML). */
export async function runMigration(deps: RunDeps, source: AsyncIterable<string>): Promise<void> {
  const mlTurns = takeTurns();
  const commitTurns = takeTurns();
  const inFlight = new Set<Promise<void>>();
  let fatal: { error: unknown } | null = null;

  for await (const paths of batchesOf(source, deps.settings.batch)) {
    if (deps.signal.aborted || fatal) break;
    const batch = await deps.clock.time("db", () => prepare(deps, paths));
    if (batch.length === 0) continue;
    const analyses = batch.map((item) => deps.threads.analyse(item.path, { render: !(item.checkpoint?.stage === "uploaded") }));
    const running: Promise<void> = finishBatch(deps, batch, analyses, mlTurns(), commitTurns()).catch((error: unknown) => {
      fatal ??= { error };
    });
    inFlight.add(running);
    void running.finally(() => inFlight.delete(running));
    while (inFlight.size >= MAX_BATCHES_IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (fatal) throw (fatal as { error: unknown }).error;
}
