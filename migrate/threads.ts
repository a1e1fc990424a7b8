import { Worker } from "node:worker_threads";
import type { RenditionName, UploadContentType } from "../common/images";
import type { Analysis } from "../gpu-worker/pipeline/steps";
import type { StageClock } from "./stages";

/**
 * The pool of analysis threads (migrate/analyse-thread.ts): one file per thread at a time, the
 * rest waiting here in submission order. A thread that dies (an uncaught error, a native crash
 * in a library) fails the file it held and is replaced.
 */

export type AnalyseTask = { id: number; path: string; render: boolean };

/** What a thread sends back for a file the pipeline accepted: the whole analysis (every analysis step's result), and more. */
export type AnalysedFile = {
  analysis: Analysis;
  imageId: string;
  contentType: UploadContentType;
  /** The working decode (RGB, long edge up to 1200 px) for the ML steps. */
  working: { data: Uint8Array; width: number; height: number };
  /** Empty when the task said not to render (the renditions are already in the bucket). */
  renditions: { name: RenditionName; body: Uint8Array; contentType: string }[];
};

export type ThreadMessage =
  | { type: "enter"; id: number; stage: "read" | "analyse" | "render" }
  | { type: "leave"; id: number; stage: "read" | "analyse" | "render"; wallMs: number }
  | { type: "analysed"; id: number; file: AnalysedFile }
  | { type: "rejected"; id: number; reason: string }
  | { type: "failed"; id: number; reason: string };

/** Accepted with its analysis; refused by the pipeline (RejectedFile: not retried); or failed otherwise. */
export type AnalyseOutcome = { kind: "analysed"; file: AnalysedFile } | { kind: "rejected"; reason: string } | { kind: "failed"; reason: string };

export type AnalysisThreads = {
  analyse(path: string, options: { render: boolean }): Promise<AnalyseOutcome>;
  close(): Promise<void>;
};

type Pending = { task: AnalyseTask; resolve: (outcome: AnalyseOutcome) => void };
type Slot = { worker: Worker; current: Pending | null; open: Set<"read" | "analyse" | "render"> };

const THREAD_ENTRY = new URL("./analyse-thread.ts", import.meta.url);

/** Starts `count` threads; `maxInputPixels` is the pipeline's decompression-bomb limit. */
export function startAnalysisThreads(count: number, maxInputPixels: number, clock: StageClock): AnalysisThreads {
  const queue: Pending[] = [];
  const slots: Slot[] = [];
  let nextId = 1;
  let closing = false;

  const dispatch = () => {
    for (const slot of slots) {
      if (slot.current || queue.length === 0) continue;
      const pending = queue.shift() as Pending;
      slot.current = pending;
      slot.worker.postMessage(pending.task);
    }
  };

  const finish = (slot: Slot, outcome: AnalyseOutcome) => {
    const pending = slot.current;
    slot.current = null;
    pending?.resolve(outcome);
    dispatch();
  };

  const spawn = (): Slot => {
    const slot: Slot = { worker: new Worker(THREAD_ENTRY, { workerData: { maxInputPixels } }), current: null, open: new Set() };
    slot.worker.on("message", (message: ThreadMessage) => {
      if (message.type === "enter") {
        slot.open.add(message.stage);
        clock.enter(message.stage);
      } else if (message.type === "leave") {
        slot.open.delete(message.stage);
        clock.leave(message.stage, message.wallMs);
      } else if (message.type === "analysed") finish(slot, { kind: "analysed", file: message.file });
      else finish(slot, { kind: message.type, reason: message.reason });
    });
    const replace = (reason: string) => {
      for (const stage of slot.open) clock.leave(stage, 0);
      slot.open.clear();
      // Not in the pool: already replaced (error, then exit) or the pool is closing.
      const index = slots.indexOf(slot);
      if (index < 0) return;
      slots[index] = spawn();
      finish(slot, { kind: "failed", reason });
    };
    slot.worker.on("error", (error) => replace(`the analysis thread failed: ${error.message}`));
    slot.worker.on("exit", (code) => replace(`the analysis thread exited (code ${code})`));
    return slot;
  };

  for (let i = 0; i < count; i++) slots.push(spawn());

  return {
    analyse(path, options) {
      if (closing) return Promise.reject(new Error("the analysis threads are closed"));
      return new Promise((resolve) => {
        queue.push({ task: { id: nextId++, path, render: options.render }, resolve });
        dispatch();
      });
    },
    async close() {
      closing = true;
      const workers = slots.map((slot) => slot.worker);
      slots.length = 0;
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
