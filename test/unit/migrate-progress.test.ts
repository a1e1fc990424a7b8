import { describe, expect, it } from "vitest";
import { formatBar, formatDuration, formatProgress } from "../../migrate/progress";
import { csvField } from "../../migrate/report";
import { STAGES } from "../../migrate/stages";
import { buildSummary, formatSummary } from "../../migrate/summary";

const stages = Object.fromEntries(STAGES.map((s, i) => [s, { wallMs: (i + 1) * 100, cpuMs: (i + 1) * 10 }])) as Parameters<typeof buildSummary>[0]["stages"];

describe("migration progress, summary and report", () => {
  it("formats durations", () => {
    expect(formatDuration(12_400)).toBe("12s");
    expect(formatDuration(245_000)).toBe("4m05s");
    expect(formatDuration(3_720_000)).toBe("1h02m");
  });

  it("shows counts, the rate over files that went through the pipeline, and the time left", () => {
    expect(formatProgress({ done: 90, failed: 2, skipped: 10, duplicates: 8 }, 200, 20_000)).toBe(
      "110/200 files: 90 done, 8 duplicates, 2 failed, 10 skipped · 5.0 files/s · 18,000 images/h · ETA 18s",
    );
    expect(formatProgress({ done: 0, failed: 0, skipped: 5, duplicates: 0 }, null, 1000)).toMatch(/5\/\? files.*ETA \?$/);
  });

  it("draws a bar of the files seen, empty while the total is unknown", () => {
    expect(formatBar(5, 20, 8)).toBe("[##------]");
    expect(formatBar(20, 20, 8)).toBe("[########]");
    expect(formatBar(25, 20, 8)).toBe("[########]");
    expect(formatBar(3, null, 4)).toBe("[    ]");
  });

  it("summarises a run with the keys the benchmark reads, and the stage shares", () => {
    const summary = buildSummary({
      files: { done: 30, failed: 4, skipped: 6, duplicates: 2 },
      elapsedMs: 36_000,
      stages,
      reportPath: "/tmp/report.csv",
      failuresReported: 4,
      indexBuildMs: null,
      stoppedBy: null,
    });
    expect(summary).toMatchObject({ files: { done: 30, failed: 4, skipped: 6, duplicates: 2 }, elapsedMs: 36_000, imagesPerHour: 3600, reportPath: "/tmp/report.csv" });
    expect(summary.peakRssMb).toBeGreaterThan(10);
    expect(Object.keys(summary.stages)).toEqual(["read", "analyse", "render", "nsfw", "clip", "upload", "db"]);
    const text = formatSummary(summary);
    expect(text).toContain("finished: 30 listed, 2 duplicates, 4 failed, 6 skipped");
    // db is 700 of 2800 ms of wall time.
    expect(text).toMatch(/db\s+700 \(\s*25\.0%\)\s+70 \(\s*25\.0%\)/);
    expect(text).toContain("report: /tmp/report.csv");
  });

  it("quotes CSV fields only when needed", () => {
    expect(csvField("/a/b.jpg")).toBe("/a/b.jpg");
    expect(csvField('the file is "odd", see\nthis')).toBe('"the file is ""odd"", see\nthis"');
  });
});
