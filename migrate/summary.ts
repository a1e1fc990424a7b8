import { type Counts, formatDuration } from "./progress";
import { STAGES, type StageTimes } from "./stages";

/**
 * The final summary of a run, as text for people and as JSON (`--summary-json`) for the
 * benchmark (scripts/bench/migrate): counts, elapsed time, rate, wall and CPU time per stage with
 * their shares, and the peak resident memory of the process (every thread included).
 */

export type Summary = {
  files: Counts;
  elapsedMs: number;
  /** Files that went through the pipeline (listed, duplicates, failed) per hour of elapsed time. */
  imagesPerHour: number;
  stages: StageTimes;
  /** process.resourceUsage().maxRSS: the whole process, threads included. */
  peakRssMb: number;
  reportPath: string | null;
  /** Failed files under the folder listed in the report (this run's and earlier ones'). */
  failuresReported: number;
  /** How long building the embedding index took, when this run built it. */
  indexBuildMs: number | null;
  /** The signal that stopped the run early, if one did. */
  stoppedBy: string | null;
};

export function buildSummary(input: Omit<Summary, "imagesPerHour" | "peakRssMb">): Summary {
  const worked = input.files.done + input.files.duplicates + input.files.failed;
  return {
    ...input,
    elapsedMs: Math.round(input.elapsedMs),
    imagesPerHour: input.elapsedMs > 0 ? Math.round(worked / (input.elapsedMs / 3_600_000)) : 0,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    indexBuildMs: input.indexBuildMs === null ? null : Math.round(input.indexBuildMs),
  };
}

const share = (part: number, whole: number) => (whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : "-");

/** The summary as a few lines of text. */
export function formatSummary(summary: Summary): string {
  const { files } = summary;
  const wallTotal = STAGES.reduce((n, s) => n + summary.stages[s].wallMs, 0);
  const cpuTotal = STAGES.reduce((n, s) => n + summary.stages[s].cpuMs, 0);
  const lines = [
    `${summary.stoppedBy ? `stopped by ${summary.stoppedBy}` : "finished"}: ${files.done} listed, ${files.duplicates} duplicates, ${files.failed} failed, ${files.skipped} skipped (done earlier)`,
    `elapsed ${formatDuration(summary.elapsedMs)} (${summary.elapsedMs} ms), ${summary.imagesPerHour.toLocaleString("en-US")} images/hour, peak RSS ${summary.peakRssMb} MB`,
    "stage      wall ms (share)        CPU ms (share)",
    ...STAGES.map((s) => {
      const { wallMs, cpuMs } = summary.stages[s];
      return `${s.padEnd(10)} ${String(wallMs).padStart(9)} (${share(wallMs, wallTotal).padStart(6)})   ${String(cpuMs).padStart(9)} (${share(cpuMs, cpuTotal).padStart(6)})`;
    }),
    "(wall: summed over threads and batches in flight; CPU: an estimate, the process's CPU credited to the compute stages running at the time, see migrate/stages.ts)",
  ];
  if (summary.indexBuildMs !== null) lines.push(`embedding index built in ${formatDuration(summary.indexBuildMs)} (${summary.indexBuildMs} ms)`);
  if (summary.reportPath) lines.push(`${summary.failuresReported} failed file(s) under the folder; report: ${summary.reportPath}`);
  return lines.join("\n");
}
