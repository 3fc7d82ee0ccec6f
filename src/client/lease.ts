/**
 * What a lock's and a semaphore's leases share: renewal in the background while held, a `signal` that fires when
 * the lease is lost, and release on dispose (`await using`), which never throws for a lease already lost.
 */
import { EdgeloopError, LeaseLostError } from "./errors.js";

/** `Symbol.asyncDispose`, or the name TypeScript's `await using` falls back to where the runtime has none. */
export const asyncDispose: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for("Symbol.asyncDispose") as typeof Symbol.asyncDispose);

export interface LeaseCalls {
  /** Renew for another ttl; the new expiry (ms since the epoch). */
  renew(): Promise<number>;
  release(): Promise<unknown>;
}

export interface LeaseTiming {
  ttlMs: number;
  expiresAt: number;
  /** Renew this often (default: a third of the ttl). */
  renewEveryMs?: number;
}

/** True for the answer that says the lease is no longer this holder's (409 lease-lost). */
const isLost = (err: unknown) => err instanceof EdgeloopError && err.status === 409;

/**
 * A lease held until released (or lost): renewed every `renewEveryMs` while held. A renewal the service refuses
 * (409), or none that succeeds before the lease's expiry, loses it: `signal` fires with a `LeaseLostError`.
 */
export abstract class Lease implements AsyncDisposable {
  /** Fires (with a `LeaseLostError`) when the lease is lost; work protected by the lease should stop then. */
  readonly signal: AbortSignal;
  /** When the lease ends unless renewed (ms since the epoch), as of the last renewal. */
  expiresAt: number;
  readonly #controller = new AbortController();
  readonly #calls: LeaseCalls;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #state: "held" | "released" | "lost" = "held";

  protected constructor(calls: LeaseCalls, timing: LeaseTiming) {
    this.#calls = calls;
    this.signal = this.#controller.signal;
    this.expiresAt = timing.expiresAt;
    this.#schedule(timing.renewEveryMs ?? Math.max(1, Math.floor(timing.ttlMs / 3)));
  }

  /** Whether the lease is still held (neither released nor lost). */
  get held(): boolean {
    return this.#state === "held";
  }

  /** Give the lease back. Once released or lost, this does nothing; a lease found lost on release is not an error. */
  async release(): Promise<void> {
    if (this.#state !== "held") return;
    this.#state = "released";
    clearTimeout(this.#timer);
    try {
      await this.#calls.release();
    } catch (err) {
      if (!isLost(err)) throw err;
    }
  }

  [asyncDispose](): Promise<void> {
    return this.release();
  }

  #schedule(everyMs: number): void {
    this.#timer = setTimeout(async () => {
      if (this.#state !== "held") return;
      try {
        const expiresAt = await this.#calls.renew();
        if (this.#state !== "held") return;
        this.expiresAt = expiresAt;
      } catch (err) {
        if (this.#state !== "held") return;
        if (isLost(err) || Date.now() >= this.expiresAt) {
          this.#lose(err);
          return;
        }
        // A failed renewal is tried again at the next tick, while the lease has not expired.
      }
      this.#schedule(everyMs);
    }, everyMs);
  }

  #lose(cause: unknown): void {
    this.#state = "lost";
    clearTimeout(this.#timer);
    const why = cause instanceof Error ? cause.message : String(cause);
    this.#controller.abort(new LeaseLostError(`the lease was lost: ${why}`, { cause }));
  }
}

/** Run `fn` with the lease `acquired` gives, releasing it when `fn` returns or throws. */
export async function holding<L extends Lease, T>(acquired: Promise<L>, fn: (lease: L) => Promise<T> | T): Promise<T> {
  const lease = await acquired;
  try {
    return await fn(lease);
  } finally {
    await lease.release();
  }
}
