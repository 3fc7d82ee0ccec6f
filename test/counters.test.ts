import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, unique } from "./helpers/api";

type Value = { name: string; value: number; updatedAt: number | null };
const get = async (name: string) => (await call<Value>("GET", `/v1/counters/${name}`)).body;
const inc = (name: string, body: unknown) =>
  call<Value & { detail?: string }>("POST", `/v1/counters/${name}/increment`, body);
const put = (name: string, body: unknown) => call<Value & { detail?: string }>("PUT", `/v1/counters/${name}`, body);

describe("counters", () => {
  it("reads 0 for a counter never written", async () => {
    const name = unique("c");
    const res = await call<Value>("GET", `/v1/counters/${name}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name, value: 0, updatedAt: null });
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
    expect(res.body).toEqual({ name, value: 0, updatedAt: null });
    expect(await get(name)).toEqual({ name, value: 0, updatedAt: null });
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
    expect((await inc(name, { fence: { lock: "L", token: 5 } })).body.value).toBe(1);
    expect((await put(name, { value: 10, fence: { lock: "L", token: 5 } })).body.value).toBe(10);
    const stale = await inc(name, { fence: { lock: "L", token: 4 } });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ highestToken: 5, type: expect.stringMatching(/[:/]counter-stale-fence$/) });
    // A fenced read registers a newer token: the older holder can no longer write.
    const read = await call<Value>("GET", `/v1/counters/${name}?lock=L&token=6`);
    expect(read.body.value).toBe(10);
    expect((await put(name, { value: 99, fence: { lock: "L", token: 5 } })).status).toBe(409);
    expect((await call("GET", `/v1/counters/${name}?lock=L&token=5`)).status).toBe(409);
    // Tokens of another lock are counted apart.
    expect((await inc(name, { fence: { lock: "M", token: 1 } })).body.value).toBe(11);
    expect((await get(name)).value).toBe(11);
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
      ["GET", `/v1/counters/${name}?lock=L`, undefined],
      ["GET", `/v1/counters/${name}?lock=L&token=-1`, undefined],
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
    expect((await inc(name, { fence: { lock: "L", token: 1 } })).status).toBe(200);
  });

  it("is callable in-worker through typed RPC", async () => {
    const name = unique("c");
    const stub = env.COUNTER.getByName(name);
    const result = await stub.increment({ by: 2 });
    expect(result).toMatchObject({ ok: true, value: 2 });
  });
});
