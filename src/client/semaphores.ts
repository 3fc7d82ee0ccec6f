/**
 * `client.semaphore(name, { limit })`: asyncio.Semaphore across clients, with weighted permits. `acquire` waits in
 * the semaphore's FIFO line up to `waitMs` and returns a lease that renews itself while held and gives its permits
 * back on dispose (`await using`); `withPermit(fn)` does the same around a function.
 */
import type { Transport } from "./http.js";
import { seg } from "./http.js";
import { holding, Lease } from "./lease.js";
import type {
  SemaphoreAcquireInput,
  SemaphoreGrant,
  SemaphoreReleaseInput,
  SemaphoreRenewInput,
  SemaphoreStatus,
} from "./types.js";

export interface SemaphoreAcquireOptions {
  /** Permits to take (default 1, at most the limit). */
  permits?: number;
  /** Lease length (default 30 000 ms; LEASE_MIN_TTL_MS to LEASE_MAX_TTL_MS). */
  ttlMs?: number;
  /** How long to wait in line (default 0: a 409 `semaphore-full` at once). */
  waitMs?: number;
  /** Who holds the permits, as the semaphore's status shows (default: a random id). */
  holder?: string;
  /** Renew this often (default: a third of `ttlMs`). */
  renewEveryMs?: number;
  /** Gives up waiting: the request is aborted. */
  signal?: AbortSignal;
}

/** Permits held: renewed in the background, given back on dispose. */
export class SemaphoreLease extends Lease {
  readonly name: string;
  readonly leaseId: string;
  readonly holder: string;
  readonly permits: number;
  readonly grantedAt: number;

  constructor(transport: Transport, grant: SemaphoreGrant, options: { ttlMs: number; renewEveryMs?: number }) {
    const path = `/v1/semaphores/${seg(grant.name)}`;
    const { leaseId, holder } = grant;
    super(
      {
        renew: async (signal) =>
          (
            await transport.json<{ expiresAt: number }>(`${path}/renew`, {
              json: { leaseId, holder, ttlMs: options.ttlMs } satisfies SemaphoreRenewInput,
              idempotent: true, // renewing twice ends where renewing once does
              signal,
            })
          ).expiresAt,
        release: () =>
          transport.json(`${path}/release`, {
            json: { leaseId, holder } satisfies SemaphoreReleaseInput,
            idempotent: true, // a second release of the same lease is harmless
          }),
      },
      { ...options, expiresAt: grant.expiresAt },
    );
    this.name = grant.name;
    this.leaseId = leaseId;
    this.holder = holder;
    this.permits = grant.permits;
    this.grantedAt = grant.grantedAt;
  }
}

export class SemaphoreClient {
  readonly name: string;
  /** The semaphore's total permits: every client of one name must use the same (another is a 409 while in use). */
  readonly limit: number;
  readonly #transport: Transport;

  constructor(transport: Transport, name: string, limit: number) {
    this.#transport = transport;
    this.name = name;
    this.limit = limit;
  }

  /**
   * Take `permits`, waiting in FIFO order up to `waitMs`.
   *
   * @example
   * const crawl = client.semaphore("crawl", { limit: 5 });
   * await using lease = await crawl.acquire({ permits: 2, ttlMs: 60_000, waitMs: 10_000 });
   * await fetch(url, { signal: lease.signal });
   */
  async acquire(options: SemaphoreAcquireOptions = {}): Promise<SemaphoreLease> {
    const { permits = 1, ttlMs = 30_000, waitMs = 0, holder = crypto.randomUUID(), signal, renewEveryMs } = options;
    const grant = await this.#transport.json<SemaphoreGrant>(`/v1/semaphores/${seg(this.name)}/acquire`, {
      json: { holder, permits, limit: this.limit, ttlMs, waitMs } satisfies SemaphoreAcquireInput,
      signal,
    });
    return new SemaphoreLease(this.#transport, grant, { ttlMs, renewEveryMs });
  }

  /**
   * Run `fn` holding the permits; they go back when it returns or throws.
   *
   * @example
   * await client.semaphore("crawl", { limit: 5 }).withPermit((lease) => fetch(url, { signal: lease.signal }), { waitMs: 10_000 });
   */
  async withPermit<T>(
    fn: (lease: SemaphoreLease) => Promise<T> | T,
    options: SemaphoreAcquireOptions = {},
  ): Promise<T> {
    return holding(this.acquire(options), fn);
  }

  /** Permits in use, the limit in force, leases and waiters. */
  status(): Promise<SemaphoreStatus> {
    return this.#transport.json<SemaphoreStatus>(`/v1/semaphores/${seg(this.name)}`);
  }
}
