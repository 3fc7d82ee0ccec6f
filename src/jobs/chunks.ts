/**
 * Cutting a job into chunks and chunks into queue messages and `sendBatch` calls, within the platform's limits:
 * a message ≤ 128 KB, a `sendBatch` ≤ 100 messages and ≤ 256 KB.
 */

/** Queue messages are at most 128 KB; leave room for the envelope. */
export const MAX_MESSAGE_BYTES = 120_000;
/** `sendBatch` limits. */
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 250_000;

export interface ChunkRange {
  index: number;
  /** Index (in the job's request list) of the chunk's first request. */
  start: number;
  count: number;
}

/**
 * Split `total` requests into consecutive chunks of at most `size`.
 *
 * @example
 * chunkRanges(5, 2) // [{index:0,start:0,count:2},{index:1,start:2,count:2},{index:2,start:4,count:1}]
 */
export function chunkRanges(total: number, size: number): ChunkRange[] {
  if (!(size >= 1)) throw new RangeError("chunk size must be at least 1");
  const out: ChunkRange[] = [];
  for (let start = 0, index = 0; start < total; start += size, index++) {
    out.push({ index, start, count: Math.min(size, total - start) });
  }
  return out;
}

const encoder = new TextEncoder();

/** The UTF-8 size of a value's JSON. */
export function jsonBytes(value: unknown): number {
  return encoder.encode(JSON.stringify(value)).byteLength;
}

/**
 * The message for a chunk: with its requests inline when that fits in `maxBytes`, else only the reference (the
 * consumer then reads the requests from the Job Durable Object).
 */
export function chunkMessage<R>(
  jobId: string,
  chunk: number,
  requests: readonly R[] | undefined,
  maxBytes = MAX_MESSAGE_BYTES,
): { jobId: string; chunk: number; requests?: R[] } {
  const bare = { jobId, chunk };
  if (!requests) return bare;
  const full = { ...bare, requests: [...requests] };
  return jsonBytes(full) <= maxBytes ? full : bare;
}

/**
 * Group messages into `sendBatch` calls of at most `maxMessages` messages and `maxBytes` bytes, in order.
 *
 * @example
 * batchesOf(msgs) // [[m0..m99], [m100..]]
 */
export function batchesOf<M>(
  messages: readonly M[],
  maxMessages = MAX_BATCH_MESSAGES,
  maxBytes = MAX_BATCH_BYTES,
): M[][] {
  const batches: M[][] = [];
  let current: M[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = jsonBytes(message);
    if (current.length > 0 && (current.length >= maxMessages || bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
