/**
 * The client's leases (`src/client/lease.ts`) against a scripted service: renewal in the background, what loses a
 * lease (a 409, or no successful renewal before the expiry: network errors and 503s included), the signal's reason,
 * and release. Runtime-neutral (runs in workerd and, for mutation testing, in Node).
 */
import { describe, expect, it } from "vitest";
import { createClient, LeaseLostError, type LockLease } from "../../src/client";
import { BASE_URL, json, problemAnswer, type SeenRequest, scriptedService } from "../helpers/scripted-service";

const grant = (ttlMs: number, token = 7) => {
  const now = Date.now();
  return { name: "l", owner: "me", token, grantedAt: now, expiresAt: now + ttlMs };
};

/** The signal's reason once it aborts; rejects after `ms`, so that a lease never lost fails the test, not hangs it. */
function lost(signal: AbortSignal, ms = 3_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) resolve(signal.reason);
    const timer = setTimeout(() => reject(new Error(`the lease was not lost within ${ms} ms`)), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(signal.reason);
    });
  });
}

const isRenew = (r: SeenRequest) => r.path.endsWith("/renew");
const isRelease = (r: SeenRequest) => r.path.endsWith("/release");

describe("a lock's lease in the client", () => {
  for (const [failure, answer] of [
    [
      "a network error",
      () => {
        throw new TypeError("fetch failed");
      },
    ],
    ["a 503", () => problemAnswer(503, "overloaded", { "retry-after": "1" })],
  ] as const) {
    it(`is lost once its expiry passes while every renewal fails with ${failure} (retries off)`, async () => {
      const ttlMs = 200;
      const first = grant(ttlMs);
      let lease: LockLease | undefined;
      const abortedAtRenewal: boolean[] = [];
      const { fetch, seen } = scriptedService((req) => {
        if (req.path.endsWith("/acquire")) return json(first);
        if (isRenew(req)) {
          abortedAtRenewal.push(lease?.signal.aborted ?? true);
          return answer();
        }
        return json({ name: "l", released: true, releasedAt: Date.now() });
      });
      const client = createClient({ baseUrl: BASE_URL, fetch, retry: false });
      lease = await client.lock("l").acquire({ ttlMs });
      try {
        const reason = await lost(lease.signal);
        expect(reason).toBeInstanceOf(LeaseLostError);
        expect((reason as Error).message).toMatch(/^the lease was lost: /);
        expect(lease.held).toBe(false);
        expect(lease.expiresAt).toBe(first.expiresAt);
        // Renewals failed before the expiry without losing the lease: it was lost by the expiry, not the first error.
        expect(abortedAtRenewal.length).toBeGreaterThanOrEqual(2);
        expect(abortedAtRenewal.slice(0, 2)).toEqual([false, false]);
        // A lost lease is not released (it may be the next holder's now), and disposing of it does not throw.
        await lease.release();
        expect(seen.filter(isRelease)).toHaveLength(0);
      } finally {
        await lease.release();
      }
    });
  }
});
