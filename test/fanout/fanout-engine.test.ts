import { describe, expect, it } from "vitest";
import { type FanoutContext, type FanoutResult, fanout, fanoutAll } from "../../src/fanout/engine";
import {
  type FanoutItemInput,
  FanoutItemSchema,
  type FanoutOptionsInput,
  FanoutOptionsSchema,
} from "../../src/fanout/schema";
import { newGate, newKey, stats, statsWhen, UPSTREAM, up } from "../helpers/upstream";

const ALLOW: FanoutContext = { allowHosts: ["127.0.0.1"] };
const items = (list: FanoutItemInput[]) => list.map((i) => FanoutItemSchema.parse(i));
const opts = (o: FanoutOptionsInput = {}) => FanoutOptionsSchema.parse(o);
const port = new URL(UPSTREAM).port;

describe("the fan-out engine", () => {
  it("returns one result per request in input order with status, headers, parsed body and timings", async () => {
    const key = newKey();
    const results = await fanoutAll(
      items([
        { id: "slow", url: up({ key, latency: 60 }) },
        { url: up({ key, latency: 1 }) },
        { id: "text", url: up({ key, body: "hello", type: "text/plain; charset=utf-8" }) },
      ]),
      opts(),
      ALLOW,
    );
    expect(results.map((r) => [r.index, r.id])).toEqual([
      [0, "slow"],
      [1, "1"],
      [2, "text"],
    ]);
    expect(results[0]).toMatchObject({
      outcome: "fulfilled",
      status: 200,
      ok: true,
      headers: { "content-type": "application/json" },
      body: { ok: true, hit: expect.any(Number) },
      truncated: false,
      attempts: 1,
    });
    expect(results[0]?.durationMs).toBeGreaterThanOrEqual(50);
    expect(results[0]?.error).toBeUndefined();
    expect(results[2]).toMatchObject({ body: "hello", bytes: 5 });
    expect((await stats(key)).hits).toBe(3);
  });

  it("gives each result its start offset from the fan-out's start: a call that waited for a slot starts after the one before it ended", async () => {
    // Concurrency 1: the second call starts only once the first, held at its gate, has answered.
    const gate = newGate();
    const running = fanoutAll(
      items([{ url: up({ gate: gate.name }) }, { url: up({}) }]),
      opts({ concurrency: 1 }),
      ALLOW,
    );
    await gate.waiting(1);
    await gate.open();
    const [a, b] = await running;
    expect(a?.startedMs).toBeGreaterThanOrEqual(0);
    expect(b?.startedMs).toBeGreaterThanOrEqual((a?.startedMs ?? 0) + (a?.durationMs ?? 0));
  });

  it("gives a call that never started a null start offset", async () => {
    const gate = newGate();
    try {
      const results = await fanoutAll(
        items([{ url: up({ gate: gate.name }) }, { url: up({}) }]),
        opts({ concurrency: 1, deadlineMs: 200 }),
        ALLOW,
      );
      expect(results.map((r) => [r.error?.kind, r.startedMs === null, r.attempts])).toEqual([
        ["deadline", false, 1],
        ["deadline", true, 0],
      ]);
    } finally {
      await gate.open();
    }
  });

  it("yields results in completion order, each carrying its index", async () => {
    // Each answer is held at its own gate; the test opens the next gate only after the previous result came out.
    const gates = [newGate(), newGate(), newGate()];
    const plan = [1, 2, 0];
    const order: number[] = [];
    try {
      const results = fanout(items(gates.map((g) => ({ url: up({ gate: g.name }) }))), opts(), ALLOW);
      await gates[1]?.open();
      for await (const r of results) {
        expect(r).toMatchObject({ outcome: "fulfilled", status: 200 });
        order.push(r.index);
        const next = plan[order.length];
        if (next !== undefined) await gates[next]?.open();
      }
    } finally {
      await Promise.all(gates.map((g) => g.open()));
    }
    expect(order).toEqual(plan);
  });

  it("answers an upstream 4xx/5xx as fulfilled with its status when no retries were asked", async () => {
    const [r] = await fanoutAll(items([{ url: up({ status: 503 }) }]), opts(), ALLOW);
    expect(r).toMatchObject({ outcome: "fulfilled", status: 503, ok: false, attempts: 1 });
  });

  it("never has more calls in flight than the concurrency, counted at the upstream", async () => {
    const key = newKey();
    const gate = newGate();
    const running = fanoutAll(
      items(Array.from({ length: 12 }, () => ({ url: up({ key, gate: gate.name }) }))),
      opts({ concurrency: 3 }),
      ALLOW,
    );
    // The calls are held at a gate until as many as the concurrency are in flight at once.
    try {
      expect(await gate.waiting(3)).toMatchObject({ waiting: 3 });
    } finally {
      await gate.open();
    }
    const results = await running;
    expect(results.every((r) => r.status === 200)).toBe(true);
    const s = await stats(key);
    expect(s.hits).toBe(12);
    expect(s.maxInFlight).toBe(3);
  });

  it("aborts a call that outlives its timeout and reports it as a timeout", async () => {
    const key = newKey();
    const [hung, fast] = await fanoutAll(
      items([{ url: up({ key, hang: 1 }), timeoutMs: 100 }, { url: up({ latency: 1 }) }]),
      opts({ timeoutMs: 10_000 }),
      ALLOW,
    );
    expect(hung).toMatchObject({
      outcome: "rejected",
      status: null,
      attempts: 1,
      error: { kind: "timeout", message: "no answer within 100 ms" },
    });
    expect(fast?.outcome).toBe("fulfilled");
    expect((await statsWhen(key, (s) => s.aborted === 1)).aborted).toBe(1);
  });

  it("at the deadline aborts what runs and what waits, and returns every entry on time", async () => {
    const key = newKey();
    const started = Date.now();
    const results = await fanoutAll(
      items([{ url: up({ latency: 1 }) }, ...Array.from({ length: 5 }, () => ({ url: up({ key, hang: 1 }) }))]),
      opts({ concurrency: 3, deadlineMs: 500 }),
      ALLOW,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(results).toHaveLength(6);
    expect(results[0]?.outcome).toBe("fulfilled");
    for (const r of results.slice(1)) {
      expect(r).toMatchObject({
        outcome: "rejected",
        error: { kind: "deadline", message: "deadline of 500 ms exceeded" },
      });
    }
    // Three hanging calls were in flight when the deadline came (the quick one freed its slot); two never started.
    expect(results.slice(1).filter((r) => r.attempts === 0)).toHaveLength(2);
    const s = await statsWhen(key, (x) => x.aborted === 3);
    expect(s).toMatchObject({ hits: 3, aborted: 3, inFlight: 0 });
  });

  it("aborts every call in flight when the caller's signal fires", async () => {
    const key = newKey();
    const controller = new AbortController();
    const pending = fanoutAll(items(Array.from({ length: 3 }, () => ({ url: up({ key, hang: 1 }) }))), opts(), {
      ...ALLOW,
      signal: controller.signal,
    });
    await statsWhen(key, (s) => s.inFlight === 3);
    controller.abort();
    const results = await pending;
    expect(results.map((r) => r.error?.kind)).toEqual(["aborted", "aborted", "aborted"]);
    expect((await statsWhen(key, (s) => s.aborted === 3)).aborted).toBe(3);
  });

  describe("retries", () => {
    it("retries an idempotent request on 5xx and reports the attempts", async () => {
      const key = newKey();
      const [r] = await fanoutAll(
        items([{ url: up({ key, failTimes: 2 }) }]),
        opts({ retry: { attempts: 3, baseMs: 5, maxMs: 10 } }),
        ALLOW,
      );
      expect(r).toMatchObject({ outcome: "fulfilled", status: 200, attempts: 3, body: { hit: 3 } });
      expect((await stats(key)).hits).toBe(3);
    });

    it("retries on 429 too, and on network errors and timeouts", async () => {
      const key = newKey();
      const [limited, dropped, slow] = await fanoutAll(
        items([
          { url: up({ key, failTimes: 1, failStatus: 429 }) },
          { url: up({ drop: 1 }) },
          { url: up({ hang: 1 }), timeoutMs: 50 },
        ]),
        opts({ retry: { attempts: 2, baseMs: 5, maxMs: 10 } }),
        ALLOW,
      );
      expect(limited).toMatchObject({ outcome: "fulfilled", status: 200, attempts: 2 });
      expect(dropped).toMatchObject({ outcome: "rejected", attempts: 2, error: { kind: "network" } });
      expect(slow).toMatchObject({ outcome: "rejected", attempts: 2, error: { kind: "timeout" } });
    });

    it("reports a request that stayed retryable to the end as rejected with its last status", async () => {
      const [r] = await fanoutAll(
        items([{ url: up({ status: 502 }) }]),
        opts({ retry: { attempts: 3, baseMs: 5, maxMs: 10 } }),
        ALLOW,
      );
      expect(r).toMatchObject({
        outcome: "rejected",
        status: 502,
        attempts: 3,
        body: { ok: false },
        error: { kind: "status", message: "the upstream answered 502 after 3 attempts" },
      });
    });

    it("does not retry a 4xx other than 429", async () => {
      const [r] = await fanoutAll(
        items([{ url: up({ status: 404 }) }]),
        opts({ retry: { attempts: 3, baseMs: 5, maxMs: 10 } }),
        ALLOW,
      );
      expect(r).toMatchObject({ outcome: "fulfilled", status: 404, attempts: 1 });
    });

    it("never retries a POST or PATCH unless the request says idempotent: true", async () => {
      const post = newKey();
      const patch = newKey();
      const marked = newKey();
      const results = await fanoutAll(
        items([
          { url: up({ key: post, failTimes: 1 }), method: "POST", body: "x" },
          { url: up({ key: patch, failTimes: 1 }), method: "PATCH", body: "x" },
          { url: up({ key: marked, failTimes: 1 }), method: "POST", body: "x", idempotent: true },
        ]),
        opts({ retry: { attempts: 3, baseMs: 5, maxMs: 10 } }),
        ALLOW,
      );
      expect(results.map((r) => [r.status, r.attempts])).toEqual([
        [503, 1],
        [503, 1],
        [200, 2],
      ]);
      expect((await stats(post)).hits).toBe(1);
      expect((await stats(marked)).hits).toBe(2);
    });

    it("retries PUT, DELETE, HEAD and OPTIONS as idempotent methods", async () => {
      const results = await fanoutAll(
        (["PUT", "DELETE", "HEAD", "OPTIONS"] as const).map((method) =>
          FanoutItemSchema.parse({ url: up({ key: newKey(), failTimes: 1 }), method }),
        ),
        opts({ retry: { attempts: 2, baseMs: 5, maxMs: 10 } }),
        ALLOW,
      );
      expect(results.map((r) => [r.status, r.attempts])).toEqual([
        [200, 2],
        [200, 2],
        [200, 2],
        [200, 2],
      ]);
    });

    it("waits the Retry-After the upstream asks for", async () => {
      const key = newKey();
      const [r] = await fanoutAll(
        items([{ url: up({ key, failTimes: 1, retryAfter: 1 }) }]),
        opts({ retry: { attempts: 2, baseMs: 1, maxMs: 1 } }),
        ALLOW,
      );
      expect(r).toMatchObject({ outcome: "fulfilled", status: 200, attempts: 2 });
      expect(r?.durationMs).toBeGreaterThanOrEqual(950);
    });

    it("gives up at once instead of waiting a Retry-After that ends past the deadline", async () => {
      const [r] = await fanoutAll(
        items([{ url: up({ status: 503, failTimes: 9, retryAfter: 30 }) }]),
        opts({ deadlineMs: 2_000, retry: { attempts: 3, baseMs: 1, maxMs: 1 } }),
        ALLOW,
      );
      expect(r).toMatchObject({ outcome: "rejected", status: 503, attempts: 1, error: { kind: "status" } });
      expect(r?.durationMs).toBeLessThan(1_000);
    });
  });

  describe("hedging", () => {
    it("starts a second call when the first is slow, takes the first answer and aborts the other", async () => {
      const key = newKey();
      const [r] = await fanoutAll(
        items([{ url: up({ key, latencyFirst: 2_000, latency: 1 }) }]),
        opts({ hedgeAfterMs: 50 }),
        ALLOW,
      );
      expect(r).toMatchObject({ outcome: "fulfilled", status: 200, attempts: 2, body: { hit: 2 } });
      expect(r?.durationMs).toBeLessThan(1_500);
      const s = await statsWhen(key, (x) => x.aborted === 1);
      expect(s).toMatchObject({ hits: 2, completed: 1, aborted: 1 });
    });

    it("does not hedge a call that answers in time", async () => {
      const key = newKey();
      const [r] = await fanoutAll(items([{ url: up({ key, latency: 1 }) }]), opts({ hedgeAfterMs: 500 }), ALLOW);
      expect(r?.attempts).toBe(1);
      expect((await stats(key)).hits).toBe(1);
    });

    it("never hedges a non-idempotent request", async () => {
      const key = newKey();
      const [r] = await fanoutAll(
        items([{ url: up({ key, latency: 150 }), method: "POST", body: "once" }]),
        opts({ hedgeAfterMs: 20 }),
        ALLOW,
      );
      expect(r).toMatchObject({ status: 200, attempts: 1 });
      expect((await stats(key)).hits).toBe(1);
    });
  });

  describe("bodies", () => {
    it("cuts a body at maxBodyBytes and says so", async () => {
      const [r] = await fanoutAll(items([{ url: up({ bytes: 5_000 }) }]), opts({ maxBodyBytes: 1_000 }), ALLOW);
      expect(r).toMatchObject({ outcome: "fulfilled", bytes: 1_000, truncated: true });
      expect(atob(r?.body as string)).toBe("a".repeat(1_000));
    });

    it("decodes by content type in auto mode, and as asked otherwise", async () => {
      const list = items([
        { url: up({ body: '{"a":1}', type: "application/problem+json" }) },
        { url: up({ body: "<x/>", type: "application/xml" }) },
        { url: up({ bytes: 3 }) },
        { url: up({ body: "not json", type: "application/json" }) },
      ]);
      const auto = await fanoutAll(list, opts(), ALLOW);
      expect(auto.map((r) => r.body)).toEqual([{ a: 1 }, "<x/>", "YWFh", "not json"]);
      const text = await fanoutAll(list, opts({ responseBody: "text" }), ALLOW);
      expect(text.map((r) => r.body)).toEqual(['{"a":1}', "<x/>", "aaa", "not json"]);
      const b64 = await fanoutAll(list.slice(0, 1), opts({ responseBody: "base64" }), ALLOW);
      expect(b64[0]?.body).toBe(btoa('{"a":1}'));
      const none = await fanoutAll(list.slice(0, 1), opts({ responseBody: "none" }), ALLOW);
      expect(none[0]).toMatchObject({ status: 200, body: null, bytes: 0 });
    });

    it("caps all bodies together at maxResponseBytes and marks the one that overflowed too_large", async () => {
      // All three calls run at once; each answer is let out only after the one before it was read.
      const gates = [newGate(), newGate(), newGate()];
      const results: FanoutResult[] = [];
      try {
        const run = fanout(items(gates.map((g) => ({ url: up({ bytes: 1_000, gate: g.name }) }))), opts(), {
          ...ALLOW,
          maxResponseBytes: 2_500,
        });
        await gates[0]?.open();
        for await (const r of run) {
          results[r.index] = r;
          await gates[r.index + 1]?.open();
        }
      } finally {
        await Promise.all(gates.map((g) => g.open()));
      }
      expect(results.map((r) => r.outcome)).toEqual(["fulfilled", "fulfilled", "rejected"]);
      expect(results.map((r) => r.bytes)).toEqual([1_000, 1_000, 0]);
      expect(results[2]?.error).toMatchObject({
        kind: "too_large",
        message: expect.stringContaining("FANOUT_MAX_RESPONSE_BYTES"),
      });
    });

    it("gives the bytes of a retried answer back to the shared budget", async () => {
      let calls = 0;
      const fake = (async () => {
        calls++;
        return new Response("x".repeat(1_000), {
          status: calls < 3 ? 503 : 200,
          headers: { "content-type": "text/plain" },
        });
      }) as unknown as typeof fetch;
      const [r] = await fanoutAll(
        items([{ url: "https://api.example.com/" }]),
        opts({ retry: { attempts: 3, baseMs: 1, maxMs: 1 } }),
        { allowHosts: [], maxResponseBytes: 1_500, fetch: fake },
      );
      expect(r).toMatchObject({ outcome: "fulfilled", status: 200, bytes: 1_000, attempts: 3 });
    });

    it("sends a string body as is and an object body as JSON", async () => {
      const [raw, json] = await fanoutAll(
        items([
          { url: up({ echo: 1 }), method: "POST", body: "plain", headers: { "x-trace": "t1" } },
          { url: up({ echo: 1 }), method: "PUT", body: { n: 1 } },
        ]),
        opts(),
        ALLOW,
      );
      expect(raw?.body).toMatchObject({ method: "POST", body: "plain", headers: { "x-trace": "t1" } });
      expect(json?.body).toMatchObject({
        method: "PUT",
        body: '{"n":1}',
        headers: { "content-type": "application/json" },
      });
    });

    it("refuses a GET with a body as invalid without calling", async () => {
      const key = newKey();
      const [r] = await fanoutAll(items([{ url: up({ key }), body: "x" }]), opts(), ALLOW);
      expect(r).toMatchObject({ outcome: "rejected", attempts: 1, error: { kind: "invalid" } });
      expect((await stats(key)).hits).toBe(0);
    });

    it("reports a dropped connection as a network error", async () => {
      const [r] = await fanoutAll(items([{ url: up({ drop: 1 }) }]), opts(), ALLOW);
      expect(r).toMatchObject({ outcome: "rejected", status: null, error: { kind: "network" } });
    });
  });

  describe("the URL guard", () => {
    it("refuses loopback in every spelling as blocked, and no connection reaches the upstream", async () => {
      const key = newKey();
      const spellings = [
        `http://127.0.0.1:${port}/r?key=${key}`,
        `http://2130706433:${port}/r?key=${key}`,
        `http://0x7f.1:${port}/r?key=${key}`,
        `http://0177.0.0.1:${port}/r?key=${key}`,
        `http://localhost:${port}/r?key=${key}`,
        `http://api.localhost:${port}/r?key=${key}`,
        `http://[::1]:${port}/r?key=${key}`,
        `http://[::ffff:127.0.0.1]:${port}/r?key=${key}`,
        `http://user:pw@127.0.0.1:${port}/r?key=${key}`,
        `ftp://127.0.0.1:${port}/r?key=${key}`,
      ];
      const results = await fanoutAll(items(spellings.map((url) => ({ url }))), opts(), { allowHosts: [] });
      expect(results).toEqual(
        spellings.map((_, index) =>
          expect.objectContaining({
            index,
            outcome: "rejected",
            status: null,
            error: expect.objectContaining({ kind: "blocked" }),
          }),
        ),
      );
      expect((await stats(key)).hits).toBe(0);
    });

    it("refuses an unparseable URL as invalid", async () => {
      const [r] = await fanoutAll(items([{ url: "not a url" }]), opts(), ALLOW);
      expect(r).toMatchObject({ outcome: "rejected", error: { kind: "invalid" } });
    });
  });

  describe("redirects", () => {
    it("follows redirects by hand and reports the final answer", async () => {
      const key = newKey();
      const [r] = await fanoutAll(items([{ url: up({ key, redirects: 3 }) }]), opts(), ALLOW);
      expect(r).toMatchObject({ outcome: "fulfilled", status: 200 });
      expect((await stats(key)).hits).toBe(4);
    });

    it("refuses more than 5 hops", async () => {
      const key = newKey();
      const [r] = await fanoutAll(items([{ url: up({ key, redirects: 6 }) }]), opts(), ALLOW);
      expect(r).toMatchObject({ outcome: "rejected", error: { kind: "invalid", message: "more than 5 redirects" } });
      expect((await stats(key)).hits).toBe(6);
    });

    it("re-checks every hop: a redirect to a refused host is blocked before any connection", async () => {
      const canary = newKey();
      const targets = [
        `http://localhost:${port}/r?key=${canary}`,
        `http://[::1]:${port}/r?key=${canary}`,
        `http://0x7f000001:${port}/r?key=${canary}`.replace("0x7f000001", "0x7f000002"),
        "http://169.254.169.254/latest/meta-data/",
        `file:///etc/passwd`,
      ];
      const results = await fanoutAll(items(targets.map((t) => ({ url: up({ redirect: t }) }))), opts(), ALLOW);
      expect(results).toEqual(
        targets.map((target, index) =>
          expect.objectContaining({
            index,
            outcome: "rejected",
            error: expect.objectContaining({ kind: "blocked", message: expect.stringMatching(/^redirect 1 to /) }),
            url: up({ redirect: target }),
          }),
        ),
      );
      expect((await stats(canary)).hits).toBe(0);
    });

    it("turns a POST into a GET without a body on 303, and keeps method and body on 307", async () => {
      const results = await fanoutAll(
        items([
          { url: up({ redirect: up({ echo: 1 }), code: 303 }), method: "POST", body: "payload" },
          { url: up({ redirect: up({ echo: 1 }), code: 307 }), method: "POST", body: "payload" },
        ]),
        opts(),
        ALLOW,
      );
      expect(results[0]?.body).toMatchObject({ method: "GET", body: "" });
      expect(results[1]?.body).toMatchObject({ method: "POST", body: "payload" });
    });
  });
});
