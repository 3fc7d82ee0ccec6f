/**
 * `client.lock(name)`: asyncio.Lock across clients. `acquire` waits in the lock's FIFO line up to `waitMs` and
 * returns a lease that renews itself while held and releases on dispose (`await using`); `withLock(fn)` does the
 * same around a function, for callers without `await using`.
 */
import type { Transport } from "./http.js";
import { seg } from "./http.js";
import { holding, Lease } from "./lease.js";
import type { Fence, LockAcquireInput, LockGrant, LockReleaseInput, LockRenewInput, LockStatus } from "./types.js";

export interface LockAcquireOptions {
  /** Lease length (default 30 000 ms; LEASE_MIN_TTL_MS to LEASE_MAX_TTL_MS). */
  ttlMs?: number;
  /** How long to wait in line while the lock is held (default 0: a 409 `lock-held` at once). */
  waitMs?: number;
  /** Who holds it, as the lock's status shows (default: a random id). */
  owner?: string;
  /** Renew this often (default: a third of `ttlMs`). */
  renewEveryMs?: number;
  /** Gives up waiting: the request is aborted. */
  signal?: AbortSignal;
}

/** A held lock: its fencing `token` and signed `fence`, renewed in the background, released on dispose. */
export class LockLease extends Lease {
  readonly name: string;
  readonly owner: string;
  /** The fencing token: strictly increasing per lock, never reused. */
  readonly token: number;
  /** The token signed by the lock (`{lock, token, sig}`), what counters' `fence` takes; absent without FENCE_SECRET. */
  readonly fence: Fence | undefined;
  readonly grantedAt: number;

  constructor(transport: Transport, grant: LockGrant, options: { ttlMs: number; renewEveryMs?: number }) {
    const path = `/v1/locks/${seg(grant.name)}`;
    const { owner, token } = grant;
    super(
      {
        renew: async (signal) =>
          (
            await transport.json<{ expiresAt: number }>(`${path}/renew`, {
              json: { owner, token, ttlMs: options.ttlMs } satisfies LockRenewInput,
              idempotent: true, // renewing twice ends where renewing once does
              signal,
            })
          ).expiresAt,
        release: () =>
          transport.json(`${path}/release`, {
            json: { owner, token } satisfies LockReleaseInput,
            idempotent: true, // a second release of the same lease is harmless
          }),
      },
      { ...options, expiresAt: grant.expiresAt },
    );
    this.name = grant.name;
    this.owner = owner;
    this.token = token;
    this.fence = grant.fence;
    this.grantedAt = grant.grantedAt;
  }
}

export class LockClient {
  readonly name: string;
  readonly #transport: Transport;

  constructor(transport: Transport, name: string) {
    this.#transport = transport;
    this.name = name;
  }

  /**
   * Acquire the lock, waiting in FIFO order up to `waitMs`.
   *
   * @example
   * await using lease = await client.lock("invoices").acquire({ ttlMs: 10_000, waitMs: 5_000 });
   * await client.counter("invoices").increment(1, { fence: lease });
   * // released here, even if the block throws; lease.signal fires if the lease is lost meanwhile
   */
  async acquire(options: LockAcquireOptions = {}): Promise<LockLease> {
    const { ttlMs = 30_000, waitMs = 0, owner = crypto.randomUUID(), signal, renewEveryMs } = options;
    const grant = await this.#transport.json<LockGrant>(`/v1/locks/${seg(this.name)}/acquire`, {
      json: { owner, ttlMs, waitMs } satisfies LockAcquireInput,
      signal,
    });
    return new LockLease(this.#transport, grant, { ttlMs, renewEveryMs });
  }

  /**
   * Run `fn` holding the lock; released when it returns or throws.
   *
   * @example
   * const total = await client.lock("invoices").withLock(async (lease) => {
   *   const { value } = await client.counter("invoices").increment(1, { fence: lease });
   *   return value;
   * }, { ttlMs: 10_000, waitMs: 5_000 });
   */
  async withLock<T>(fn: (lease: LockLease) => Promise<T> | T, options: LockAcquireOptions = {}): Promise<T> {
    return holding(this.acquire(options), fn);
  }

  /** Holder, token, expiry and the number of waiters. */
  status(): Promise<LockStatus> {
    return this.#transport.json<LockStatus>(`/v1/locks/${seg(this.name)}`);
  }
}
