/**
 * Turns taken in order: each batch takes its turn for a step when it starts (in walk order) and
 * runs the step only after the batches before it ran theirs, however their other steps went. The
 * ML models run one batch at a time, and batches commit in walk order, so the first path of some
 * content is the one listed, on an interrupted run as on an uninterrupted one.
 *
 * @example
 * const commitTurns = takeTurns();
 * const turn = commitTurns(); // now, in batch order
 * await turn.run(() => commitBatch(...)); // later, after the earlier batches' commits
 */

export type Turn = {
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Gives the turn up without running (after the earlier turns are over); idempotent. */
  release(): void;
};

export function takeTurns(): () => Turn {
  let tail: Promise<void> = Promise.resolve();
  return () => {
    const previous = tail;
    let done!: () => void;
    tail = new Promise<void>((resolve) => (done = resolve));
    const release = () => void previous.then(done);
    return {
      async run(work) {
        await previous;
        try {
          return await work();
        } finally {
          done();
        }
      },
      release,
    };
  };
}
