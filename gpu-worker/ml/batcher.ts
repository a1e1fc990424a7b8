/**
 * Dynamic batching for model inference: callers submit one item (or a group) and await their own result;
 * the batcher groups what arrives close together into one `run` call. A batch is dispatched when it holds
 * `maxBatch` items, or `maxWaitMs` after its oldest item arrived, whichever comes first; while `concurrency`
 * batches are already running, waiting items keep accumulating (up to `maxBatch`) and go out as soon as a
 * slot frees, so a busy model gets full batches and an idle one answers within `maxWaitMs`.
 */

/** The most items one batch may hold (the ONNX sessions are run with at most this many rows). */
export const MAX_BATCH_LIMIT = 64;

export interface BatcherOptions<I, O> {
  /** Items per `run` call, 1–64. */
  maxBatch: number;
  /** How long the oldest waiting item may wait for others before its batch is dispatched anyway (≥ 0). */
  maxWaitMs: number;
  /** Batches running at once (default 1). */
  concurrency?: number;
  /** Runs one batch; must resolve to exactly one output per item, in the same order. */
  run: (items: I[]) => Promise<O[]>;
}

export interface BatcherStats {
  /** Items accepted by `submit`/`submitMany`. */
  submitted: number;
  /** Items whose promise resolved. */
  completed: number;
  /** Items whose promise was rejected because their batch failed. */
  failed: number;
  /** `run` calls started. */
  batches: number;
  /** `run` calls that threw, rejected, or returned the wrong number of outputs. */
  failedBatches: number;
  /** The largest batch so far. */
  largestBatch: number;
  /** Items waiting for a batch. */
  pending: number;
  /** Batches running now. */
  inFlight: number;
}

export interface Batcher<I, O> {
  /** Queues one item; resolves with its own output, or rejects with its batch's error. */
  submit(item: I): Promise<O>;
  /**
   * Queues several items at once, so they are never split by the timer (only by `maxBatch`);
   * resolves with their outputs in order, or rejects with the first failing batch's error.
   */
  submitMany(items: readonly I[]): Promise<O[]>;
  /** Dispatches everything still waiting, waits for all running batches, then refuses new items. */
  close(): Promise<void>;
  stats(): BatcherStats;
}

interface Entry<I, O> {
  item: I;
  enqueuedAt: number;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Creates a dynamic batcher around `run`.
 *
 * @example
 * const texts = createBatcher({ maxBatch: 32, maxWaitMs: 5, run: (batch: string[]) => embedBatch(batch) });
 * const [a, b] = await Promise.all([texts.submit("a red car"), texts.submit("a snowy hill")]); // one run call
 */
export function createBatcher<I, O>(options: BatcherOptions<I, O>): Batcher<I, O> {
  const { maxBatch, maxWaitMs, run } = options;
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > MAX_BATCH_LIMIT) {
    throw new RangeError(`maxBatch must be an integer from 1 to ${MAX_BATCH_LIMIT}, got ${maxBatch}`);
  }
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) throw new RangeError(`maxWaitMs must be a finite number ≥ 0, got ${maxWaitMs}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);

  const queue: Entry<I, O>[] = [];
  let inFlight = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerFor: Entry<I, O> | undefined;
  let closing = false;
  const idleWaiters: (() => void)[] = [];
  const counts = { submitted: 0, completed: 0, failed: 0, batches: 0, failedBatches: 0, largestBatch: 0 };

  const oldestIsDue = (): boolean => {
    const oldest = queue[0];
    return oldest !== undefined && performance.now() - oldest.enqueuedAt >= maxWaitMs;
  };

  function dispatch(): void {
    while (inFlight < concurrency && queue.length > 0 && (closing || queue.length >= maxBatch || oldestIsDue())) {
      startBatch(queue.splice(0, maxBatch));
    }
    armTimer();
    if (queue.length === 0 && inFlight === 0) for (const wake of idleWaiters.splice(0)) wake();
  }

  /**
   * Keeps one timer for the oldest waiting item, only while a slot is free: with every slot busy, the next
   * batch to finish calls `dispatch`, which sends what is due or re-arms.
   */
  function armTimer(): void {
    const oldest = closing || inFlight >= concurrency ? undefined : queue[0];
    if (timer !== undefined && timerFor === oldest) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    timerFor = oldest;
    if (oldest === undefined) return;
    const remaining = Math.max(0, maxWaitMs - (performance.now() - oldest.enqueuedAt));
    timer = setTimeout(() => {
      timer = undefined;
      dispatch();
    }, remaining);
  }

  function startBatch(batch: Entry<I, O>[]): void {
    inFlight++;
    counts.batches++;
    counts.largestBatch = Math.max(counts.largestBatch, batch.length);
    const fail = (error: unknown) => {
      counts.failedBatches++;
      counts.failed += batch.length;
      for (const entry of batch) entry.reject(error);
    };
    // Promise.resolve().then: a `run` that throws synchronously fails its batch like one that rejects.
    // The slot is freed before callers are settled, so stats() read by a resumed caller is current.
    Promise.resolve()
      .then(() => run(batch.map((entry) => entry.item)))
      .then(
        (outputs) => {
          inFlight--;
          if (!Array.isArray(outputs) || outputs.length !== batch.length) {
            const got = Array.isArray(outputs) ? `${outputs.length} outputs` : typeof outputs;
            fail(new Error(`batch run returned ${got} for ${batch.length} items`));
          } else {
            counts.completed += batch.length;
            batch.forEach((entry, i) => entry.resolve(outputs[i] as O));
          }
          dispatch();
        },
        (error: unknown) => {
          inFlight--;
          fail(error);
          dispatch();
        },
      );
  }

  function enqueue(item: I, enqueuedAt: number): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      queue.push({ item, enqueuedAt, resolve, reject });
      counts.submitted++;
    });
  }

  const refuse = () => Promise.reject(new Error("batcher is closed"));

  return {
    submit(item) {
      if (closing) return refuse();
      const result = enqueue(item, performance.now());
      dispatch();
      return result;
    },
    submitMany(items) {
      if (closing) return refuse() as Promise<O[]>;
      if (items.length === 0) return Promise.resolve([]);
      const now = performance.now();
      const results = items.map((item) => enqueue(item, now));
      dispatch();
      return Promise.all(results);
    },
    async close() {
      closing = true;
      dispatch();
      if (queue.length === 0 && inFlight === 0) return;
      await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    stats() {
      return { ...counts, pending: queue.length, inFlight };
    },
  };
}
