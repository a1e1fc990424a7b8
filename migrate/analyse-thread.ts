import { readFile } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";
import type { UploadContentType } from "../common/images";
import { configureImaging } from "../gpu-worker/imaging";
import { analyseImage, RejectedFile, renderDerivatives } from "../gpu-worker/pipeline/index";
import { analysisOf } from "../gpu-worker/pipeline/steps";
import { imageIdFor } from "./ids";
import type { AnalysedFile, AnalyseTask, ThreadMessage } from "./threads";

/**
 * Worker-thread entry of the migration (started by migrate/threads.ts): for one file at a time,
 * reads it, runs the live pipeline's analysis (validation, hashes, metadata, colours, the working
 * decode), derives the image id from the content and renders the four renditions. The working
 * raster and the renditions go back to the main thread transferred, not copied.
 */

// Each thread is one image at a time; parallelism comes from the number of threads. libvips'
// operation cache would hold decoded images between files: memory would grow with the run.
configureImaging({ threads: 1, cache: false });

const port = parentPort;
if (!port) throw new Error("migrate/analyse-thread.ts runs as a worker thread (migrate/threads.ts)");
const { maxInputPixels } = workerData as { maxInputPixels: number };

const CONTENT_TYPES: Record<string, UploadContentType> = { jpeg: "image/jpeg", png: "image/png", tiff: "image/tiff", webp: "image/webp", avif: "image/avif" };

const post = (message: ThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

/**
 * sharp's buffers are external memory that cannot be transferred: copy each once into a plain
 * ArrayBuffer that can, instead of letting postMessage clone it.
 */
function transferable(bytes: Uint8Array, transfer: ArrayBuffer[]): Uint8Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  transfer.push(copy.buffer);
  return copy;
}

async function stage<T>(id: number, name: "read" | "analyse" | "render", work: () => Promise<T>): Promise<T> {
  post({ type: "enter", id, stage: name });
  const started = performance.now();
  try {
    return await work();
  } finally {
    post({ type: "leave", id, stage: name, wallMs: performance.now() - started });
  }
}

async function run(task: AnalyseTask) {
  const { id } = task;
  try {
    const bytes = await stage(id, "read", () => readFile(task.path));
    const analysed = await stage(id, "analyse", () => analyseImage(bytes, null, { maxInputPixels }));
    const imageId = imageIdFor(analysed.sha256);
    const renditions = task.render ? await stage(id, "render", () => renderDerivatives(analysed, imageId)) : [];
    const contentType = CONTENT_TYPES[analysed.format];
    if (!contentType) throw new Error(`unexpected format ${analysed.format}`);
    const transfer: ArrayBuffer[] = [];
    const file: AnalysedFile = {
      analysis: analysisOf(analysed),
      imageId,
      contentType,
      working: { data: transferable(analysed.working.data, transfer), width: analysed.working.width, height: analysed.working.height },
      renditions: renditions.map((r) => ({ name: r.name, body: transferable(r.body, transfer), contentType: r.contentType })),
    };
    post({ type: "analysed", id, file }, transfer);
  } catch (error) {
    if (error instanceof RejectedFile) post({ type: "rejected", id, reason: error.message });
    else post({ type: "failed", id, reason: (error as Error).message ?? String(error) });
  }
}

port.on("message", (task: AnalyseTask) => void run(task));
