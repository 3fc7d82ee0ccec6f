/**
 * Records a chunk's results in its Job object as its calls finish, so that a job's progress moves call by call rather
 * than chunk by chunk. Throttled as the progress it feeds: the first result at once, later ones at most once per
 * interval (those that finished meanwhile together, after it), one object call in flight at a time, and what is left
 * when the chunk ends. Each call carries at least one new result (the last one: the rest, or only the chunk's last
 * error), so a chunk of n requests makes at most n + 1 calls to its Job object, well within an invocation's budget of
 * calls to Cloudflare services (1,000 on the free plan) for a full batch.
 */
import { offerNow, Throttle } from "./throttle";
import type { JobResult } from "./types";

/** What a record says besides its results: the chunk's last transient failure, the job's error (a type's `failure`). */
export interface RecordNote {
  lastError?: string;
  jobError?: string;
}

/** `Job.record` for one chunk: its results as JSON, and the chunk's note. */
export type RecordChunk = (resultsJson: string, note?: RecordNote) => Promise<unknown>;

/**
 * @example
 * const recorder = new ChunkRecorder((json, note) => stub.record(chunk, json, note), 200);
 * const outcome = await runChunk(type, chunk, { ...how, onResult: (result, jobError) => recorder.add(result, jobError) });
 * await recorder.finish({ lastError: outcome.lastError }); // throws if the last record fails: the chunk is retried
 */
export class ChunkRecorder {
  readonly #record: RecordChunk;
  readonly #throttle: Throttle;
  #waiting: JobResult[] = [];
  /** The job's error a waiting result brings (a webhook delivery that ended without a 2xx), recorded with it. */
  #jobError: string | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(record: RecordChunk, intervalMs: number) {
    this.#record = record;
    this.#throttle = new Throttle(intervalMs);
  }

  /** A call of the chunk finished with a final result (which makes the job's error `jobError`, if given). */
  add(result: JobResult, jobError?: string): void {
    this.#waiting.push(result);
    if (jobError !== undefined) this.#jobError = jobError;
    this.#timer = offerNow(this.#throttle, () => this.#flush()) ?? this.#timer;
  }

  /**
   * The chunk has ended: wait for the record in flight, then record what is left with the chunk's last error. A
   * record that failed on the way is retried here (its results were kept); this one's failure is thrown.
   */
  async finish(note: { lastError?: string } = {}): Promise<void> {
    this.stop();
    await this.#inFlight;
    const rest = this.#waiting.splice(0);
    const jobError = this.#takeJobError();
    if (rest.length > 0 || note.lastError) await this.#record(JSON.stringify(rest), { ...note, ...jobError });
  }

  /** No more results will come (the chunk failed): drop the pending timer. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Record what waits, after the record in flight (one at a time: those that finish meanwhile go together). */
  #flush(): void {
    this.#inFlight = this.#inFlight.then(async () => {
      const batch = this.#waiting.splice(0);
      if (batch.length === 0) return;
      const jobError = this.#takeJobError();
      try {
        await (jobError.jobError === undefined
          ? this.#record(JSON.stringify(batch))
          : this.#record(JSON.stringify(batch), jobError));
      } catch {
        // Kept for the next record (at the latest `finish`, which reports a failure).
        this.#waiting.unshift(...batch);
        this.#jobError ??= jobError.jobError;
      }
    });
  }

  #takeJobError(): { jobError?: string } {
    const jobError = this.#jobError;
    this.#jobError = undefined;
    return jobError === undefined ? {} : { jobError };
  }
}
