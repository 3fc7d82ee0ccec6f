/** The semaphore's admission decisions (limit in force; grant, refuse or wait; the lease), by a chosen clock. */
import { describe, expect, it } from "vitest";
import {
  admit,
  conflictingLimit,
  fits,
  inUse,
  newLease,
  nextExpiry,
  notHeld,
  type SemaphoreLease,
} from "../../src/semaphores/semaphore-state";

const lease = (permits: number, expiresAt: number): SemaphoreLease => ({
  leaseId: `l${permits}-${expiresAt}`,
  holder: "h",
  permits,
  grantedAt: 0,
  expiresAt,
  waiterId: null,
});

describe("semaphore admission", () => {
  it("refuses another limit only while the semaphore is busy, and names the limit in force", () => {
    expect(conflictingLimit(5, 3, true)).toBe(5);
    expect(conflictingLimit(5, 3, false)).toBeNull();
    expect(conflictingLimit(5, 5, true)).toBeNull();
    expect(conflictingLimit(null, 3, true)).toBeNull();
  });

  it("grants at once only when the permits fit and nobody waits (strict FIFO)", () => {
    const leases = [lease(3, 1_000)];
    expect(admit(leases, { permits: 2, limit: 5, waitMs: 0 }, 0, 10, 500)).toBe("grant");
    expect(admit(leases, { permits: 2, limit: 5, waitMs: 1_000 }, 1, 10, 500)).toBe("wait");
    expect(admit(leases, { permits: 3, limit: 5, waitMs: 1_000 }, 0, 10, 500)).toBe("wait");
    // At its expiry the lease no longer counts.
    expect(admit(leases, { permits: 3, limit: 5, waitMs: 0 }, 0, 10, 1_000)).toBe("grant");
  });

  it("refuses at once without waitMs, and refuses a waiter when the line is full", () => {
    const leases = [lease(5, 1_000)];
    expect(admit(leases, { permits: 1, limit: 5, waitMs: 0 }, 0, 10, 0)).toBe("full");
    expect(admit(leases, { permits: 1, limit: 5, waitMs: 100 }, 10, 10, 0)).toBe("queue-full");
    expect(admit(leases, { permits: 1, limit: 5, waitMs: 100 }, 9, 10, 0)).toBe("wait");
  });

  it("builds the granted lease from the request and the clock", () => {
    expect(newLease({ holder: "crawler", permits: 2, ttlMs: 300 }, 1_000, "L1", "W1")).toEqual({
      leaseId: "L1",
      holder: "crawler",
      permits: 2,
      grantedAt: 1_000,
      expiresAt: 1_300,
      waiterId: "W1",
    });
  });

  it("says whether a lease belongs to someone else or is gone", () => {
    expect(notHeld("L1", lease(1, 10))).toBe("lease L1 belongs to another holder");
    expect(notHeld("L1", undefined)).toBe("lease L1 is not held (released or expired)");
  });
});

describe("semaphore decisions", () => {
  const lease = (permits: number, expiresAt: number): SemaphoreLease => ({
    leaseId: crypto.randomUUID(),
    holder: "h",
    permits,
    grantedAt: 0,
    expiresAt,
    waiterId: null,
  });

  it("counts only live permits and knows what fits", () => {
    const leases = [lease(2, 100), lease(1, 50)];
    expect(inUse(leases, 10)).toBe(3);
    expect(inUse(leases, 50)).toBe(2);
    expect(fits(leases, 1, 3, 10)).toBe(false);
    expect(fits(leases, 1, 3, 50)).toBe(true);
    expect(nextExpiry(leases)).toBe(50);
    expect(nextExpiry([lease(1, 50), lease(2, 100), lease(3, 70)])).toBe(50);
    expect(nextExpiry([])).toBeNull();
  });
});
