/**
 * Group commit on real Counter objects: many increments from one isolate become few calls, each caller still gets
 * its own answer, bounds keep their meaning member by member, and a failed call fails its whole batch. Batch windows
 * are opened by the test (test/helpers/windows.ts), so the batches are the same on every run.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Counter } from "../../src/counters/counter";
import { applyIncrements } from "../../src/counters/counter-state";
import { CounterRouter } from "../../src/counters/router";
import { call, unique } from "../helpers/api";
import { manualWindows } from "../helpers/windows";

const MAX = 64;
/** Increment calls the Counter object named `name` has served since it started. */
const callsOf = (name: string) => runInDurableObject(env.COUNTER.getByName(name), (o: Counter) => o.incrementCalls);

function isolate(maxSize = MAX) {
  const windows = manualWindows();
  return { windows, router: new CounterRouter(env.COUNTER, { windowMs: 2, maxSize, window: windows.window }) };
}

describe("group commit", () => {
  it("turns 200 concurrent increments from one isolate into ceil(200 / COUNTER_BATCH_MAX) calls, every answer distinct and correct", async () => {
    const { windows, router } = isolate();
    const name = unique("gc");
    const pending = Array.from({ length: 200 }, () => router.increment(name, { by: 1 }));
    windows.fire();
    const answers = await Promise.all(pending);
    expect(answers.every((a) => a.ok && a.shards === 1)).toBe(true);
    const values = answers.map((a) => (a.ok ? a.value : Number.NaN)).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(await callsOf(name)).toBe(Math.ceil(200 / MAX));
    expect((await call<{ value: number }>("GET", `/v1/counters/${name}`)).body.value).toBe(200);
  });

  it("applies a batch in arrival order as if one by one: members crossing max are refused alone, the others apply", async () => {
    const { windows, router } = isolate();
    const name = unique("gc");
    const members = [
      { by: 1, max: 3 },
      { by: 1, max: 3 },
      { by: 5, max: 3 },
      { by: 2, max: 3 },
      { by: 1, max: 3 },
      { by: -3, min: 0 },
    ];
    const pending = members.map((m) => router.increment(name, m));
    windows.fire();
    const answers = await Promise.all(pending);
    expect(await callsOf(name)).toBe(1);
    expect(answers.map((a) => (a.ok ? ["ok", a.value] : [a.reason, "value" in a ? a.value : null]))).toEqual([
      ["ok", 1],
      ["ok", 2],
      ["out-of-bounds", 2],
      ["out-of-bounds", 2],
      ["ok", 3],
      ["ok", 0],
    ]);
    // The same as the pure rule, and the value stored is what the last member left.
    expect(applyIncrements(0, members).value).toBe(0);
    const read = await call<{ value: number; updatedAt: number | null }>("GET", `/v1/counters/${name}`);
    expect(read.body.value).toBe(0);
    expect(read.body.updatedAt).toEqual(expect.any(Number));
  });

  it("answers over HTTP with a 409 for the refused member of a batch and 200 for the rest", async () => {
    const name = unique("gc");
    const answers = await Promise.all([
      call<{ value: number; type?: string }>("POST", `/v1/counters/${name}/increment`, { by: 2, max: 2 }),
      call<{ value: number; type?: string }>("POST", `/v1/counters/${name}/increment`, { by: 2, max: 2 }),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(answers.find((a) => a.status === 409)?.body).toMatchObject({
      value: 2,
      type: "urn:edgeloop:problem:counter-out-of-bounds",
    });
    expect((await call<{ value: number }>("GET", `/v1/counters/${name}`)).body.value).toBe(2);
  });

  it("fails every member of a batch with the same error when its call fails, and applies none of them", async () => {
    const { windows, router } = isolate();
    const name = unique("gc");
    // A member the runtime cannot send (a symbol cannot be serialized): the whole call is refused.
    const unsendable = { by: 1, note: Symbol("not data") } as unknown as { by: number };
    const pending = [router.increment(name, { by: 1 }), router.increment(name, unsendable)].map((p) =>
      p.then(
        () => "answered",
        (e: unknown) => e,
      ),
    );
    windows.fire();
    const [first, second] = await Promise.all(pending);
    expect(first).toBeInstanceOf(Error);
    expect(second).toBe(first);
    expect((await call<{ value: number }>("GET", `/v1/counters/${name}`)).body.value).toBe(0);
  });

  it("keeps batches of different counters apart", async () => {
    const { windows, router } = isolate();
    const [a, b] = [unique("gc"), unique("gc")];
    const pending = [a, b, a, b, a].map((name) => router.increment(name, { by: 1 }));
    windows.fire();
    const values = (await Promise.all(pending)).map((r) => (r.ok ? r.value : null));
    expect(values).toEqual([1, 1, 2, 2, 3]);
    expect([await callsOf(a), await callsOf(b)]).toEqual([1, 1]);
  });
});
