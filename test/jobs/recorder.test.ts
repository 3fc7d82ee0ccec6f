/**
 * ChunkRecorder: a chunk's results reach its Job object as calls finish, one record in flight at a time, those that
 * finish meanwhile together, at most one record per result plus the last; a failed record's results are kept for the
 * next, and the last one's failure is the chunk's. The record function here is the test's own, held at gates.
 */
import { describe, expect, it } from "vitest";
import { ChunkRecorder } from "../../src/jobs/recorder";
import type { JobResult } from "../../src/jobs/types";

const result = (index: number) => ({ index, ok: true }) as unknown as JobResult;

/** A record function whose calls wait until the test lets each one finish (or fail). */
function gatedRecord() {
  const calls: { indices: number[]; note?: { lastError?: string } }[] = [];
  const gates: { resolve(): void; reject(err: Error): void }[] = [];
  const record = (json: string, note?: { lastError?: string }) => {
    calls.push({
      indices: (JSON.parse(json) as JobResult[]).map((r) => r.index),
      ...(note?.lastError ? { note } : {}),
    });
    return new Promise<void>((resolve, reject) => gates.push({ resolve, reject }));
  };
  /** Let the `n`th call (from 0) finish, once it was made. */
  const release = async (n: number, error?: Error) => {
    while (!gates[n]) await Promise.resolve();
    if (error) gates[n]?.reject(error);
    else gates[n]?.resolve();
  };
  /** Once `n` calls were made (a record starts after the one in flight, a few microtasks later). */
  const made = async (n: number) => {
    while (calls.length < n) await Promise.resolve();
  };
  return { record, calls, release, made };
}

describe("ChunkRecorder", () => {
  it("records the first result at once and those that finish while a record is in flight together, after it", async () => {
    const { record, calls, release, made } = gatedRecord();
    const recorder = new ChunkRecorder(record, 0);
    recorder.add(result(0));
    await made(1);
    expect(calls).toEqual([{ indices: [0] }]);
    recorder.add(result(1));
    recorder.add(result(2));
    // One record in flight at a time: 1 and 2 wait for it.
    expect(calls).toHaveLength(1);
    await release(0);
    await made(2);
    expect(calls).toEqual([{ indices: [0] }, { indices: [1, 2] }]);
    const finished = recorder.finish({});
    await release(1);
    await finished;
    // Nothing left: no empty record at the end.
    expect(calls).toHaveLength(2);
  });

  it("keeps a failed record's results for the next one, and the chunk's last error goes with the last", async () => {
    const { record, calls, release } = gatedRecord();
    const recorder = new ChunkRecorder(record, 0);
    recorder.add(result(0));
    await release(0, new Error("object overloaded"));
    const finished = recorder.finish({ lastError: "timeout: 2 calls" });
    await release(1);
    await finished;
    expect(calls).toEqual([{ indices: [0] }, { indices: [0], note: { lastError: "timeout: 2 calls" } }]);
  });

  it("within the interval, later results wait for it (or for the end); the last record's failure is thrown", async () => {
    const { record, calls, release } = gatedRecord();
    const recorder = new ChunkRecorder(record, 60_000);
    recorder.add(result(0));
    await release(0);
    recorder.add(result(1));
    recorder.add(result(2));
    expect(calls).toHaveLength(1);
    const finished = recorder.finish({});
    await release(1, new Error("object reset"));
    await expect(finished).rejects.toThrow("object reset");
    expect(calls).toEqual([{ indices: [0] }, { indices: [1, 2] }]);
  });
});
