/** Bounded concurrency over a list of asynchronous tasks. */

/**
 * Runs `work` over `items` with at most `concurrency` calls in flight, so a long list never starts
 * more requests at once than the caller allows.
 *
 * @param items The inputs, in order.
 * @param concurrency The most calls of `work` pending at once (at least 1).
 * @param work The task for one item; the first rejection rejects the whole map.
 * @returns The results in input order.
 */
export async function pooledMap<T, R>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`pooledMap: concurrency must be a positive integer, got ${concurrency}`);
  }
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
