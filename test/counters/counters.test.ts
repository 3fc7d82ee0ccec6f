import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../functions/index";
import { signFence } from "../../src/locks/fences";
import { call, unique } from "../helpers/api";

type Value = { name: string; value: number; updatedAt: number | null };
const get = async (name: string) => (await call<Value>("GET", `/v1/counters/${name}`)).body;
const inc = (name: string, body: unknown) =>
  call<Value & { detail?: string }>("POST", `/v1/counters/${name}/increment`, body);
const put = (name: string, body: unknown) => call<Value & { detail?: string }>("PUT", `/v1/counters/${name}`, body);
/** Token `token` of lock `lock` with its proof, as the lock's grant carries it. */
const fence = async (lock: string, token: number) => ({
  lock,
  token,
  sig: await signFence(env.FENCE_SECRET as string, lock, token),
});
const fencedRead = async (name: string, lock: string, token: number) =>
  call<Value>("GET", `/v1/counters/${name}?lock=${lock}&token=${token}&sig=${(await fence(lock, token)).sig}`);

describe("counters", () => {
  it("reads 0 for a counter never written", async () => {
    const name = unique("c");
    const res = await call<Value>("GET", `/v1/counters/${name}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name, value: 0, updatedAt: null, shards: 1 });
  });

  it("increments by 1 by default and by any integer, negative included", async () => {
    const name = unique("c");
    expect((await inc(name, {})).body.value).toBe(1);
    expect((await inc(name, { by: 10 })).body.value).toBe(11);
    expect((await inc(name, { by: -4 })).body.value).toBe(7);
    const now = await get(name);
    expect(now.value).toBe(7);
    expect(typeof now.updatedAt).toBe("number");
  });

  it("refuses an increment that would cross min or max with 409, changing nothing", async () => {
    const name = unique("c");
    await inc(name, { by: 3, max: 3 });
    const over = await inc(name, { by: 1, max: 3 });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ value: 3, type: expect.stringMatching(/[:/]counter-out-of-bounds$/) });
    const under = await inc(name, { by: -4, min: 0 });
    expect(under.status).toBe(409);
    expect((await get(name)).value).toBe(3);
    expect((await inc(name, { by: -3, min: 0 })).body.value).toBe(0);
  });

  it("sets the value, compare-and-set refusing a mismatch with 409", async () => {
    const name = unique("c");
    expect((await put(name, { value: 42 })).body.value).toBe(42);
    const mismatch = await put(name, { value: 50, ifValue: 41 });
    expect(mismatch.status).toBe(409);
    expect(mismatch.body.detail).toContain("the value is 42, not 41");
    expect((await get(name)).value).toBe(42);
    expect((await put(name, { value: 50, ifValue: 42 })).body.value).toBe(50);
  });

  it("resets to 0 on DELETE", async () => {
    const name = unique("c");
    await inc(name, { by: 5 });
    const res = await call<Value>("DELETE", `/v1/counters/${name}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name, value: 0, updatedAt: null, shards: 1 });
    expect(await get(name)).toEqual({ name, value: 0, updatedAt: null, shards: 1 });
  });

  it("refuses to leave the safe integer range rather than store a wrong number", async () => {
    const name = unique("c");
    await put(name, { value: Number.MAX_SAFE_INTEGER - 1 });
    expect((await inc(name, { by: 1 })).body.value).toBe(Number.MAX_SAFE_INTEGER);
    const over = await inc(name, { by: 1 });
    expect(over.status).toBe(409);
    expect(over.body.detail).toContain("safe integer");
    expect((await get(name)).value).toBe(Number.MAX_SAFE_INTEGER);
    const unsafeInput = await put(name, { value: 2 ** 53 });
    expect(unsafeInput.status).toBe(400);
    expect((await get(name)).value).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("keeps the highest fencing token per lock and refuses a lower one on writes and fenced reads", async () => {
    const name = unique("c");
    expect((await inc(name, { fence: await fence("L", 5) })).body.value).toBe(1);
    expect((await put(name, { value: 10, fence: await fence("L", 5) })).body.value).toBe(10);
    const stale = await inc(name, { fence: await fence("L", 4) });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ highestToken: 5, type: expect.stringMatching(/[:/]counter-stale-fence$/) });
    // A fenced read registers a newer token: the older holder can no longer write.
    const read = await fencedRead(name, "L", 6);
    expect(read.body.value).toBe(10);
    expect((await put(name, { value: 99, fence: await fence("L", 5) })).status).toBe(409);
    expect((await fencedRead(name, "L", 5)).status).toBe(409);
    // Tokens of another lock are counted apart.
    expect((await inc(name, { fence: await fence("M", 1) })).body.value).toBe(11);
    expect((await get(name)).value).toBe(11);
  });

  it("refuses a fencing token the lock never issued: a made-up token cannot make the lock's real tokens stale", async () => {
    const name = unique("c");
    const lock = unique("inv");
    type Grant = { token: number; fence: { lock: string; token: number; sig: string } };
    const grant = await call<Grant>("POST", `/v1/locks/${lock}/acquire`, { owner: "w1", ttlMs: 10_000 });
    expect(grant.status).toBe(200);
    const other = await call<Grant>("POST", `/v1/locks/${unique("other")}/acquire`, { owner: "w1", ttlMs: 10_000 });
    const highest = Number.MAX_SAFE_INTEGER;
    // Made up: without the lock's proof (400), or with the proof of another token or another lock (403).
    const madeUp = await inc(name, { fence: { lock, token: highest } });
    expect(madeUp.status).toBe(400);
    expect(madeUp.headers.get("content-type")).toBe("application/problem+json");
    for (const fence of [
      { lock, token: highest, sig: grant.body.fence.sig },
      { lock, token: 1, sig: other.body.fence.sig },
    ]) {
      const forged = await put(name, { value: 99, fence });
      expect(forged.status, JSON.stringify(fence)).toBe(403);
      expect(forged.body).toMatchObject({ type: "urn:edgeloop:problem:fence-invalid" });
    }
    const forgedRead = await call(
      "GET",
      `/v1/counters/${name}?lock=${lock}&token=${highest}&sig=${grant.body.fence.sig}`,
    );
    expect(forgedRead.status).toBe(403);
    expect(await get(name)).toEqual({ name, value: 0, updatedAt: null, shards: 1 });
    // The real holder's token was never shut out.
    expect(grant.body.fence).toEqual({ lock, token: 1, sig: expect.any(String) });
    const real = await inc(name, { fence: grant.body.fence });
    expect(real.status).toBe(200);
    expect(real.body.value).toBe(1);
  });

  it("without FENCE_SECRET grants carry no fence and fenced calls are refused with 503 (fail closed)", async () => {
    const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;
    const noSecret = { ...env, FENCE_SECRET: undefined };
    const send = (method: string, path: string, body?: unknown) =>
      app.fetch(
        new Request(`http://edgeloop.test${path}`, {
          method,
          headers: { authorization: "Bearer test-token", "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
        noSecret,
        ctx,
      );
    const name = unique("c");
    const lock = unique("L");
    const grant = await send("POST", `/v1/locks/${lock}/acquire`, { owner: "w", ttlMs: 10_000 });
    expect(grant.status).toBe(200);
    expect(await grant.json()).not.toHaveProperty("fence");
    const fenced = await send("POST", `/v1/counters/${name}/increment`, { fence: await fence(lock, 1) });
    expect(fenced.status).toBe(503);
    expect(JSON.stringify(await fenced.json())).toContain("FENCE_SECRET");
    expect((await send("POST", `/v1/counters/${name}/increment`, { by: 1 })).status).toBe(200);
    expect((await get(name)).value).toBe(1);
  });

  it("stores nothing once reset, but the fencing tokens it has seen (a stale holder stays stale)", async () => {
    const rows = (name: string) =>
      runInDurableObject(env.COUNTER.getByName(name), (_, state) => ({
        counter: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM counter").one().n,
        fence: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM fence").one().n,
      }));
    const plain = unique("c");
    await inc(plain, { by: 5 });
    expect(await rows(plain)).toEqual({ counter: 1, fence: 0 });
    expect((await call("DELETE", `/v1/counters/${plain}`)).body).toMatchObject({ value: 0, updatedAt: null });
    expect(await rows(plain)).toEqual({ counter: 0, fence: 0 });
    const fenced = unique("c");
    await inc(fenced, { fence: await fence("L", 3) });
    await call("DELETE", `/v1/counters/${fenced}`);
    expect(await rows(fenced)).toEqual({ counter: 0, fence: 1 });
    expect((await inc(fenced, { fence: await fence("L", 2) })).status).toBe(409);
  });

  it("counts 200 concurrent increments over HTTP exactly, each answer a distinct value", async () => {
    const name = unique("c");
    const answers = await Promise.all(Array.from({ length: 200 }, () => inc(name, { by: 1 })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const values = answers.map((a) => a.body.value).sort((a, b) => a - b);
    expect(new Set(values).size).toBe(200);
    expect(values[0]).toBe(1);
    expect(values[199]).toBe(200);
    expect((await get(name)).value).toBe(200);
  });

  it("answers bad input with 400 problem+json and changes nothing", async () => {
    const name = unique("c");
    await inc(name, { by: 7 });
    const bad: Array<[string, string, unknown]> = [
      ["POST", `/v1/counters/${name}/increment`, { by: 1.5 }],
      ["POST", `/v1/counters/${name}/increment`, { by: "1" }],
      ["POST", `/v1/counters/${name}/increment`, { by: 1, extra: true }],
      ["POST", `/v1/counters/${name}/increment`, { by: 1, min: 5, max: 1 }],
      ["POST", `/v1/counters/${name}/increment`, { fence: { lock: "L", token: 0 } }],
      ["POST", `/v1/counters/${name}/increment`, "{not json"],
      ["PUT", `/v1/counters/${name}`, {}],
      ["PUT", `/v1/counters/${name}`, { value: 1, ifValue: "7" }],
      ["POST", `/v1/counters/${name}/increment`, { fence: { lock: "L", token: 1 } }],
      ["POST", `/v1/counters/${name}/increment`, { fence: { lock: "L", token: 1, sig: "short" } }],
      ["GET", `/v1/counters/${name}?lock=L`, undefined],
      ["GET", `/v1/counters/${name}?lock=L&token=1`, undefined],
      ["GET", `/v1/counters/${name}?lock=L&token=-1&sig=${(await fence("L", 1)).sig}`, undefined],
      ["POST", "/v1/counters/bad%20name/increment", { by: 1 }],
      ["GET", `/v1/counters/${"x".repeat(129)}`, undefined],
    ];
    for (const [method, path, body] of bad) {
      const res = await call(method, path, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    expect((await get(name)).value).toBe(7);
    // The refused fenced read registered nothing: token 1 is still accepted.
    expect((await inc(name, { fence: await fence("L", 1) })).status).toBe(200);
  });

  it("is callable in-worker through typed RPC", async () => {
    const name = unique("c");
    const stub = env.COUNTER.getByName(name);
    const result = await stub.increment({ by: 2 });
    expect(result).toMatchObject({ ok: true, value: 2 });
  });
});
