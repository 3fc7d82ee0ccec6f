import { describe, expect, it } from "vitest";
import { batchesOf, chunkMessage, chunkRanges, jsonBytes, MAX_MESSAGE_BYTES } from "../../src/jobs/chunks";

describe("chunkRanges", () => {
  it("cuts requests into consecutive chunks, the last one shorter", () => {
    expect(chunkRanges(5, 2)).toEqual([
      { index: 0, start: 0, count: 2 },
      { index: 1, start: 2, count: 2 },
      { index: 2, start: 4, count: 1 },
    ]);
    expect(chunkRanges(10_000, 50)).toHaveLength(200);
    expect(chunkRanges(0, 50)).toEqual([]);
  });

  it("refuses a chunk size below 1", () => {
    expect(() => chunkRanges(5, 0)).toThrow(RangeError);
  });
});

describe("chunkMessage", () => {
  it("carries the requests when the message fits, else only the job id and chunk", () => {
    const small = [{ url: "https://example.com/a" }];
    expect(chunkMessage("j", 3, small)).toEqual({ jobId: "j", chunk: 3, requests: small });
    const big = [{ url: "https://example.com/", body: "x".repeat(MAX_MESSAGE_BYTES) }];
    expect(chunkMessage("j", 3, big)).toEqual({ jobId: "j", chunk: 3 });
    expect(chunkMessage("j", 0, undefined)).toEqual({ jobId: "j", chunk: 0 });
  });
});

describe("batchesOf", () => {
  it("keeps sendBatch calls within 100 messages", () => {
    const messages = Array.from({ length: 250 }, (_, i) => ({ jobId: "j", chunk: i }));
    const batches = batchesOf(messages);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(batches.flat()).toEqual(messages);
  });

  it("keeps sendBatch calls within 256 KB", () => {
    const messages = Array.from({ length: 10 }, (_, i) => ({ chunk: i, pad: "x".repeat(100_000) }));
    const batches = batchesOf(messages);
    for (const batch of batches) expect(batch.reduce((n, m) => n + jsonBytes(m), 0)).toBeLessThanOrEqual(250_000);
    expect(batches.flat()).toEqual(messages);
    expect(batches).toHaveLength(5);
  });
});
