/**
 * The progress display on stderr: on a terminal a bar and one line rewritten in place twice a second,
 * otherwise (logs, CI) one line every MIGRATE_PROGRESS_MS. Files done, failed, skipped, the rate
 * and the time left; the total comes from a counting walk running alongside, unknown until it ends.
 */

export type Counts = { done: number; failed: number; skipped: number; duplicates: number };

const TTY_INTERVAL_MS = 500;

/** "1h02m", "4m05s", "12s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/**
 * One progress line. The rate counts files that went through the pipeline (listed, duplicates,
 * failed), not the skipped ones; the time left assumes the rest goes at that rate.
 *
 * @example formatProgress({ done: 90, failed: 2, skipped: 10, duplicates: 8 }, 200, 20_000)
 * // "110/200 files: 90 done, 8 duplicates, 2 failed, 10 skipped · 5.0 files/s · 18,000 images/h · ETA 18s"
 */
export function formatProgress(counts: Counts, total: number | null, elapsedMs: number): string {
  const worked = counts.done + counts.duplicates + counts.failed;
  const seen = worked + counts.skipped;
  const perSecond = elapsedMs > 0 ? worked / (elapsedMs / 1000) : 0;
  const eta = total === null ? "ETA ?" : perSecond > 0 ? `ETA ${formatDuration(((total - seen) / perSecond) * 1000)}` : "ETA ?";
  return (
    `${seen}/${total ?? "?"} files: ${counts.done} done, ${counts.duplicates} duplicates, ${counts.failed} failed, ${counts.skipped} skipped` +
    ` · ${perSecond.toFixed(1)} files/s · ${Math.round(perSecond * 3600).toLocaleString("en-US")} images/h · ${eta}`
  );
}

/**
 * A bar of `width` cells for `seen` of `total` files; empty brackets while the total is unknown.
 *
 * @example formatBar(5, 20, 8) // "[##------]"
 */
export function formatBar(seen: number, total: number | null, width = 24): string {
  if (total === null || total <= 0) return `[${" ".repeat(width)}]`;
  const filled = Math.min(width, Math.floor((seen / total) * width));
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

export type Progress = { stop(): void };

export function startProgress(options: { stream: NodeJS.WriteStream; intervalMs: number; counts: () => Counts; total: () => number | null }): Progress {
  const { stream } = options;
  const started = performance.now();
  const line = () => formatProgress(options.counts(), options.total(), performance.now() - started);
  const seen = () => {
    const c = options.counts();
    return c.done + c.duplicates + c.failed + c.skipped;
  };
  const barLine = () => `${formatBar(seen(), options.total())} ${line()}`;
  const tty = stream.isTTY === true;
  const timer = setInterval(
    () => {
      if (tty) stream.write(`\r\x1b[K${barLine()}`);
      else stream.write(`[migrate] ${line()}\n`);
    },
    tty ? TTY_INTERVAL_MS : options.intervalMs,
  );
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      if (tty) stream.write(`\r\x1b[K${barLine()}\n`);
    },
  };
}
