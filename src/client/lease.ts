/**
 * What a lock's and a semaphore's leases share: renewal in the background while held, a `signal` that fires when
 * the lease is lost (refused, or expired before a renewal succeeded: at `expiresAt` at the latest, whatever the
 * renewal in flight is doing), and release on dispose (`await using`), which never throws for a lease already lost.
 * Its timers are unref'd where the runtime has `unref` (Node, Bun): a lease never released does not keep a program
 * alive, and the service lets it expire.
 */
import { EdgeloopError, LeaseLostError } from "./errors.js";

/** `Symbol.asyncDispose`, or the name TypeScript's `await using` falls back to where the runtime has none. */
export const asyncDispose: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for("Symbol.asyncDispose") as typeof Symbol.asyncDispose);

export interface LeaseCalls {
  /** Renew for another ttl; the new expiry (ms since the epoch). `signal` gives the renewal up. */
  renew(signal: AbortSignal): Promise<number>;
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

type Timer = ReturnType<typeof setTimeout>;

/** A timer that does not keep Node (or Bun) running; a plain one in browsers and Deno, which have no `unref`. */
function unrefTimer(fn: () => void, ms: number): Timer {
  const timer = setTimeout(fn, Math.max(0, ms));
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/**
 * A lease held until released (or lost): renewed every `renewEveryMs` while held. A renewal the service refuses
 * (409), or none that succeeds before the lease's expiry, loses it: `signal` fires with a `LeaseLostError`, at the
 * expiry at the latest. Each renewal is given up after `renewEveryMs` or at the expiry, whichever comes first, so a
 * hanging one leaves room for the next.
 */
export abstract class Lease implements AsyncDisposable {
  /** Fires (with a `LeaseLostError`) when the lease is lost; work protected by the lease should stop then. */
  readonly signal: AbortSignal;
  /** When the lease ends unless renewed (ms since the epoch), as of the last renewal. */
  expiresAt: number;
  readonly #controller = new AbortController();
  readonly #calls: LeaseCalls;
  readonly #ttlMs: number;
  readonly #everyMs: number;
  /**
   * When this client counts the lease as expired (its clock): the service's `expiresAt`, or the ttl from when the
   * grant arrived (from when a renewal was sent), whichever is earlier, so a clock behind the service's cannot make
   * it late.
   */
  #deadline: number;
  #renewTimer: Timer | undefined;
  #expiryTimer: Timer | undefined;
  /** The renewal in flight, given up on loss, release, or its own timeout. */
  #renewal: AbortController | undefined;
  #state: "held" | "released" | "lost" = "held";
  /** What made the renewals since the last success fail (the last of them), told when the lease expires. */
  #lastFailure: unknown;

  protected constructor(calls: LeaseCalls, timing: LeaseTiming) {
    this.#calls = calls;
    this.signal = this.#controller.signal;
    this.expiresAt = timing.expiresAt;
    this.#ttlMs = timing.ttlMs;
    this.#everyMs = timing.renewEveryMs ?? Math.max(1, Math.floor(timing.ttlMs / 3));
    this.#deadline = Math.min(timing.expiresAt, Date.now() + timing.ttlMs);
    this.#armExpiry();
    this.#schedule();
  }

  /** Whether the lease is still held (neither released nor lost). */
  get held(): boolean {
    return this.#state === "held";
  }

  /** Give the lease back. Once released or lost, this does nothing; a lease found lost on release is not an error. */
  async release(): Promise<void> {
    if (this.#state !== "held") return;
    this.#state = "released";
    this.#stop();
    try {
      await this.#calls.release();
    } catch (err) {
      if (!isLost(err)) throw err;
    }
  }

  [asyncDispose](): Promise<void> {
    return this.release();
  }

  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = unrefTimer(() => {
      if (this.#state !== "held") return;
      const at = `it expired at ${new Date(this.expiresAt).toISOString()} before a renewal succeeded`;
      const last = this.#lastFailure;
      if (last === undefined) this.#lose(new Error(at));
      else {
        const why = last instanceof Error ? last.message : String(last);
        this.#lose(new Error(`${at} (the last renewal: ${why})`, { cause: last }));
      }
    }, this.#deadline - Date.now());
  }

  /** The next renewal: after `renewEveryMs`, or after a failed one sooner (half the time left, not under a quarter). */
  #schedule(failed = false): void {
    const every = this.#everyMs;
    const delay = failed ? Math.min(every, Math.max(every / 4, (this.#deadline - Date.now()) / 2)) : every;
    this.#renewTimer = unrefTimer(() => {
      this.#renew().catch(() => undefined);
    }, delay);
  }

  async #renew(): Promise<void> {
    if (this.#state !== "held") return;
    const sentAt = Date.now();
    const renewal = new AbortController();
    this.#renewal = renewal;
    const giveUp = unrefTimer(
      () => renewal.abort(new Error("the renewal took too long")),
      Math.min(this.#everyMs, this.#deadline - sentAt),
    );
    let failed = false;
    try {
      const expiresAt = await this.#calls.renew(renewal.signal);
      if (this.#state !== "held") return;
      this.expiresAt = expiresAt;
      this.#lastFailure = undefined;
      this.#deadline = Math.min(expiresAt, sentAt + this.#ttlMs);
      this.#armExpiry();
    } catch (err) {
      if (this.#state !== "held") return;
      if (isLost(err)) {
        this.#lose(err);
        return;
      }
      // Any other failure (a 5xx, a network error, the renewal's own timeout) is tried again soon; the expiry timer
      // loses the lease if none succeeds in time, and says what the last one was.
      this.#lastFailure = err;
      failed = true;
    } finally {
      clearTimeout(giveUp);
      if (this.#renewal === renewal) this.#renewal = undefined;
    }
    this.#schedule(failed);
  }

  #stop(): void {
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#expiryTimer);
    this.#renewal?.abort(new Error(`the lease was ${this.#state}`));
  }

  #lose(cause: unknown): void {
    this.#state = "lost";
    this.#stop();
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
