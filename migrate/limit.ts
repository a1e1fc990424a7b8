/**
 * A concurrency limit: at most `n` of the functions passed to it run at once, the rest wait in
 * order. Used to bound requests to R2 across every batch in flight.
 *
 * @example
 * const limit = createLimit(8);
 * await Promise.all(keys.map((key) => limit(() => store.putObject(bucket, key, body, options))));
 */
export type Limit = <T>(work: () => Promise<T>) => Promise<T>;

export function createLimit(n: number): Limit {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    // A finishing call hands its slot straight to the next waiter, so a newcomer cannot take it in between.
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
