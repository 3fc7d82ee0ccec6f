/**
 * `withLock`: `async with lock:` for code running in the Worker. Acquires a Lock (waiting in line up to `waitMs`),
 * renews the lease while `fn` runs, aborts `fn`'s signal if the lease is lost, and releases it afterwards.
 *
 * It is the Worker's side of the Lock object's RPC, not an object itself: it names only the three calls it makes
 * (`LockNamespace`), which `env.LOCK` satisfies, so this module does not import the Durable Object.
 */

/** The part of the LOCK binding `withLock` calls (`env.LOCK`, a `DurableObjectNamespace<Lock>`). */
export interface LockNamespace {
  getByName(name: string): {
    acquire(req: {
      owner: string;
      ttlMs: number;
      waitMs: number;
      waiterId: string;
    }): Promise<{ ok: true; token: number } | { ok: false; waiters: number }>;
    renew(owner: string, token: number, ttlMs: number): Promise<{ ok: true } | { ok: false; detail: string }>;
    release(owner: string, token: number): Promise<unknown>;
  };
}

export interface WithLockOptions {
  ttlMs: number;
  /** How long to wait in line for the lock (default 0: fail at once if it is held). */
  waitMs?: number;
  /** Who holds it, for the lock's status (default: a random id). */
  owner?: string;
  /** Renew this often (default ttlMs / 3). */
  renewEveryMs?: number;
}

export interface Lease {
  name: string;
  owner: string;
  /** The fencing token: pass it to whatever the lock protects (`fence: {lock, token}` on counters). */
  token: number;
  /** Aborted (with a LeaseLostError) if the lease could not be renewed. */
  signal: AbortSignal;
}

export class LockBusyError extends Error {
  override readonly name = "LockBusyError";
  constructor(
    readonly lock: string,
    readonly waiters: number,
  ) {
    super(`lock ${lock} is held (${waiters} waiting)`);
  }
}

export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
}

/**
 * @example
 * const total = await withLock(env, "invoices", async ({ token, signal }) => {
 *   const res = await fetch(url, { signal });
 *   await env.COUNTER.getByName("invoices").increment({ by: 1, fence: { lock: "invoices", token } });
 *   return res.status;
 * }, { ttlMs: 10_000, waitMs: 5_000 });
 */
export async function withLock<T>(
  env: { LOCK: LockNamespace },
  name: string,
  fn: (lease: Lease) => Promise<T>,
  options: WithLockOptions,
): Promise<T> {
  const owner = options.owner ?? crypto.randomUUID();
  const stub = env.LOCK.getByName(name);
  const granted = await stub.acquire({
    owner,
    ttlMs: options.ttlMs,
    waitMs: options.waitMs ?? 0,
    waiterId: crypto.randomUUID(),
  });
  if (!granted.ok) throw new LockBusyError(name, granted.waiters);
  const { token } = granted;
  const controller = new AbortController();
  const every = options.renewEveryMs ?? Math.max(1, Math.floor(options.ttlMs / 3));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const renewLoop = () => {
    timer = setTimeout(async () => {
      try {
        const renewed = await stub.renew(owner, token, options.ttlMs);
        if (!renewed.ok) return controller.abort(new LeaseLostError(`lock ${name}: ${renewed.detail}`));
      } catch (err) {
        return controller.abort(new LeaseLostError(`lock ${name}: renew failed: ${String(err)}`));
      }
      if (!controller.signal.aborted) renewLoop();
    }, every);
  };
  renewLoop();
  try {
    return await fn({ name, owner, token, signal: controller.signal });
  } finally {
    clearTimeout(timer);
    // A lost lease has nothing to release; a failed release only shortens the wait for the next holder to the TTL.
    if (!controller.signal.aborted) await stub.release(owner, token).catch(() => undefined);
  }
}
