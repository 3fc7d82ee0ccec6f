import {
  createExecutionContext,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { app } from "../../functions/index";
import { onError } from "../../src/http/problem";
import { hashKey, type Limiter, rateLimit } from "../../src/ratelimits/rate-limit";
import { IDLE_MS } from "../../src/ratelimits/rate-limiter";
import { BASE, call, unique } from "../helpers/api";

type Decision = { key: string; allowed: boolean; remaining: number; resetMs: number; retryAfterMs: number };
const take = (key: string, body: Record<string, unknown>) => call<Decision>("POST", `/v1/ratelimits/${key}`, body);

describe("rate limits", () => {
  it("allows limit requests per period and then refuses with the wait until the next one", async () => {
    const key = unique("rl");
    const answers: Decision[] = [];
    for (let i = 0; i < 4; i++) answers.push((await take(key, { limit: 3, periodMs: 60_000 })).body);
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, false]);
    expect(answers.map((a) => a.remaining)).toEqual([2, 1, 0, 0]);
    // Smooth: one request comes back every periodMs / limit = 20 s, not the whole window at once.
    expect(answers[3]?.retryAfterMs).toBeGreaterThan(19_000);
    expect(answers[3]?.retryAfterMs).toBeLessThanOrEqual(20_000);
    expect(answers[3]?.resetMs).toBeGreaterThan(59_000);
  });

  it("charges cost units and honours a burst smaller than the limit", async () => {
    const key = unique("rl");
    const first = await take(key, { limit: 100, periodMs: 60_000, burst: 10, cost: 8 });
    expect(first.body).toMatchObject({ allowed: true, remaining: 2 });
    const second = await take(key, { limit: 100, periodMs: 60_000, burst: 10, cost: 3 });
    expect(second.body).toMatchObject({ allowed: false, remaining: 2 });
    expect(second.body.retryAfterMs).toBeGreaterThan(0);
    expect(second.body.retryAfterMs).toBeLessThanOrEqual(600);
  });

  it("is exact under 50 concurrent requests on one key", async () => {
    const key = unique("rl");
    const answers = await Promise.all(Array.from({ length: 50 }, () => take(key, { limit: 20, periodMs: 600_000 })));
    expect(answers.filter((a) => a.body.allowed)).toHaveLength(20);
  });

  it("keeps a key's budget across eviction", async () => {
    const key = unique("rl");
    const stub = env.RATE_LIMITER.getByName(`user:${key}`);
    await take(key, { limit: 2, periodMs: 600_000 });
    await take(key, { limit: 2, periodMs: 600_000 });
    await evictDurableObject(stub);
    expect((await take(key, { limit: 2, periodMs: 600_000 })).body).toMatchObject({ allowed: false, remaining: 0 });
  });

  it("clears an idle key's storage by alarm IDLE_MS after its bucket is full again, and the key then starts afresh", async () => {
    const key = unique("rl");
    const stub = env.RATE_LIMITER.getByName(`user:${key}`);
    const stored = () =>
      runInDurableObject(stub, async (_, state) => ({
        entries: Object.fromEntries(await state.storage.list()),
        alarm: await state.storage.getAlarm(),
      }));
    expect((await take(key, { limit: 10, periodMs: 60_000 })).body).toMatchObject({ allowed: true, remaining: 9 });
    const busy = await stored();
    const tat = busy.entries.tat as number;
    expect(tat).toBeGreaterThan(Date.now());
    // The alarm is set for IDLE_MS after the bucket is full again (the stored arrival time): then nothing needs keeping.
    expect(busy.alarm).toBe(tat + IDLE_MS);
    // Too early (the key is still spending): kept, and the alarm moves on with the key.
    expect((await take(key, { limit: 10, periodMs: 60_000 })).body).toMatchObject({ remaining: 8 });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const still = await stored();
    expect(still.entries.tat).toBeGreaterThan(tat);
    expect(still.alarm).toBe((still.entries.tat as number) + IDLE_MS);
    // Full again, but for less than IDLE_MS: kept.
    await evictDurableObject(stub);
    await runInDurableObject(stub, (_, state) => state.storage.put("tat", Date.now() - IDLE_MS + 10_000));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stored()).entries.tat).toBeDefined();
    // As if IDLE_MS had passed with no request since it was full: evicted (memory gone), its arrival time long past.
    await evictDurableObject(stub);
    await runInDurableObject(stub, (_, state) => state.storage.put("tat", Date.now() - IDLE_MS - 1));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stored()).toEqual({ entries: {}, alarm: null });
    expect((await take(key, { limit: 10, periodMs: 60_000 })).body).toMatchObject({ allowed: true, remaining: 9 });
  });

  it("answers bad input with 400 problem+json and takes nothing", async () => {
    const key = unique("rl");
    const bad = [
      { limit: 0, periodMs: 1_000 },
      { limit: 1, periodMs: 0 },
      { limit: 5, periodMs: 1_000, cost: 6 },
      { limit: 5, periodMs: 1_000, burst: 2, cost: 3 },
      { limit: 5 },
      { limit: 5, periodMs: 1_000, extra: 1 },
      { limit: "5", periodMs: 1_000 },
    ];
    for (const body of bad) {
      const res = await take(key, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    expect((await call("POST", "/v1/ratelimits/bad%20key", { limit: 1, periodMs: 1_000 })).status).toBe(400);
    expect((await take(key, { limit: 1, periodMs: 60_000 })).body).toMatchObject({ allowed: true, remaining: 0 });
  });
});

describe("a limit that changes (a key's state is read under the limit in force)", () => {
  it("lowered, used up, then raised: the next call passes, and lowered again it waits at most one unit's interval", async () => {
    const key = unique("rl");
    const low = { limit: 2, periodMs: 1_000 };
    const high = { limit: 100, periodMs: 1_000 };
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await take(key, low)).body);
    expect(answers.map((a) => a.allowed)).toEqual([true, true, false]);
    // Two units spent of 100: another caller of the key at the higher limit has 97 left after this one.
    const raised = (await take(key, high)).body;
    expect(raised).toMatchObject({ allowed: true, retryAfterMs: 0 });
    expect(raised.remaining).toBeGreaterThanOrEqual(96);
    // Lowered again, with three spent: the bucket of 2 is empty, and the wait is what the limit of 2 allows.
    const lowered = (await take(key, low)).body;
    expect(lowered.allowed).toBe(false);
    expect(lowered.retryAfterMs).toBeGreaterThan(0);
    expect(lowered.retryAfterMs).toBeLessThanOrEqual(500);
    expect(lowered.resetMs).toBeLessThanOrEqual(1_000);
  });

  it("never asks for a wait longer than the current limit allows, however much was spent under another", async () => {
    const key = unique("rl");
    for (let i = 0; i < 10; i++) await take(key, { limit: 10, periodMs: 3_600_000 });
    const refused = (await take(key, { limit: 1, periodMs: 100 })).body;
    expect(refused.retryAfterMs).toBeLessThanOrEqual(100);
    expect(refused.resetMs).toBeLessThanOrEqual(100);
  });

  it("lets a token through once API_RATE_LIMIT is raised, though it used up a lower one", async () => {
    const token = `secret-${crypto.randomUUID()}`;
    const get = async (vars: Record<string, string>) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`${BASE}/v1/counters/${unique("c")}`, { headers: { authorization: `Bearer ${token}` } }),
        { ...env, API_TOKEN: token, ...vars },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    };
    // A mistaken 3 an hour (exact, no leases), used up: 429 for 20 minutes.
    const hourly = { API_RATE_LIMIT: "3", API_RATE_PERIOD_MS: "3600000", API_RATE_LEASE_MAX: "1" };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(hourly)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // Set back to 100000 a minute: the same token passes at once, leased or exact.
    const fixed = await get({ API_RATE_LIMIT: "100000", API_RATE_PERIOD_MS: "60000" });
    expect(fixed.status).toBe(200);
    expect(Number(fixed.headers.get("ratelimit-remaining"))).toBeGreaterThan(99_000);
    expect((await get({ API_RATE_LIMIT: "100000", API_RATE_PERIOD_MS: "60000", API_RATE_LEASE_MAX: "1" })).status).toBe(
      200,
    );
  });
});

describe("the rateLimit middleware", () => {
  const limited = (key: string) =>
    new Hono<{ Bindings: Env }>()
      .use(rateLimit({ key: () => key, limit: 2, periodMs: 60_000 }))
      .get("/", (c) => c.text("ok"))
      .onError(onError);

  it("answers 429 problem+json with Retry-After and RateLimit headers once the limit is reached", async () => {
    const api = limited(unique("mw"));
    const ok1 = await api.request("/", {}, env);
    expect(ok1.status).toBe(200);
    expect(ok1.headers.get("ratelimit-limit")).toBe("2");
    expect(ok1.headers.get("ratelimit-remaining")).toBe("1");
    expect(Number(ok1.headers.get("ratelimit-reset"))).toBe(30);
    expect((await api.request("/", {}, env)).headers.get("ratelimit-remaining")).toBe("0");
    const refused = await api.request("/", {}, env);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(refused.headers.get("retry-after")).toBe("30");
    expect(refused.headers.get("ratelimit-remaining")).toBe("0");
    expect(await refused.json()).toMatchObject({ status: 429, type: expect.stringMatching(/[:/]rate-limited$/) });
  });

  it("refuses bad options when the factory runs, not on the first request", () => {
    expect(() => rateLimit({ key: () => "k", limit: -1, periodMs: 1_000 })).toThrow(/limit/);
    expect(() => rateLimit({ key: () => "k", limit: 1, periodMs: 0 })).toThrow(/periodMs/);
  });

  it("limits /v1 per bearer token, keyed by the token's hash, with limits from [vars]", async () => {
    const token = `secret-${crypto.randomUUID()}`;
    const tight = { ...env, API_TOKEN: token, API_RATE_LIMIT: "2", API_RATE_PERIOD_MS: "60000" };
    const get = async () => {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`${BASE}/v1/counters/${unique("c")}`, { headers: { authorization: `Bearer ${token}` } }),
        tight,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    };
    expect((await get()).headers.get("ratelimit-remaining")).toBe("1");
    expect((await get()).status).toBe(200);
    const refused = await get();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ status: 429, limit: "API_RATE_LIMIT" });
    // The budget lives under the token's hash; the token itself names no object.
    const byHash = await env.RATE_LIMITER.getByName(`api:${await hashKey(token)}`).limit({
      limit: 2,
      periodMs: 60_000,
    });
    expect(byHash.allowed).toBe(false);
    const byToken = await env.RATE_LIMITER.getByName(`api:${token}`).limit({ limit: 2, periodMs: 60_000 });
    expect(byToken).toMatchObject({ allowed: true, remaining: 1 });
  });

  it("is generous by default: /v1 answers carry the headers of the API_RATE_LIMIT budget", async () => {
    const res = await call("GET", `/v1/counters/${unique("c")}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-limit")).toBe("100000");
  });
});

describe("the rateLimit middleware with leases", () => {
  const DAY = 86_400_000;
  /** One middleware = one isolate: its own batches, asking the real RateLimiter object; every call recorded. */
  const isolate = (
    key: string,
    limit: number,
    lease: { max: number; ttlMs: number },
    now?: () => number,
    /** Holds every batch request (max > 1) until it resolves; `asked` is told when one starts. */
    hold?: { gate: Promise<void>; asked: () => void },
  ) => {
    const calls: { max: number; granted: number }[] = [];
    const limiter = (c: { env: Env }, k: string): Limiter => {
      const stub = c.env.RATE_LIMITER.getByName(k);
      return {
        limit: (l) => stub.limit(l),
        lease: async (l, max, divisor) => {
          if (hold && max > 1) {
            hold.asked();
            await hold.gate;
          }
          const d = await stub.lease(l, max, divisor);
          calls.push({ max, granted: d.granted });
          return d;
        },
      };
    };
    const app = new Hono<{ Bindings: Env }>()
      .use(rateLimit({ key: () => key, limit, periodMs: DAY, lease, limiter, now }))
      .get("/", (c) => c.text("ok"))
      .onError(onError);
    return { calls, get: () => app.request("/", {}, env) };
  };

  it("never admits more than the limit across four isolates taking batches concurrently", async () => {
    const key = unique("lease");
    const isolates = Array.from({ length: 4 }, () => isolate(key, 300, { max: 50, ttlMs: 60_000 }));
    let allowed = 0;
    let refused = 0;
    for (let round = 0; round < 20; round++) {
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => isolates[i % 4]?.get()));
      for (const res of answers) {
        if (res?.status === 200) allowed++;
        else if (res?.status === 429) refused++;
      }
    }
    const calls = isolates.flatMap((i) => i.calls);
    const granted = calls.reduce((sum, c) => sum + c.granted, 0);
    // Batches never expired here, so every unit the object handed out was spent: exactly the limit, no more.
    expect(granted).toBe(300);
    expect(allowed).toBe(300);
    expect(refused).toBe(500);
    // Batches were taken (and spent without asking), and some isolate asked for one at a time near the limit.
    expect(calls.some((c) => c.granted > 1)).toBe(true);
    expect(calls.filter((c) => c.granted > 0).length).toBeLessThan(300);
    const object = await env.RATE_LIMITER.getByName(key).limit({ limit: 300, periodMs: DAY });
    expect(object).toMatchObject({ allowed: false, remaining: 0 });
  });

  it("takes a share of what is left and admits from it without asking, with truthful headers", async () => {
    const { calls, get } = isolate(unique("lease"), 3_200, { max: 50, ttlMs: 60_000 });
    const first = await get();
    // floor(3200 / 32) = 100, capped at max 50: the object keeps 3150, this isolate holds 49 more.
    expect(calls).toEqual([{ max: 50, granted: 50 }]);
    expect(first.headers.get("ratelimit-remaining")).toBe("3199");
    const second = await get();
    expect(second.headers.get("ratelimit-remaining")).toBe("3198");
    for (let i = 0; i < 48; i++) expect((await get()).status).toBe(200);
    expect(calls).toHaveLength(1);
    await get();
    expect(calls).toEqual([
      { max: 50, granted: 50 },
      { max: 50, granted: 50 },
    ]);
  });

  it("asks for one unit, not a second batch, while a batch is being asked for (no request waits on another's call)", async () => {
    const { calls, get } = isolate(unique("lease"), 3_200, { max: 50, ttlMs: 60_000 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => get()));
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    // One batch was asked for; those that found nothing held while it was asked for took one unit each.
    expect(calls.filter((call) => call.max > 1)).toEqual([{ max: 50, granted: 50 }]);
    const single = calls.filter((call) => call.max === 1);
    expect(single).toEqual(Array(single.length).fill({ max: 1, granted: 1 }));
    expect(calls.length).toBeLessThanOrEqual(10);
    // The next ten come from the batch without asking.
    const asked = calls.length;
    const more = await Promise.all(Array.from({ length: 10 }, () => get()));
    expect(more.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(calls).toHaveLength(asked);
  });

  it("answers requests that find nothing held while a batch is asked for without waiting for that call", async () => {
    // The request asking for the batch is held (as one whose client went away might never finish): the others
    // must not depend on it.
    let open = () => {};
    let asked = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const started = new Promise<void>((resolve) => (asked = resolve));
    const { calls, get } = isolate(unique("lease"), 3_200, { max: 50, ttlMs: 60_000 }, undefined, { gate, asked });
    const first = get();
    await started;
    const others = await Promise.all(Array.from({ length: 5 }, () => get()));
    expect(others.map((r) => r.status)).toEqual(Array(5).fill(200));
    expect(calls).toEqual(Array(5).fill({ max: 1, granted: 1 }));
    open();
    expect((await first).status).toBe(200);
    expect(calls.at(-1)).toEqual({ max: 50, granted: 50 });
  });

  it("asks the object on every request near the limit, and refuses without asking until the retry time", async () => {
    const { calls, get } = isolate(unique("lease"), 40, { max: 50, ttlMs: 60_000 });
    const statuses: number[] = [];
    for (let i = 0; i < 42; i++) statuses.push((await get()).status);
    expect(statuses.slice(0, 40).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(40)).toEqual([429, 429]);
    // Fewer than 2 × 32 left: one unit per call; the 42nd request was refused from the 41st's answer.
    expect(calls).toHaveLength(41);
    expect(calls.slice(0, 40).every((c) => c.granted === 1)).toBe(true);
    expect(calls[40]).toEqual({ max: 50, granted: 0 });
  });

  it("loses what an expired batch did not spend: never given back, never spent late", async () => {
    const key = unique("lease");
    let clock = 1_000_000;
    const { calls, get } = isolate(key, 3_200, { max: 50, ttlMs: 1_000 }, () => clock);
    await get();
    clock += 999;
    await get();
    expect(calls).toHaveLength(1);
    clock += 1;
    // The batch (48 left) expired: this request takes a new one.
    const res = await get();
    expect(calls).toHaveLength(2);
    expect(res.headers.get("ratelimit-remaining")).toBe(String(3_200 - 100 + 49));
    // The object counted both batches as spent: 100 gone, though only 3 requests were admitted.
    const object = await env.RATE_LIMITER.getByName(key).limit({ limit: 3_200, periodMs: DAY });
    expect(object).toMatchObject({ allowed: true, remaining: 3_200 - 101 });
  });

  it("refuses a bad lease option when the factory runs", () => {
    expect(() => rateLimit({ key: () => "k", limit: 1, periodMs: 1_000, lease: { max: 0, ttlMs: 1_000 } })).toThrow(
      /lease\.max/,
    );
    expect(() => rateLimit({ key: () => "k", limit: 1, periodMs: 1_000, lease: { max: 2, ttlMs: 0 } })).toThrow(
      /lease\.ttlMs/,
    );
  });
});
