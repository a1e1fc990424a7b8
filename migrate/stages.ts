/**
 * Per-stage timings of a migration run: wall time summed over every execution of a stage (threads
 * and batches overlap, so the sums may exceed the elapsed time), and an estimate of the CPU time
 * each used. libvips and onnxruntime work on their own thread pools, so CPU cannot be read per
 * stage; the process's CPU is sampled every few milliseconds and credited to the compute stages
 * running at the time (read, analyse, render, nsfw, clip), equally per execution, and only when
 * none runs to the I/O stages (upload, db), whose own work (hashing, signing, encoding) is small
 * next to decoding and encoding images: counted equally, eight uploads waiting on the network
 * would take most of the analysis threads' CPU. The stages add up to the process's CPU time while
 * any ran.
 */

export const STAGES = ["read", "analyse", "render", "nsfw", "clip", "upload", "db"] as const;
export type StageName = (typeof STAGES)[number];
const COMPUTE: readonly StageName[] = ["read", "analyse", "render", "nsfw", "clip"];
const IO: readonly StageName[] = ["upload", "db"];

export type StageTimes = Record<StageName, { wallMs: number; cpuMs: number }>;

export type StageClock = {
  enter(stage: StageName): void;
  /** Ends one execution of `stage` that took `wallMs`. */
  leave(stage: StageName, wallMs: number): void;
  /** Runs `work` as one execution of `stage`. */
  time<T>(stage: StageName, work: () => Promise<T> | T): Promise<T>;
  snapshot(): StageTimes;
  stop(): void;
};

const zeros = () => Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<StageName, number>;
const cpuNow = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};

/** A clock sampling the process's CPU every `sampleMs` (and at every stage change). */
export function startStageClock(sampleMs = 20): StageClock {
  const wall = zeros();
  const cpu = zeros();
  const active = zeros();
  let lastCpu = cpuNow();

  const sample = () => {
    const now = cpuNow();
    const used = now - lastCpu;
    lastCpu = now;
    const computing = COMPUTE.reduce((n, s) => n + active[s], 0);
    const credited = computing > 0 ? COMPUTE : IO;
    const running = computing > 0 ? computing : IO.reduce((n, s) => n + active[s], 0);
    if (running === 0) return;
    for (const stage of credited) if (active[stage] > 0) cpu[stage] += (used * active[stage]) / running;
  };
  const timer = setInterval(sample, sampleMs);
  timer.unref();

  const clock: StageClock = {
    enter(stage) {
      sample();
      active[stage]++;
    },
    leave(stage, wallMs) {
      sample();
      active[stage] = Math.max(0, active[stage] - 1);
      wall[stage] += wallMs;
    },
    async time(stage, work) {
      clock.enter(stage);
      const started = performance.now();
      try {
        return await work();
      } finally {
        clock.leave(stage, performance.now() - started);
      }
    },
    snapshot() {
      sample();
      return Object.fromEntries(STAGES.map((s) => [s, { wallMs: Math.round(wall[s]), cpuMs: Math.round(cpu[s]) }])) as StageTimes;
    },
    stop() {
      clearInterval(timer);
    },
  };
  return clock;
}
