/**
 * A lease's promise to the code it protects: `lease.signal` fires at `expiresAt` at the latest, whatever its renewal
 * is doing (hanging, or waiting out a 429's Retry-After), and no renewal is sent once it has; and its timers never
 * keep Node alive. The service is a stand-in fetch on a fake clock (vitest's fake timers move `setTimeout` and
 * `Date` together), so "at expiresAt" is exact, not a sleep.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createClient, type EdgeloopClient, LeaseLostError } from "../../src/client/index.ts";

const TTL = 3_000;

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": status < 400 ? "application/json" : "application/problem+json", ...headers },
  });

/** A renewal that never answers, until its request is aborted. */
const hangs = (init: RequestInit | undefined) =>
  new Promise<Response>((_, reject) => {
    init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
  });

/** A renewal refused with 429 and a Retry-After longer than the lease has left (the client would wait it out). */
const limited = () =>
  Promise.resolve(
    json({ type: "urn:edgeloop:problem:rate-limited", title: "x", status: 429, detail: "x" }, 429, {
      "retry-after": "5",
    }),
  );

/** A client whose service grants every acquire for TTL and answers renewals with `renew`; renewals recorded. */
function standIn(renew: (init: RequestInit | undefined) => Promise<Response>) {
  const renewals: { at: number; signal: AbortSignal | undefined }[] = [];
  const client: EdgeloopClient = createClient({
    baseUrl: "http://127.0.0.1:9",
    token: "t",
    fetch: async (input, init) => {
      const path = new URL(String(input)).pathname;
      const body = JSON.parse(String(init?.body ?? "{}")) as Record<string, unknown>;
      const now = Date.now();
      if (path.endsWith("/acquire")) {
        return json({
          name: "n",
          owner: body.owner,
          token: 1,
          leaseId: "lease-1",
          holder: body.holder,
          permits: 1,
          grantedAt: now,
          expiresAt: now + TTL,
        });
      }
      if (path.endsWith("/renew")) {
        renewals.push({ at: now, signal: init?.signal ?? undefined });
        return renew(init);
      }
      return json({ released: true, releasedAt: now });
    },
  });
  return { client, renewals };
}

const leases = {
  lock: (c: EdgeloopClient) => c.lock("n").acquire({ ttlMs: TTL }),
  semaphore: (c: EdgeloopClient) => c.semaphore("n", { limit: 1 }).acquire({ ttlMs: TTL }),
};

describe("a lease's signal", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  for (const [what, renew] of [
    ["hangs", hangs],
    ["is retried on 429 past the expiry", limited],
  ] as const) {
    for (const [kind, acquire] of Object.entries(leases)) {
      it(`fires at expiresAt when its renewal ${what} (${kind}), and no renewal follows`, async () => {
        const { client, renewals } = standIn(renew);
        const lease = await acquire(client);
        const expiresAt = lease.expiresAt;
        expect(expiresAt).toBe(Date.now() + TTL);
        await vi.advanceTimersByTimeAsync(TTL - 1);
        // Renewed every third of the ttl: at least one was sent, none has answered yet.
        expect(renewals.length).toBeGreaterThanOrEqual(1);
        expect({ aborted: lease.signal.aborted, held: lease.held }).toEqual({ aborted: false, held: true });
        await vi.advanceTimersByTimeAsync(1);
        expect(Date.now()).toBe(expiresAt);
        expect({ aborted: lease.signal.aborted, held: lease.held }).toEqual({ aborted: true, held: false });
        expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
        expect(String(lease.signal.reason.message)).toMatch(/expired/);
        // Every renewal request was given up by then (none is left hanging), and none is sent afterwards.
        expect(renewals.every((r) => r.signal?.aborted === true)).toBe(true);
        const sent = renewals.length;
        await vi.advanceTimersByTimeAsync(60_000);
        expect(renewals.length).toBe(sent);
        await lease.release(); // a lost lease: nothing to do, no error
      });
    }
  }

  it("stays held while renewals succeed, each moving the expiry on", async () => {
    const { client, renewals } = standIn(async () => json({ expiresAt: Date.now() + TTL }));
    const lease = await leases.lock(client);
    await vi.advanceTimersByTimeAsync(10 * TTL);
    expect({ aborted: lease.signal.aborted, held: lease.held }).toEqual({ aborted: false, held: true });
    expect(renewals.length).toBe(30);
    expect(lease.expiresAt).toBe(Date.now() + TTL);
    await lease.release();
    await vi.advanceTimersByTimeAsync(10 * TTL);
    expect(renewals.length).toBe(30);
    expect(lease.signal.aborted).toBe(false);
  });

  it("gives a hanging renewal up in time for another to be tried before the expiry", async () => {
    let calls = 0;
    const { client, renewals } = standIn((init) =>
      ++calls === 1 ? hangs(init) : Promise.resolve(json({ expiresAt: Date.now() + TTL })),
    );
    const lease = await leases.lock(client);
    await vi.advanceTimersByTimeAsync(TTL);
    // The first (at a third of the ttl) was abandoned, the second answered: still held, expiry moved on.
    expect(renewals[0]?.signal?.aborted).toBe(true);
    expect(renewals.length).toBeGreaterThanOrEqual(2);
    expect({ aborted: lease.signal.aborted, held: lease.held }).toEqual({ aborted: false, held: true });
    expect(lease.expiresAt).toBeGreaterThan(1_000_000 + TTL);
    await lease.release();
  });
});

describe("a lease's timers", () => {
  it("keep no reference: a program that never releases its lease can still exit", async () => {
    const { client } = standIn(async () => json({ expiresAt: Date.now() + TTL }));
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timeouts();
    const lock = await leases.lock(client);
    const permit = await leases.semaphore(client);
    expect(timeouts()).toBe(before);
    await Promise.all([lock.release(), permit.release()]);
  });
});
