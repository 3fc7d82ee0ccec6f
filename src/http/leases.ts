/**
 * What locks and semaphores share over HTTP: the lease bounds (LEASE_* settings, named in the errors) and the
 * hand-back of a long-poll whose client went away.
 */
import type { Context } from "hono";
import { settings } from "../settings";
import { log } from "./log";
import { overLimit, problem } from "./problem";

/** Refuse a ttlMs or waitMs outside the LEASE_* settings with 400 problem+json naming the setting. */
export function checkLeaseBounds(env: object, ttlMs: number, waitMs = 0): void {
  const s = settings(env);
  const [min, max, maxWait] = [s.LEASE_MIN_TTL_MS, s.LEASE_MAX_TTL_MS, s.LEASE_MAX_WAIT_MS];
  // The minimum is reported like a maximum ({limit, max}): the setting and its value.
  if (ttlMs < min) throw overLimit("LEASE_MIN_TTL_MS", min, `ttlMs ${ttlMs} is below LEASE_MIN_TTL_MS (${min})`);
  if (ttlMs > max) throw overLimit("LEASE_MAX_TTL_MS", max, `ttlMs ${ttlMs} is above LEASE_MAX_TTL_MS (${max})`);
  if (waitMs > maxWait) {
    throw overLimit("LEASE_MAX_WAIT_MS", maxWait, `waitMs ${waitMs} is above LEASE_MAX_WAIT_MS (${maxWait})`);
  }
}

/**
 * Await a long-poll RPC; if the client disconnects first (request.signal, `enable_request_signal`), run `cancel` so
 * the object withdraws the waiter, or frees what it was granted meanwhile. Calls into a Durable Object are not
 * cancelled by the caller's disconnect, so the object would otherwise grant the lock to nobody.
 */
export async function untilAnswered<T>(c: Context, call: Promise<T>, cancel: () => Promise<unknown>): Promise<T> {
  const signal = c.req.raw.signal;
  const onAbort = () => {
    const cancelled = cancel().catch((err: unknown) =>
      log("warn", "cancel after disconnect failed", { error: err instanceof Error ? err.message : String(err) }),
    );
    try {
      c.executionCtx.waitUntil(cancelled);
    } catch {
      // No execution context (app.request in a unit test): the promise still runs.
    }
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await call;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** The 503 for a lock or semaphore whose line of waiters is full (LEASE_MAX_WAITERS). */
export function tooManyWaiters(what: "Lock" | "Semaphore", name: string, waiters: number) {
  return problem(503, `${what} ${name} already has LEASE_MAX_WAITERS (${waiters}) waiters.`, {
    type: "too-many-waiters",
    extensions: { waiters, limit: "LEASE_MAX_WAITERS" },
    headers: { "retry-after": "1" },
  });
}
