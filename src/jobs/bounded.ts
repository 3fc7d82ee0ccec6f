/**
 * Run an async function over items with at most `limit` running at once (a consumer batch's messages).
 */

/**
 * @example
 * await eachBounded(batch.messages, 5, (msg) => handle(msg))
 */
export async function eachBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
