/**
 * The progress a chunk's handlers report of their items (`ctx.progress`), passed on to the Job object throttled as
 * the job's own progress is: the first report at once, later ones at most once per interval (the latest of each item
 * that reported meanwhile, together), one call in flight at a time. A call that fails is dropped: progress is a hint
 * for whoever watches, never a result.
 */
import { offerNow, Throttle } from "./throttle";

/** `Job.progress` for one chunk: the items' latest reports, as JSON `[{index, data}]`. */
export type SendProgress = (itemsJson: string) => Promise<unknown>;

/**
 * @example
 * const progress = new ItemProgress((json) => stub.progress(chunk, json), 200);
 * progress.report(3, { bytes: 1_048_576 });
 * progress.stop(); // when the chunk ends
 */
export class ItemProgress {
  readonly #send: SendProgress;
  readonly #throttle: Throttle;
  #latest = new Map<number, unknown>();
  #inFlight: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(send: SendProgress, intervalMs: number) {
    this.#send = send;
    this.#throttle = new Throttle(intervalMs);
  }

  /** Item `index` reports `data` (a later report of the same item before it goes out replaces it). */
  report(index: number, data: unknown): void {
    if (this.#stopped) return;
    this.#latest.set(index, data);
    this.#timer = offerNow(this.#throttle, () => this.#flush()) ?? this.#timer;
  }

  /** The chunk has ended: nothing more goes out (its results say the rest). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#latest.clear();
  }

  #flush(): void {
    this.#inFlight = this.#inFlight.then(async () => {
      if (this.#stopped || this.#latest.size === 0) return;
      const items = [...this.#latest].map(([index, data]) => ({ index, data }));
      this.#latest.clear();
      try {
        await this.#send(JSON.stringify(items));
      } catch {
        // Dropped (the object unreachable, data that is not JSON): a hint only.
      }
    });
  }
}
