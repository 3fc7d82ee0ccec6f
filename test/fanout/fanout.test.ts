import { exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { FanoutResult } from "../../src/fanout/engine";
import { BASE, type CallInit, send } from "../helpers/api";
import { FrameReader } from "../helpers/frames";
import { newGate, newKey, stats, statsWhen, UPSTREAM, up } from "../helpers/upstream";

const port = new URL(UPSTREAM).port;
/** A second loopback upstream on another port: another origin. */
const OTHER = inject("otherUpstream");

type Summary = { fulfilled: number; rejected: number; durationMs: number; concurrency: number };
type Body = { results: FanoutResult[]; summary: Summary };
type Keyed = { results: Record<string, FanoutResult>; summary: Summary };

const post = (body: unknown, init?: CallInit) => send("POST", "/v1/fanout", body, init);

/** POST /v1/fanout with some settings overridden. */
const postWithSettings = (vars: Record<string, string>, body: unknown) => post(body, { vars });

async function lines(res: Response): Promise<string[]> {
  return (await res.text()).split("\n").filter(Boolean);
}

describe("POST /v1/fanout", () => {
  it("requires the bearer token and calls nothing without it", async () => {
    const key = newKey();
    const res = await exports.default.fetch(`${BASE}/v1/fanout`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ requests: [{ url: up({ key }) }] }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect((await stats(key)).hits).toBe(0);
  });

  it("answers a list of requests in request order with a summary", async () => {
    const res = await post({
      requests: [
        { id: "slow", url: up({ latency: 60 }) },
        { id: "missing", url: up({ status: 404 }) },
        { id: "blocked", url: `http://localhost:${port}/` },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = await res.json<Body>();
    expect(body.results.map((r) => [r.index, r.id, r.outcome, r.status])).toEqual([
      [0, "slow", "fulfilled", 200],
      [1, "missing", "fulfilled", 404],
      [2, "blocked", "rejected", null],
    ]);
    expect(body.results[0]).toMatchObject({ ok: true, body: { ok: true }, attempts: 1, truncated: false });
    expect(body.results[2]?.error).toMatchObject({ kind: "blocked" });
    expect(body.summary).toMatchObject({ fulfilled: 2, rejected: 1, concurrency: 6 });
    expect(body.summary.durationMs).toBeGreaterThanOrEqual(50);
  });

  it("keys the results like the requests when requests is an object", async () => {
    const res = await post({
      requests: { user: { url: up({ latency: 30, body: "u" }) }, orders: { url: up({ body: "o" }) } },
    });
    expect(res.status).toBe(200);
    const body = await res.json<Keyed>();
    expect(Object.keys(body.results)).toEqual(["user", "orders"]);
    expect(body.results.user).toMatchObject({ id: "user", index: 0, body: "u" });
    expect(body.results.orders).toMatchObject({ id: "orders", index: 1, body: "o" });
    expect(body.summary).toMatchObject({ fulfilled: 2, rejected: 0 });
  });

  it.each([
    ["an unknown top-level field", { requests: [{ url: "https://example.com/" }], extra: 1 }, ""],
    ["an unknown field in a request", { requests: [{ url: "https://example.com/", verb: "GET" }] }, "requests"],
    ["no requests", {}, "requests"],
    ["an empty list", { requests: [] }, "requests"],
    ["an empty object", { requests: {} }, "requests"],
    ["a bad method", { requests: [{ url: "https://example.com/", method: "TRACE" }] }, "requests"],
    ["a forbidden header", { requests: [{ url: "https://example.com/", headers: { Host: "x" } }] }, "requests"],
    [
      "a header with a newline",
      { requests: [{ url: "https://example.com/", headers: { "x-a": "a\r\nb: c" } }] },
      "requests",
    ],
    ["a zero timeout", { requests: [{ url: "https://example.com/" }], timeoutMs: 0 }, "timeoutMs"],
    ["a key that is not a name", { requests: { "bad key!": { url: "https://example.com/" } } }, "requests"],
    ["too many attempts", { requests: [{ url: "https://example.com/" }], retry: { attempts: 50 } }, "retry.attempts"],
    ["an unknown responseBody", { requests: [{ url: "https://example.com/" }], responseBody: "xml" }, "responseBody"],
  ])("refuses %s with 400 problem+json", async (_what, body, path) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const problem = await res.json<{ status: number; errors: Array<{ path: string }> }>();
    expect(problem.status).toBe(400);
    expect(problem.errors.some((e) => e.path.startsWith(path))).toBe(true);
  });

  it("refuses malformed JSON with 400 and calls nothing", async () => {
    const key = newKey();
    // Broken JSON that names a real upstream URL: truncated, and with trailing garbage after a valid document.
    const valid = JSON.stringify({ requests: [{ url: up({ key }) }] });
    for (const body of ["{not json", valid.slice(0, -1), `${valid} trailing`]) {
      const res = await post(body);
      expect(res.status, body).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    expect((await stats(key)).hits).toBe(0);
  });

  it("refuses more than FANOUT_MAX_REQUESTS with a 413 that names the limit and points to jobs, calling nothing", async () => {
    const key = newKey();
    const res = await post({ requests: Array.from({ length: 51 }, () => ({ url: up({ key }) })) });
    expect(res.status).toBe(413);
    const body = await res.json<{ detail: string; limit: string; max: number; jobs: string }>();
    expect(body).toMatchObject({ limit: "FANOUT_MAX_REQUESTS", max: 50, jobs: "/v1/jobs" });
    expect(body.detail).toContain("FANOUT_MAX_REQUESTS");
    expect(body.detail).toContain("POST /v1/jobs");
    expect((await stats(key)).hits).toBe(0);
  });

  it("refuses a request with more headers than FANOUT_MAX_HEADERS, or more header bytes than FANOUT_MAX_HEADER_BYTES", async () => {
    const key = newKey();
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x-h${i}`, "v"]));
    const res = await post({ requests: [{ url: up({ key }) }, { url: up({ key }), headers: many }] });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ limit: "FANOUT_MAX_HEADERS", max: 32, index: 1 });
    const big = await post({
      requests: [{ url: up({ key }), headers: { "x-a": "a".repeat(5000), "x-b": "b".repeat(5000) } }],
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ limit: "FANOUT_MAX_HEADER_BYTES", max: 8192 });
    expect((await stats(key)).hits).toBe(0);
  });

  it("never runs more calls at once than FANOUT_MAX_CONCURRENCY, whatever concurrency asks", async () => {
    const key = newKey();
    const gate = newGate();
    const pending = postWithSettings(
      { FANOUT_MAX_CONCURRENCY: "2" },
      { concurrency: 10, requests: Array.from({ length: 8 }, () => ({ url: up({ key, gate: gate.name }) })) },
    );
    // Held at a gate until two calls are in flight at once.
    try {
      expect(await gate.waiting(2)).toMatchObject({ waiting: 2 });
    } finally {
      await gate.open();
    }
    const res = await pending;
    expect(res.status).toBe(200);
    const body = await res.json<Body>();
    expect(body.summary).toMatchObject({ fulfilled: 8, concurrency: 2 });
    expect((await stats(key)).maxInFlight).toBe(2);
  });

  it("never runs more calls at once than the requested concurrency (default 6)", async () => {
    const key = newKey();
    const gate = newGate();
    const pending = post({ requests: Array.from({ length: 15 }, () => ({ url: up({ key, gate: gate.name }) })) });
    try {
      expect(await gate.waiting(6)).toMatchObject({ waiting: 6 });
    } finally {
      await gate.open();
    }
    const res = await pending;
    expect((await res.json<Body>()).summary.fulfilled).toBe(15);
    expect((await stats(key)).maxInFlight).toBe(6);
  });

  it("caps all bodies together at FANOUT_MAX_RESPONSE_BYTES", async () => {
    // One call at a time, so the second body is the one that overflows (not whichever arrives last).
    const res = await postWithSettings(
      { FANOUT_MAX_RESPONSE_BYTES: "1500" },
      { concurrency: 1, requests: [{ url: up({ bytes: 1000 }) }, { url: up({ bytes: 1000 }) }] },
    );
    const body = await res.json<Body>();
    expect(body.results[0]).toMatchObject({ outcome: "fulfilled", bytes: 1000 });
    expect(body.results[1]?.error).toMatchObject({ kind: "too_large" });
  });

  it("cuts each body at maxBodyBytes", async () => {
    const res = await post({ requests: [{ url: up({ bytes: 4096, type: "text/plain" }) }], maxBodyBytes: 100 });
    const [r] = (await res.json<Body>()).results;
    expect(r).toMatchObject({ bytes: 100, truncated: true, body: "a".repeat(100) });
  });

  it("answers on time at the deadline with every entry, aborting what runs and what waits", async () => {
    const key = newKey();
    const started = Date.now();
    const res = await post({
      deadlineMs: 500,
      concurrency: 2,
      requests: [{ url: up({ latency: 1 }) }, ...Array.from({ length: 4 }, () => ({ url: up({ key, hang: 1 }) }))],
    });
    expect(res.status).toBe(200);
    const body = await res.json<Body>();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(body.results).toHaveLength(5);
    expect(body.results.slice(1).map((r) => r.error?.kind)).toEqual(["deadline", "deadline", "deadline", "deadline"]);
    expect(body.summary).toMatchObject({ fulfilled: 1, rejected: 4 });
    expect(await statsWhen(key, (s) => s.aborted === 2)).toMatchObject({ hits: 2, aborted: 2, inFlight: 0 });
  });

  it("reports a per-request timeout as timeout and aborts that call", async () => {
    const key = newKey();
    const res = await post({ requests: [{ url: up({ key, hang: 1 }), timeoutMs: 100 }] });
    const [r] = (await res.json<Body>()).results;
    expect(r).toMatchObject({ outcome: "rejected", error: { kind: "timeout" } });
    expect((await statsWhen(key, (s) => s.aborted === 1)).aborted).toBe(1);
  });

  it("retries only what may be retried and reports the attempts", async () => {
    const get = newKey();
    const postKey = newKey();
    const res = await post({
      retry: { attempts: 3, baseMs: 5, maxMs: 10 },
      requests: [
        { url: up({ key: get, failTimes: 2 }) },
        { url: up({ key: postKey, failTimes: 2 }), method: "POST", body: "x" },
      ],
    });
    const { results } = await res.json<Body>();
    expect(results.map((r) => [r.status, r.attempts])).toEqual([
      [200, 3],
      [503, 1],
    ]);
  });

  it("hedges a slow idempotent call and aborts the loser", async () => {
    const key = newKey();
    const res = await post({ hedgeAfterMs: 50, requests: [{ url: up({ key, latencyFirst: 3_000 }) }] });
    const [r] = (await res.json<Body>()).results;
    expect(r).toMatchObject({ status: 200, attempts: 2 });
    expect(await statsWhen(key, (s) => s.aborted === 1)).toMatchObject({ hits: 2, aborted: 1 });
  });

  it("blocks a loopback URL outside FANOUT_ALLOW_HOSTS before any connection", async () => {
    const key = newKey();
    const res = await post({
      requests: [
        { url: `http://localhost:${port}/r?key=${key}` },
        { url: `http://[::1]:${port}/r?key=${key}` },
        { url: up({ redirect: `http://localhost:${port}/r?key=${key}` }) },
      ],
    });
    const { results } = await res.json<Body>();
    expect(results.map((r) => r.error?.kind)).toEqual(["blocked", "blocked", "blocked"]);
    expect((await stats(key)).hits).toBe(0);
  });

  it("sends only headers known to be safe on a redirect to another origin, and every header within one", async () => {
    const key = newKey();
    const headers = {
      authorization: "Bearer upstream-secret",
      "x-api-key": "k-secret",
      "private-token": "p-secret",
      cookie: "s=1",
      "x-trace": "t-1",
      accept: "application/json",
      "accept-language": "fr",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    };
    const echo = (base: string) => new URL(`/r?echo=1&key=${key}`, base).href;
    const res = await post({
      requests: [
        { id: "other", url: up({ redirect: echo(OTHER) }), headers },
        { id: "same", url: up({ redirect: echo(UPSTREAM) }), headers },
      ],
    });
    const [other, same] = (await res.json<Body>()).results as [FanoutResult, FanoutResult];
    const sent = (r: FanoutResult) => (r.body as { headers: Record<string, string> }).headers;
    expect(other).toMatchObject({ status: 200 });
    expect(sent(other)).toMatchObject({
      accept: "application/json",
      "accept-language": "fr",
      traceparent: headers.traceparent,
    });
    for (const name of ["authorization", "x-api-key", "private-token", "cookie", "x-trace"]) {
      expect(sent(other), name).not.toHaveProperty(name);
    }
    expect(sent(same)).toMatchObject({ "x-api-key": "k-secret", "private-token": "p-secret", "x-trace": "t-1" });
    expect((await stats(key, OTHER)).hits).toBe(1);
  });

  it("blocks even the loopback upstream when FANOUT_ALLOW_HOSTS is empty", async () => {
    const key = newKey();
    const res = await postWithSettings({ FANOUT_ALLOW_HOSTS: "" }, { requests: [{ url: up({ key }) }] });
    const [r] = (await res.json<Body>()).results;
    expect(r).toMatchObject({ outcome: "rejected", error: { kind: "blocked" } });
    expect((await stats(key)).hits).toBe(0);
  });

  describe("streaming", () => {
    it("streams one ndjson line per result as each settles, then a summary line", async () => {
      const slow = newKey();
      const gate = newGate();
      try {
        const res = await post(
          {
            requests: [
              { id: "slow", url: up({ key: slow, gate: gate.name }) },
              { id: "fast", url: up({}) },
            ],
          },
          { headers: { accept: "application/x-ndjson" } },
        );
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("application/x-ndjson");
        const frames = new FrameReader(res.body as ReadableStream<Uint8Array>);
        const firstLine = JSON.parse((await frames.next()) as string);
        expect(firstLine).toMatchObject({ index: 1, id: "fast", outcome: "fulfilled" });
        // The fast result arrived while the slow call was still in flight (held at its gate).
        expect(await stats(slow)).toMatchObject({ inFlight: 1, completed: 0 });
        expect(await gate.open()).toMatchObject({ freed: 1 });
        const tail = (await frames.rest()).map((l) => JSON.parse(l));
        expect(tail).toHaveLength(2);
        expect(tail[0]).toMatchObject({ index: 0, id: "slow", status: 200 });
        expect(tail[1]).toMatchObject({ summary: { fulfilled: 2, rejected: 0 } });
      } finally {
        await gate.open();
      }
    });

    it("streams server-sent events in completion order, then a summary event", async () => {
      const gate = newGate();
      try {
        const res = await post(
          { requests: { a: { url: up({ gate: gate.name }) }, b: { url: up({}) } } },
          { headers: { accept: "text/event-stream" } },
        );
        expect(res.headers.get("content-type")).toBe("text/event-stream");
        const frames = new FrameReader(res.body as ReadableStream<Uint8Array>, "\n\n");
        const first = (await frames.next()) as string;
        // "a" is still held at its gate: "b" must have come first.
        await gate.open();
        const events = [first, ...(await frames.rest())];
        expect(events).toHaveLength(3);
        expect(events.map((e) => e.split("\n")[0])).toEqual(["event: result", "event: result", "event: summary"]);
        const data = events.map((e) => JSON.parse((e.split("\n")[1] as string).slice("data: ".length)));
        expect(data.map((d) => d.id)).toEqual(["b", "a", undefined]);
        expect(data[2]).toMatchObject({ fulfilled: 2, rejected: 0 });
      } finally {
        await gate.open();
      }
    });

    it("streams every entry and the summary at the deadline", async () => {
      const res = await post(
        { deadlineMs: 500, requests: [{ url: up({ hang: 1 }) }, { url: up({ latency: 1 }) }] },
        { headers: { accept: "application/x-ndjson" } },
      );
      const out = (await lines(res)).map((l) => JSON.parse(l));
      expect(out.map((o) => o.index)).toEqual([1, 0, undefined]);
      expect(out[1]).toMatchObject({ error: { kind: "deadline" } });
      expect(out[2]).toMatchObject({ summary: { fulfilled: 1, rejected: 1 } });
    });
  });

  describe("client disconnect", () => {
    it("aborts every in-flight upstream call when the client goes away (JSON)", async () => {
      const key = newKey();
      const controller = new AbortController();
      const pending = post(
        { requests: Array.from({ length: 3 }, () => ({ url: up({ key, hang: 1 }) })) },
        { signal: controller.signal },
      );
      expect((await statsWhen(key, (s) => s.inFlight === 3)).inFlight).toBe(3);
      controller.abort();
      await expect(pending).rejects.toThrow();
      expect(await statsWhen(key, (s) => s.aborted === 3)).toMatchObject({ hits: 3, aborted: 3, inFlight: 0 });
    });

    it("aborts every in-flight upstream call when a streaming client cancels", async () => {
      const key = newKey();
      const res = await post(
        {
          requests: [{ url: up({ latency: 1 }) }, ...Array.from({ length: 2 }, () => ({ url: up({ key, hang: 1 }) }))],
        },
        { headers: { accept: "application/x-ndjson" } },
      );
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      await reader.read();
      expect((await statsWhen(key, (s) => s.inFlight === 2)).inFlight).toBe(2);
      await reader.cancel();
      expect(await statsWhen(key, (s) => s.aborted === 2)).toMatchObject({ hits: 2, aborted: 2, inFlight: 0 });
    });
  });

  it("is described in the OpenAPI document", async () => {
    const doc = await (await exports.default.fetch("http://edgeloop.test/openapi.json")).json<{
      paths: Record<string, { post?: { requestBody: unknown; responses: Record<string, unknown> } }>;
    }>();
    const op = doc.paths["/v1/fanout"]?.post;
    expect(op).toBeDefined();
    expect(Object.keys(op?.responses ?? {})).toEqual(expect.arrayContaining(["200", "400", "401", "413"]));
  });
});
