/**
 * The correctness harness, through the objects' typed RPC (the HTTP layer has its own tests): 20 clients × 25 rounds of acquire → read-modify-write a counter → release, some
 * clients pausing past their TTL. With fencing, no update is lost; with fencing off (the negative control) the
 * same schedule loses updates, proving the harness can fail.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { unique } from "../helpers/api";

const CLIENTS = 20;
const ROUNDS = 25;
const TTL_MS = 100;

interface LeaseRecord {
  token: number;
  grantedAt: number;
  /** When the lease really ended: the accepted release, or its expiry. */
  endedAt: number;
}

interface Outcome {
  leases: LeaseRecord[];
  accepted: number;
  refused: number;
  finalValue: number;
}

async function contention(fenced: boolean): Promise<Outcome> {
  const lock = unique("harness-lock");
  const locks = env.LOCK.getByName(lock);
  const counter = env.COUNTER.getByName(unique("harness-counter"));
  const leases: LeaseRecord[] = [];
  let accepted = 0;
  let refused = 0;

  const client = async (id: number) => {
    const owner = `client-${id}`;
    for (let round = 0; round < ROUNDS; round++) {
      const acquired = await locks.acquire({ owner, ttlMs: TTL_MS, waitMs: 20_000, waiterId: `${owner}-${round}` });
      if (!acquired.ok) throw new Error(`acquire refused: ${acquired.reason}`);
      const { token, grantedAt, expiresAt } = acquired;
      const fence = fenced ? { lock, token } : undefined;
      const read = await counter.get(fence);
      // Every even client goes silent past its TTL once (in round `id`): its lease expires and the next waiter
      // gets the lock while it still believes it holds it.
      const pause = id % 2 === 0 && round === id ? TTL_MS + 60 : Math.floor(Math.random() * 2);
      await scheduler.wait(pause);
      if (read.ok) {
        const wrote = await counter.set({ value: read.value + 1, fence });
        if (wrote.ok) accepted++;
        else refused++;
      } else refused++;
      const released = await locks.release(owner, token);
      leases.push({ token, grantedAt, endedAt: released.ok ? released.releasedAt : expiresAt });
    }
  };

  await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
  const final = await counter.get();
  return { leases, accepted, refused, finalValue: final.ok ? final.value : Number.NaN };
}

function checkLeases(leases: LeaseRecord[]): void {
  const byToken = [...leases].sort((a, b) => a.token - b.token);
  // Every grant got a fresh token: 1..N, no gaps, no repeats.
  expect(byToken.map((l) => l.token)).toEqual(Array.from({ length: CLIENTS * ROUNDS }, (_, i) => i + 1));
  for (let i = 1; i < byToken.length; i++) {
    const previous = byToken[i - 1] as LeaseRecord;
    const current = byToken[i] as LeaseRecord;
    // Tokens increase in grant order, and a lease starts only once the previous one has ended: no overlap.
    expect(current.grantedAt).toBeGreaterThanOrEqual(previous.grantedAt);
    expect(current.grantedAt, `lease ${current.token} overlaps lease ${previous.token}`).toBeGreaterThanOrEqual(
      previous.endedAt,
    );
  }
}

describe.concurrent("the coordination harness (20 clients × 25 rounds, some pausing past their TTL)", () => {
  it("with fencing: leases never overlap, tokens strictly increase, and no update is lost", async () => {
    const outcome = await contention(true);
    checkLeases(outcome.leases);
    expect(outcome.finalValue).toBe(outcome.accepted);
    // The clients that paused past their TTL were caught by the fence.
    expect(outcome.refused).toBeGreaterThan(0);
    expect(outcome.accepted + outcome.refused).toBe(CLIENTS * ROUNDS);
  }, 60_000);

  it("negative control, fencing off: the same schedule loses updates, and the harness sees it", async () => {
    const outcome = await contention(false);
    checkLeases(outcome.leases);
    expect(outcome.refused).toBe(0);
    expect(outcome.accepted).toBe(CLIENTS * ROUNDS);
    expect(outcome.finalValue).toBeLessThan(outcome.accepted);
  }, 60_000);
});
