import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TakeRequest } from "../../src/flow/flow";
import type { FlowLimits } from "../../src/flow/flow-state";
import { FlowGate, type FlowGateOptions, FlowRefused } from "../../src/flow/gate";
import { until } from "../helpers/api";

/** A gate on a fresh key of the real Flow object, counting the object calls it makes. */
function gateOn(limits: FlowLimits, over: Partial<FlowGateOptions> = {}, name = `flow:test:${crypto.randomUUID()}`) {
  const stub = env.FLOW.getByName(name);
  const takes: TakeRequest[] = [];
  const gate = new FlowGate({
    stub: {
      take: (req) => {
        takes.push(req);
        return stub.take(req);
      },
      release: (leaseId) => stub.release(leaseId),
      cancel: (waiterId) => stub.cancel(waiterId),
    },
    key: "k",
    holder: "test",
    limits,
    max: 4,
    ttlMs: 10_000,
    waitMs: () => 10_000,
    maxParallelism: 1_000,
    maxWaiters: 100,
    ...over,
  });
  return { gate, stub, takes, name };
}

/** Run `n` calls through `gate`, `lanes` at a time, each a short real wait; the peak of calls admitted at once. */
async function run(gate: FlowGate, n: number, lanes: number, ms = 1): Promise<number> {
  let now = 0;
  let peak = 0;
  let next = 0;
  const signal = new AbortController().signal;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < n) {
        next++;
        const leave = await gate.enter(signal);
        now++;
        peak = Math.max(peak, now);
        await scheduler.wait(ms);
        now--;
        leave();
      }
    }),
  );
  return peak;
}

describe("the flow gate", () => {
  it("lets calls reuse the permits it holds: 40 calls, 4 at a time, cost a few object calls, not 40", async () => {
    const { gate, stub, takes } = gateOn({ parallelism: 4, rate: null });
    expect(await run(gate, 40, 8)).toBe(4);
    await gate.close();
    // The first ask takes 4 permits with 32 starts; the last 8 calls need one more ask (and leftovers go back).
    const asks = takes.filter((t) => t.want > 0);
    expect(asks.length).toBeLessThanOrEqual(3);
    expect(takes.length).toBeLessThanOrEqual(6);
    expect(await stub.status()).toMatchObject({ inFlight: 0, holders: 0 });
  });

  it("keeps two gates on one key within its parallelism together, and each gets permits", async () => {
    const name = `flow:test:${crypto.randomUUID()}`;
    const limits = { parallelism: 3, rate: null };
    const a = gateOn(limits, {}, name);
    const b = gateOn(limits, {}, name);
    let now = 0;
    let peak = 0;
    const signal = new AbortController().signal;
    const lane = async (gate: FlowGate, calls: number) => {
      for (let i = 0; i < calls; i++) {
        const leave = await gate.enter(signal);
        now++;
        peak = Math.max(peak, now);
        await scheduler.wait(2);
        now--;
        leave();
      }
    };
    await Promise.all([...[1, 2, 3].map(() => lane(a.gate, 10)), ...[1, 2, 3].map(() => lane(b.gate, 10))]);
    await Promise.all([a.gate.close(), b.gate.close()]);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThanOrEqual(2);
    expect(await a.stub.status()).toMatchObject({ inFlight: 0, waiting: 0, holders: 0 });
  });

  it("refuses every call of a job chunk not started once an ask got nothing, saying why", async () => {
    const name = `flow:test:${crypto.randomUUID()}`;
    const limits = { parallelism: 1, rate: null };
    const holder = gateOn(limits, {}, name);
    const leave = await holder.gate.enter(new AbortController().signal);
    const job = gateOn(limits, { refuseWhenRefused: true, waitMs: () => 0 }, name);
    const signal = new AbortController().signal;
    const calls = [job.gate.enter(signal), job.gate.enter(signal)];
    for (const c of calls) await expect(c).rejects.toBeInstanceOf(FlowRefused);
    expect(job.gate.refusal).toEqual({ blocked: "parallelism", retryAfterMs: null });
    await expect(job.gate.enter(signal)).rejects.toThrow(
      /flow key k: no permit within FLOW_JOB_WAIT_MS \(parallelism\)/,
    );
    // One ask only, for both waiting calls.
    expect(job.takes.filter((t) => t.want > 0).map((t) => t.want)).toEqual([2]);
    leave();
    await Promise.all([holder.gate.close(), job.gate.close()]);
  });

  it("keeps running a job chunk's calls on the permits it holds when an ask for more gets nothing", async () => {
    // Parallelism 2 for a chunk that would run 4 at once: its second ask gets nothing while its calls run (it holds
    // both permits), yet every call runs on the two it has, and nothing is refused.
    const { gate, takes, stub } = gateOn({ parallelism: 2, rate: null }, { refuseWhenRefused: true, waitMs: () => 5 });
    expect(await run(gate, 8, 4, 50)).toBe(2);
    expect(gate.refusal).toBeUndefined();
    expect(takes.filter((t) => t.want > 0).length).toBeGreaterThanOrEqual(2);
    await gate.close();
    expect(await stub.status()).toMatchObject({ inFlight: 0, holders: 0 });
  });

  it("rejects a call whose signal fires while it waits, marks the gate abandoned, and withdraws its ask on close", async () => {
    const name = `flow:test:${crypto.randomUUID()}`;
    const limits = { parallelism: 1, rate: null };
    const holder = gateOn(limits, {}, name);
    const leave = await holder.gate.enter(new AbortController().signal);
    const waiting = gateOn(limits, {}, name);
    const abort = new AbortController();
    const call = waiting.gate.enter(abort.signal);
    await until(async () => (await waiting.stub.status()).waiting === 1);
    expect(waiting.gate.abandoned).toBe(false);
    abort.abort(new DOMException("deadline", "TimeoutError"));
    await expect(call).rejects.toMatchObject({ name: "TimeoutError" });
    expect(waiting.gate.abandoned).toBe(true);
    await waiting.gate.close();
    expect(await waiting.stub.status()).toMatchObject({ waiting: 0, inFlight: 1 });
    leave();
    await holder.gate.close();
    expect(await holder.stub.status()).toMatchObject({ inFlight: 0, holders: 0 });
  });

  it("under a rate with room to spare, reuses the starts a grant reserves: few object calls, every start counted", async () => {
    const { gate, takes, stub } = gateOn({ parallelism: null, rate: { limit: 100_000, periodMs: 60_000 } });
    expect(await run(gate, 12, 3)).toBeLessThanOrEqual(3);
    await gate.close();
    expect(takes.filter((t) => t.want > 0).length).toBeLessThanOrEqual(2);
    // Reserved starts are counted when granted, used or not.
    const { rateUsed } = await stub.status();
    expect(rateUsed).toBeGreaterThanOrEqual(12);
  });

  it("near a rate's limit, asks for its starts as it goes and never takes more than the limit", async () => {
    const rate = { limit: 8, periodMs: 60_000 };
    const { gate, takes, stub } = gateOn({ parallelism: null, rate });
    expect(await run(gate, 6, 3)).toBeLessThanOrEqual(3);
    await gate.close();
    expect(takes.filter((t) => t.want > 0).length).toBeGreaterThanOrEqual(2);
    const { rateUsed } = await stub.status();
    expect(rateUsed).toBeGreaterThanOrEqual(6);
    expect(rateUsed).toBeLessThanOrEqual(8);
  });

  it("renews its lease while calls run, and learns when the key has freed it", async () => {
    const { gate, stub, takes } = gateOn({ parallelism: 2, rate: null }, { ttlMs: 3_000 });
    const leave = await gate.enter(new AbortController().signal);
    // A renewal is a take of nothing, every third of the TTL.
    await until(async () => takes.some((t) => t.want === 0 && t.give === 0), 400);
    expect(await stub.status()).toMatchObject({ inFlight: 1, holders: 1 });
    leave();
    await gate.close();
    expect(await stub.status()).toMatchObject({ inFlight: 0, holders: 0 });
  });
});
