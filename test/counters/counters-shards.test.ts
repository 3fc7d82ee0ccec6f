/**
 * Sharded counters on real Counter objects: PUT …/shards and its refusals, increments spread fairly over the shards
 * by several isolates at once (several CounterRouters, each with its own batches and shard-count belief), reads that
 * sum every shard, resets of every shard, what needs one place of truth refused, and an isolate that still believes
 * a counter unsharded being sent where the increments belong.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Counter } from "../../src/counters/counter";
import { CounterRouter } from "../../src/counters/router";
import { shardName } from "../../src/counters/shards";
import { signFence } from "../../src/locks/fences";
import { call, unique } from "../helpers/api";
import { manualWindows } from "../helpers/windows";

type Value = { name: string; value: number; updatedAt: number | null; shards: number; shard?: number };
type Problem = { type: string; detail: string; shards?: number; limit?: string; max?: number };

const shardsPut = (name: string, body: unknown) =>
  call<{ name: string; shards: number } & Problem>("PUT", `/v1/counters/${name}/shards`, body);
const get = async (name: string) => (await call<Value>("GET", `/v1/counters/${name}`)).body;
/** Increment calls each shard's object has served since it started. */
const callsPerShard = (name: string, shards: number) =>
  Promise.all(
    Array.from({ length: shards }, (_, i) =>
      runInDurableObject(env.COUNTER.getByName(shardName(name, i)), (o: Counter) => o.incrementCalls),
    ),
  );

function isolate() {
  const windows = manualWindows();
  return { windows, router: new CounterRouter(env.COUNTER, { windowMs: 2, maxSize: 64, window: windows.window }) };
}

describe("PUT /v1/counters/:name/shards", () => {
  it("sets the count once: the same count again is 200, another one 409 counter-shards-set", async () => {
    const name = unique("s");
    const first = await shardsPut(name, { shards: 4 });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ name, shards: 4 });
    expect((await shardsPut(name, { shards: 4 })).status).toBe(200);
    const other = await shardsPut(name, { shards: 8 });
    expect(other.status).toBe(409);
    expect(other.headers.get("content-type")).toBe("application/problem+json");
    expect(other.body).toMatchObject({ type: "urn:edgeloop:problem:counter-shards-set", shards: 4 });
    expect(await get(name)).toEqual({ name, value: 0, updatedAt: null, shards: 4 });
  });

  it("refuses a counter that has been written with 409 counter-written, and accepts it again once reset", async () => {
    const name = unique("s");
    await call("POST", `/v1/counters/${name}/increment`, { by: 3 });
    const written = await shardsPut(name, { shards: 4 });
    expect(written.status).toBe(409);
    expect(written.body).toMatchObject({ type: "urn:edgeloop:problem:counter-written", value: 3 });
    expect(await get(name)).toMatchObject({ value: 3, shards: 1 });
    // A reset counter holds nothing, like one never written.
    await call("DELETE", `/v1/counters/${name}`);
    expect((await shardsPut(name, { shards: 4 })).status).toBe(200);
    expect(await get(name)).toMatchObject({ value: 0, shards: 4 });
  });

  it("takes a count after increments that were all refused: a refusal writes nothing, alone or as a whole batch", async () => {
    // Alone: one increment over HTTP, refused by its max.
    const alone = unique("s");
    const refused = await call<Problem>("POST", `/v1/counters/${alone}/increment`, { by: 5, max: 3 });
    expect(refused.status).toBe(409);
    expect(refused.body.type).toBe("urn:edgeloop:problem:counter-out-of-bounds");
    expect(await get(alone)).toEqual({ name: alone, value: 0, updatedAt: null, shards: 1 });
    expect((await shardsPut(alone, { shards: 4 })).status).toBe(200);
    // A whole batch of refused members, in one call.
    const { windows, router } = isolate();
    const batch = unique("s");
    const pending = [
      router.increment(batch, { by: 5, max: 3 }),
      router.increment(batch, { by: -1, min: 0 }),
      router.increment(batch, { by: 4, max: 2 }),
    ];
    windows.fire();
    const answers = await Promise.all(pending);
    expect(answers.map((a) => (a.ok ? "ok" : a.reason))).toEqual(["out-of-bounds", "out-of-bounds", "out-of-bounds"]);
    expect(await callsPerShard(batch, 1)).toEqual([1]);
    expect(await get(batch)).toEqual({ name: batch, value: 0, updatedAt: null, shards: 1 });
    expect((await shardsPut(batch, { shards: 4 })).status).toBe(200);
  });

  it("refuses a count above COUNTER_MAX_SHARDS, and 0, 1.5 or a string, with 400 and stores nothing", async () => {
    const name = unique("s");
    const over = await shardsPut(name, { shards: 257 });
    expect(over.status).toBe(400);
    expect(over.body).toMatchObject({ limit: "COUNTER_MAX_SHARDS", max: 256 });
    for (const shards of [0, 1.5, "4", -1, null]) {
      const bad = await shardsPut(name, { shards });
      expect(bad.status, JSON.stringify(shards)).toBe(400);
      expect(bad.headers.get("content-type")).toBe("application/problem+json");
    }
    expect(await get(name)).toEqual({ name, value: 0, updatedAt: null, shards: 1 });
    expect((await shardsPut(name, { shards: 256 })).status).toBe(200);
  });
});

describe("sharded counters", () => {
  it("counts 10,000 increments from 4 isolates exactly, and no shard takes more than 1.5 × its fair share of calls", async () => {
    const name = unique("s");
    const N = 8;
    expect((await shardsPut(name, { shards: N })).status).toBe(200);
    const isolates = Array.from({ length: 4 }, isolate);
    // Each isolate learns the count from the home as it reads.
    for (const { router } of isolates) expect((await router.read(name)).shards).toBe(N);
    const before = await callsPerShard(name, N);
    // Each isolate sends its 2,500 increments in 10 waves of 250, the 4 isolates at once.
    const waves = await Promise.all(
      isolates.map(async ({ router, windows }) => {
        const answered = [];
        for (let wave = 0; wave < 10; wave++) {
          const pending = Array.from({ length: 250 }, () => router.increment(name, { by: 1 }));
          windows.fire();
          answered.push(...(await Promise.all(pending)));
        }
        return answered;
      }),
    );
    const answers = waves.flat();
    expect(answers.filter((a) => a.ok && a.shards === N && a.shard !== undefined).length).toBe(10_000);
    const calls = (await callsPerShard(name, N)).map((c, i) => c - (before[i] as number));
    const total = calls.reduce((a, b) => a + b, 0);
    // 250 increments a wave in batches of 64: 4 calls a wave, 40 per isolate.
    expect(total).toBe(4 * 10 * Math.ceil(250 / 64));
    expect(Math.max(...calls)).toBeLessThanOrEqual((1.5 * total) / N);
    expect(await get(name)).toMatchObject({ value: 10_000, shards: N });
    // 10,000 callers each wake on their own timers for their answers: about 13 s on a quiet machine. The timeout only
    // bounds a hang; nothing here is timed.
  }, 120_000);

  it("answers an increment with the shard that took it and that shard's value; GET sums every shard", async () => {
    const name = unique("s");
    await shardsPut(name, { shards: 3 });
    const answers: Value[] = [];
    for (let i = 0; i < 6; i++)
      answers.push((await call<Value>("POST", `/v1/counters/${name}/increment`, { by: 2 })).body);
    // One isolate takes the shards in turn: each took two increments.
    expect(answers.map((a) => a.shards)).toEqual([3, 3, 3, 3, 3, 3]);
    expect(new Set(answers.map((a) => a.shard)).size).toBe(3);
    expect(answers.slice(3).map((a) => a.value)).toEqual([4, 4, 4]);
    const read = await get(name);
    expect(read).toMatchObject({ value: 12, shards: 3 });
    expect(read.updatedAt).toBe(Math.max(...answers.map((a) => a.updatedAt as number)));
  });

  it("refuses bounds, compare-and-set and fences on a sharded counter with 409 counter-sharded, changing nothing", async () => {
    const name = unique("s");
    await shardsPut(name, { shards: 2 });
    await call("POST", `/v1/counters/${name}/increment`, { by: 5 });
    const sig = await signFence(env.FENCE_SECRET as string, "L", 1);
    const refused: [string, string, unknown][] = [
      ["POST", `/v1/counters/${name}/increment`, { by: 1, max: 100 }],
      ["POST", `/v1/counters/${name}/increment`, { by: -1, min: 0 }],
      ["POST", `/v1/counters/${name}/increment`, { by: 1, fence: { lock: "L", token: 1, sig } }],
      ["PUT", `/v1/counters/${name}`, { value: 1 }],
      ["PUT", `/v1/counters/${name}`, { value: 1, ifValue: 5 }],
      ["GET", `/v1/counters/${name}?lock=L&token=1&sig=${sig}`, undefined],
    ];
    for (const [method, path, body] of refused) {
      const res = await call<Problem>(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(409);
      expect(res.body).toMatchObject({ type: "urn:edgeloop:problem:counter-sharded", shards: 2 });
      expect(res.body.detail).toContain("one place of truth");
    }
    expect(await get(name)).toMatchObject({ value: 5, shards: 2 });
    // The refused fenced calls registered no token on the home.
    const fences = await runInDurableObject(
      env.COUNTER.getByName(name),
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM fence").one().n,
    );
    expect(fences).toBe(0);
  });

  it("resets every shard on DELETE and keeps the shard count", async () => {
    const name = unique("s");
    await shardsPut(name, { shards: 4 });
    await Promise.all(Array.from({ length: 8 }, () => call("POST", `/v1/counters/${name}/increment`, { by: 1 })));
    expect((await get(name)).value).toBe(8);
    const reset = await call<Value>("DELETE", `/v1/counters/${name}`);
    expect(reset.body).toEqual({ name, value: 0, updatedAt: null, shards: 4 });
    const stored = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        runInDurableObject(
          env.COUNTER.getByName(shardName(name, i)),
          (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM counter").one().n,
        ),
      ),
    );
    expect(stored).toEqual([0, 0, 0, 0]);
    expect(await get(name)).toEqual({ name, value: 0, updatedAt: null, shards: 4 });
    expect((await shardsPut(name, { shards: 2 })).status).toBe(409);
  });

  it("sends again where they belong the increments of an isolate that still believed the counter unsharded", async () => {
    const name = unique("s");
    const stale = isolate();
    expect((await stale.router.read(name)).shards).toBe(1);
    // The stale isolate's increments wait in their window while another isolate shards the counter.
    const pending = Array.from({ length: 100 }, () => stale.router.increment(name, { by: 1 }));
    const bounded = stale.router.increment(name, { by: 1, max: 1_000 });
    expect(stale.windows.waiting).toBe(101);
    expect((await shardsPut(name, { shards: 4 })).status).toBe(200);
    // The home refuses the batch that believes in 1 shard and names 4; the isolate sends its members again.
    stale.windows.release();
    const answers = await Promise.all(pending);
    expect(answers.every((a) => a.ok && a.shards === 4)).toBe(true);
    expect(await bounded).toMatchObject({ ok: false, reason: "sharded", shards: 4 });
    expect(stale.router.shardsOf(name)).toBe(4);
    const read = await get(name);
    expect(read).toMatchObject({ value: 100, shards: 4 });
    // Not all on the home: the shards past it took some.
    const values = await Promise.all([1, 2, 3].map((i) => env.COUNTER.getByName(shardName(name, i)).snapshot()));
    expect(values.some((v) => v.value > 0)).toBe(true);
  });
});
