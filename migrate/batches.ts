/**
 * Consecutive items of an async source in arrays of up to `size`, the last one possibly shorter;
 * pulls only as far as the consumer asks (the walk stays a stream).
 *
 * @example for await (const paths of batchesOf(walkImages(folder), 32)) await register(paths);
 */
export async function* batchesOf<T>(source: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of source) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
