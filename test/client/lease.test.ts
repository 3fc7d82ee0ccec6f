/**
 * The client's leases (`src/client/lease.ts`) against a scripted service: renewal in the background, what loses a
 * lease (a 409, or no successful renewal before the expiry: network errors and 503s included), the signal's reason,
 * and release. Runtime-neutral (runs in workerd and, for mutation testing, in Node).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createClient, EdgeloopError, LeaseLostError, type LockLease } from "../../src/client";
import { asyncDispose, holding, Lease, type LeaseCalls, type LeaseTiming } from "../../src/client/lease";
import { BASE_URL, json, problemAnswer, type SeenRequest, scriptedService } from "../helpers/scripted-service";

const grant = (ttlMs: number, token = 7) => {
  const now = Date.now();
  return { name: "l", owner: "me", token, grantedAt: now, expiresAt: now + ttlMs };
};

const isRenew = (r: SeenRequest) => r.path.endsWith("/renew");
const isRelease = (r: SeenRequest) => r.path.endsWith("/release");

afterEach(() => {
  vi.useRealTimers();
});

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
      vi.useFakeTimers({ now: 1_000_000 });
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
        // Renewals (every third of the ttl) fail: until the expiry, the lease is still held.
        await vi.advanceTimersByTimeAsync(ttlMs - 1);
        expect(abortedAtRenewal.length).toBeGreaterThanOrEqual(2);
        expect(abortedAtRenewal).not.toContain(true);
        expect(lease.held).toBe(true);
        // By the first renewal after the expiry at the latest, it is lost.
        await vi.advanceTimersByTimeAsync(Math.ceil(ttlMs / 3) + 1);
        expect(lease.signal.aborted).toBe(true);
        expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
        expect((lease.signal.reason as Error).message).toMatch(/^the lease was lost: /);
        expect(lease.held).toBe(false);
        expect(lease.expiresAt).toBe(first.expiresAt);
        // A lost lease is not released (it may be the next holder's now), and disposing of it does not throw.
        await lease.release();
        expect(seen.filter(isRelease)).toHaveLength(0);
      } finally {
        await lease.release();
      }
    });
  }
});

/** A lease over calls the test answers. */
class TestLease extends Lease {
  constructor(calls: LeaseCalls, timing: LeaseTiming) {
    super(calls, timing);
  }
}

/**
 * Calls whose renewals the test settles (`renewals`, oldest first); releases are answered at once, or, with
 * `holdReleases`, settled by the test too (`releases`).
 */
function scriptedCalls(holdReleases = false) {
  type Pending<T> = { resolve: (v: T) => void; reject: (e: unknown) => void };
  const renewals: Pending<number>[] = [];
  const releases: Pending<unknown>[] = [];
  let released = 0;
  const calls: LeaseCalls = {
    renew: () => new Promise<number>((resolve, reject) => renewals.push({ resolve, reject })),
    release: () => {
      released++;
      if (!holdReleases) return Promise.resolve({ released: true });
      return new Promise<unknown>((resolve, reject) => releases.push({ resolve, reject }));
    },
  };
  return {
    calls,
    renewals,
    releases,
    get released() {
      return released;
    },
  };
}

const conflict = () =>
  new EdgeloopError({ type: "urn:edgeloop:problem:lease-lost", title: "Conflict", status: 409, detail: "not held" });

describe("Lease", () => {
  it("renews every third of its ttl while held (or every renewEveryMs), taking each renewal's expiry", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { calls, renewals } = scriptedCalls();
    const lease = new TestLease(calls, { ttlMs: 300, expiresAt: 1_000_300 });
    expect(lease.expiresAt).toBe(1_000_300);
    await vi.advanceTimersByTimeAsync(99);
    expect(renewals).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(renewals).toHaveLength(1);
    renewals[0]?.resolve(1_000_400);
    // The next renewal is a full period after this one answered.
    await vi.advanceTimersByTimeAsync(99);
    expect(lease.expiresAt).toBe(1_000_400);
    expect(renewals).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(renewals).toHaveLength(2);
    expect(lease.held).toBe(true);
    expect(lease.signal.aborted).toBe(false);
    await lease.release();

    // A ttl under 3 ms still renews every ms (never in a busy loop); renewEveryMs replaces the third.
    const short = scriptedCalls();
    const tiny = new TestLease(short.calls, { ttlMs: 2, expiresAt: Date.now() + 2 });
    await vi.advanceTimersByTimeAsync(1);
    expect(short.renewals).toHaveLength(1);
    await tiny.release();
    const every = scriptedCalls();
    const often = new TestLease(every.calls, { ttlMs: 300, expiresAt: Date.now() + 300, renewEveryMs: 50 });
    await vi.advanceTimersByTimeAsync(49);
    expect(every.renewals).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(every.renewals).toHaveLength(1);
    await often.release();
  });

  it("is lost at once when a renewal is refused with 409, before its expiry, and then renews and releases nothing", async () => {
    vi.useFakeTimers({ now: 0 });
    const script = scriptedCalls();
    const lease = new TestLease(script.calls, { ttlMs: 30_000, expiresAt: 30_000 });
    await vi.advanceTimersByTimeAsync(10_000);
    const refusal = conflict();
    script.renewals[0]?.reject(refusal);
    await vi.advanceTimersByTimeAsync(0);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    expect((lease.signal.reason as Error).message).toBe("the lease was lost: 409 not held");
    expect((lease.signal.reason as Error).cause).toBe(refusal);
    expect(lease.held).toBe(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(script.renewals).toHaveLength(1);
    await lease.release();
    expect(script.released).toBe(0);
  });

  it("keeps a lease whose renewals fail before its expiry, goes on renewing, and loses it at the expiry", async () => {
    vi.useFakeTimers({ now: 0 });
    // Renewals fail (a network error), except the second, which extends the lease to 500.
    let calls = 0;
    const lease = new TestLease(
      {
        renew: async () => {
          calls++;
          if (calls === 2) return 500;
          throw new TypeError("fetch failed");
        },
        release: async () => ({}),
      },
      { ttlMs: 300, expiresAt: 300 },
    );
    await vi.advanceTimersByTimeAsync(200);
    expect([calls, lease.expiresAt, lease.held]).toEqual([2, 500, true]);
    // Failing past the first expiry but before the renewed one: still held, still renewing.
    await vi.advanceTimersByTimeAsync(299);
    expect(calls).toBeGreaterThanOrEqual(4);
    expect(lease.held).toBe(true);
    expect(lease.signal.aborted).toBe(false);
    // At the renewed expiry (here a failed renewal falls on it): lost.
    await vi.advanceTimersByTimeAsync(1);
    expect(Date.now()).toBe(500);
    expect(lease.held).toBe(false);
    expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    expect((lease.signal.reason as Error).message).toMatch(/^the lease was lost: /);
  });

  it("says what made a renewal fail in the lost lease's reason: the error's message, or the value thrown", async () => {
    vi.useFakeTimers({ now: 0 });
    for (const [thrown, text] of [
      [new TypeError("fetch failed"), "fetch failed"],
      ["down", "down"],
    ] as const) {
      // Every renewal fails (at 60, 80 and 95 ms): the lease is lost at its expiry, naming the last failure.
      const lease = new TestLease(
        {
          renew: async () => {
            throw thrown;
          },
          release: async () => ({}),
        },
        { ttlMs: 100, expiresAt: Date.now() + 100, renewEveryMs: 60 },
      );
      const expiry = new Date(lease.expiresAt).toISOString();
      await vi.advanceTimersByTimeAsync(150);
      expect(lease.held).toBe(false);
      expect((lease.signal.reason as Error).message).toBe(
        `the lease was lost: it expired at ${expiry} before a renewal succeeded (the last renewal: ${text})`,
      );
      expect(((lease.signal.reason as Error).cause as Error).cause).toBe(thrown);
    }
  });

  it("sends the first renewal after renewEveryMs and the next renewEveryMs after a success, even past half the ttl", async () => {
    vi.useFakeTimers({ now: 0 });
    const sent: number[] = [];
    const lease = new TestLease(
      {
        renew: async () => {
          sent.push(Date.now());
          return Date.now() + 300;
        },
        release: async () => ({}),
      },
      { ttlMs: 300, expiresAt: 300, renewEveryMs: 200 },
    );
    await vi.advanceTimersByTimeAsync(450);
    expect(sent).toEqual([200, 400]);
    expect(lease.expiresAt).toBe(700);
    await lease.release();
  });

  it("after a failed renewal tries again sooner: half the time left, not under a quarter period, then loses it", async () => {
    vi.useFakeTimers({ now: 0 });
    const sent: number[] = [];
    const lease = new TestLease(
      {
        renew: async () => {
          sent.push(Date.now());
          throw new TypeError("fetch failed");
        },
        release: async () => ({}),
      },
      { ttlMs: 1_000, expiresAt: 1_000, renewEveryMs: 400 },
    );
    await vi.advanceTimersByTimeAsync(999);
    // 400; 300 later (half of the 600 left); 150 later; then a quarter period (100), not half of the 150 left.
    expect(sent).toEqual([400, 700, 850, 950]);
    expect(lease.held).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(lease.held).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent).toHaveLength(4);
  });

  it("counts the lease as expired a ttl after its grant (or renewal) when the service's expiresAt is later", async () => {
    vi.useFakeTimers({ now: 0 });
    const failing: LeaseCalls = {
      renew: async () => {
        throw new TypeError("fetch failed");
      },
      release: async () => ({}),
    };
    // The service's clock is ahead of this one: its expiresAt is 1,000, the ttl from the grant ends at 300.
    const ahead = new TestLease(failing, { ttlMs: 300, expiresAt: 1_000 });
    await vi.advanceTimersByTimeAsync(299);
    expect(ahead.held).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(ahead.held).toBe(false);
    expect(ahead.expiresAt).toBe(1_000);

    // A renewal sent 100 ms after the grant answers an expiresAt far off: the lease counts until a ttl after that
    // renewal was sent, then the failures lose it.
    let calls = 0;
    const renewed = new TestLease(
      {
        renew: async () => {
          if (++calls === 1) return Date.now() + 10_000;
          throw new TypeError("fetch failed");
        },
        release: async () => ({}),
      },
      { ttlMs: 300, expiresAt: Date.now() + 300 },
    );
    await vi.advanceTimersByTimeAsync(399);
    expect([renewed.expiresAt, renewed.held]).toEqual([400 + 10_000, true]);
    await vi.advanceTimersByTimeAsync(1);
    expect(renewed.held).toBe(false);
  });

  it("says only when it expired when no renewal failed before (none was due), and leaves no timer behind", async () => {
    vi.useFakeTimers({ now: 0 });
    const script = scriptedCalls();
    const lease = new TestLease(script.calls, { ttlMs: 300, expiresAt: 300, renewEveryMs: 1_000 });
    await vi.advanceTimersByTimeAsync(300);
    expect(lease.held).toBe(false);
    const reason = lease.signal.reason as Error;
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect(reason.message).toBe(
      "the lease was lost: it expired at 1970-01-01T00:00:00.300Z before a renewal succeeded",
    );
    expect((reason.cause as Error).cause).toBeUndefined();
    // The renewal timer went with the lease: nothing is sent, nothing keeps a process alive.
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(script.renewals).toHaveLength(0);
  });

  it("gives a hanging renewal up after renewEveryMs, tries again, and gives the one in flight up at the loss", async () => {
    vi.useFakeTimers({ now: 0 });
    const signals: AbortSignal[] = [];
    const lease = new TestLease(
      {
        renew: (signal) =>
          new Promise<number>((_, reject) => {
            signals.push(signal);
            signal.addEventListener("abort", () => reject(signal.reason), { once: true });
          }),
        release: async () => ({}),
      },
      { ttlMs: 900, expiresAt: 900 },
    );
    // Sent at 300 (a third of the ttl), given up 300 later.
    await vi.advanceTimersByTimeAsync(599);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(signals[0]?.reason).toHaveProperty("message", "the renewal took too long");
    // The next is sent half the time left later (at 750) and still hangs at the expiry (900): lost, naming the
    // timeout, and the renewal in flight is given up with it.
    await vi.advanceTimersByTimeAsync(150);
    expect(signals).toHaveLength(2);
    expect(lease.held).toBe(true);
    await vi.advanceTimersByTimeAsync(150);
    expect(lease.held).toBe(false);
    const reason = lease.signal.reason as Error;
    expect(reason.message).toBe(
      "the lease was lost: it expired at 1970-01-01T00:00:00.900Z before a renewal succeeded " +
        "(the last renewal: the renewal took too long)",
    );
    expect(signals[1]?.reason).toHaveProperty("message", "the lease was lost");
  });

  it("on release gives up the renewal in flight, and leaves one that already answered alone", async () => {
    vi.useFakeTimers({ now: 0 });
    // Answered at 100, released at 150: the answered renewal's signal is never aborted, not even after its timeout.
    const signals: AbortSignal[] = [];
    const answered = new TestLease(
      {
        renew: async (signal) => {
          signals.push(signal);
          return Date.now() + 300;
        },
        release: async () => ({}),
      },
      { ttlMs: 300, expiresAt: 300 },
    );
    await vi.advanceTimersByTimeAsync(150);
    expect(signals).toHaveLength(1);
    await answered.release();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(false);

    // Released while a renewal hangs: that renewal is aborted, saying why.
    const hanging = scriptedCalls();
    let inFlight: AbortSignal | undefined;
    const lease = new TestLease(
      {
        renew: (signal) => {
          inFlight = signal;
          return hanging.calls.renew(signal);
        },
        release: hanging.calls.release,
      },
      { ttlMs: 300, expiresAt: Date.now() + 300 },
    );
    await vi.advanceTimersByTimeAsync(150);
    expect(inFlight?.aborted).toBe(false);
    await lease.release();
    expect(inFlight?.reason).toHaveProperty("message", "the lease was released");
    expect(lease.signal.aborted).toBe(false);
  });

  it("releases once: the call is made, renewals stop, a second release or a dispose does nothing", async () => {
    vi.useFakeTimers({ now: 0 });
    const script = scriptedCalls();
    const lease = new TestLease(script.calls, { ttlMs: 300, expiresAt: 300 });
    // The renewal timer and the expiry timer.
    expect(vi.getTimerCount()).toBe(2);
    await lease.release();
    expect(lease.held).toBe(false);
    expect(script.released).toBe(1);
    // No renewal timer left behind to keep the process alive.
    expect(vi.getTimerCount()).toBe(0);
    await lease.release();
    await lease[asyncDispose]();
    expect(script.released).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(script.renewals).toHaveLength(0);
    expect(lease.signal.aborted).toBe(false);
  });

  it("runs where a timer is a plain number without unref (browsers, Deno): renews on it, and release clears it", async () => {
    // Timers as browsers give them: a number, no unref. The test fires them, on a clock that stands still.
    vi.useFakeTimers({ now: 0, toFake: ["Date"] });
    const timers = new Map<number, { fn: () => void; ms: number }>();
    let last = 0;
    vi.stubGlobal("setTimeout", (fn: () => void, ms: number) => {
      timers.set(++last, { fn, ms });
      return last;
    });
    vi.stubGlobal("clearTimeout", (id: number | undefined) => {
      if (id !== undefined) timers.delete(id);
    });
    try {
      const script = scriptedCalls();
      const lease = new TestLease(script.calls, { ttlMs: 300, expiresAt: 300 });
      // The expiry timer and the renewal timer, numbers both.
      expect([...timers.values()].map((t) => t.ms).sort((a, b) => a - b)).toEqual([100, 300]);
      const renewal = [...timers.entries()].find(([, t]) => t.ms === 100);
      timers.delete(renewal?.[0] ?? 0);
      renewal?.[1].fn();
      expect(script.renewals).toHaveLength(1);
      const renewedTo = 400;
      script.renewals[0]?.resolve(renewedTo);
      for (let i = 0; i < 5 && lease.expiresAt !== renewedTo; i++) await Promise.resolve();
      expect(lease.expiresAt).toBe(renewedTo);
      // The next renewal and the expiry armed again; the renewal's own give-up timer cleared.
      expect(timers.size).toBe(2);
      await lease.release();
      expect(lease.held).toBe(false);
      expect(timers.size).toBe(0);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("releases on dispose (await using)", async () => {
    const script = scriptedCalls();
    const lease = new TestLease(script.calls, { ttlMs: 30_000, expiresAt: Date.now() + 30_000 });
    await lease[asyncDispose]();
    expect(script.released).toBe(1);
    expect(lease.held).toBe(false);
    expect(asyncDispose).toBe(Symbol.asyncDispose);
  });

  it("ignores a renewal that answers after the release, whether it succeeds or fails", async () => {
    vi.useFakeTimers({ now: 0 });
    for (const outcome of ["resolve", "reject"] as const) {
      const script = scriptedCalls();
      const lease = new TestLease(script.calls, { ttlMs: 300, expiresAt: Date.now() + 300 });
      const expiresAt = lease.expiresAt;
      await vi.advanceTimersByTimeAsync(100);
      expect(script.renewals).toHaveLength(1);
      await lease.release();
      if (outcome === "resolve") script.renewals[0]?.resolve(10_000_000);
      else script.renewals[0]?.reject(conflict());
      await vi.advanceTimersByTimeAsync(1_000);
      expect(lease.expiresAt, outcome).toBe(expiresAt);
      expect(lease.signal.aborted, outcome).toBe(false);
      expect(script.renewals, outcome).toHaveLength(1);
    }
  });

  it("treats a release refused with 409 as done (the lease was lost meanwhile) and throws any other failure", async () => {
    const lost = scriptedCalls(true);
    const lease = new TestLease(lost.calls, { ttlMs: 30_000, expiresAt: Date.now() + 30_000 });
    const released = lease.release();
    lost.releases[0]?.reject(conflict());
    await expect(released).resolves.toBeUndefined();

    const failing = scriptedCalls(true);
    const other = new TestLease(failing.calls, { ttlMs: 30_000, expiresAt: Date.now() + 30_000 });
    const down = new TypeError("fetch failed");
    const attempt = other.release();
    failing.releases[0]?.reject(down);
    await expect(attempt).rejects.toBe(down);
    expect(other.held).toBe(false);
  });

  it("holding: runs fn with the lease and releases it when fn returns or throws", async () => {
    const returned = scriptedCalls();
    const lease = new TestLease(returned.calls, { ttlMs: 30_000, expiresAt: Date.now() + 30_000 });
    const value = await holding(Promise.resolve(lease), (held) => {
      expect(held).toBe(lease);
      expect(returned.released).toBe(0);
      return 42;
    });
    expect(value).toBe(42);
    expect(returned.released).toBe(1);

    const thrown = scriptedCalls();
    const boom = new Error("boom");
    const other = new TestLease(thrown.calls, { ttlMs: 30_000, expiresAt: Date.now() + 30_000 });
    await expect(
      holding(Promise.resolve(other), async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(thrown.released).toBe(1);
  });
});
