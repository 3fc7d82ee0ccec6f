/**
 * The client's transport (`src/client/http.ts`) against a scripted service: the URL, token, JSON in and out, errors as
 * `EdgeloopError`, and the one retry rule (429 and 503 after their `Retry-After` plus jitter, or a full-jitter backoff
 * without one, within the attempts and the total wait allowed; nothing else). Time is the test's: fake timers and a
 * fixed `Math.random`, so each retry's moment is known exactly. Runtime-neutral (workerd, and Node for mutation
 * testing).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { EdgeloopError } from "../../src/client/errors";
import { createFanout } from "../../src/client/fanout";
import { seg, Transport } from "../../src/client/http";
import { BASE_URL, json, problemAnswer, scriptedService } from "../helpers/scripted-service";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** The error `promise` rejects with (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("the client's transport", () => {
  it("sends JSON with the bearer token to the base URL (trailing slashes trimmed) and its query, and reads JSON", async () => {
    const { fetch, seen } = scriptedService(() => json({ ok: 1 }));
    const t = new Transport({ baseUrl: `${BASE_URL}//`, token: "tok", fetch });
    expect(t.baseUrl).toBe(BASE_URL);
    expect(t.token).toBe("tok");
    const answer = await t.json("/v1/a", { json: { a: 1 }, query: { n: 2, skip: undefined, s: "x y" } });
    expect(answer).toEqual({ ok: 1 });
    expect(seen).toHaveLength(1);
    const [req] = seen;
    expect(req?.url).toBe(`${BASE_URL}/v1/a?n=2&s=x+y`);
    expect(req?.method).toBe("POST");
    expect(req?.body).toEqual({ a: 1 });
    expect(Object.fromEntries(req?.headers ?? [])).toEqual({
      accept: "application/json",
      authorization: "Bearer tok",
      "content-type": "application/json",
    });
  });

  it("sends a GET without body or content type, no token without one, the caller's accept, headers and method", async () => {
    const { fetch, seen } = scriptedService(() => new Response("{}"));
    const t = new Transport({ baseUrl: BASE_URL, fetch });
    await t.send("/v1/b");
    await t.send("/v1/c", { method: "DELETE", accept: "application/x-ndjson", headers: { "x-a": "1" } });
    expect(seen.map((r) => [r.method, r.url, r.body])).toEqual([
      ["GET", `${BASE_URL}/v1/b`, undefined],
      ["DELETE", `${BASE_URL}/v1/c`, undefined],
    ]);
    expect(Object.fromEntries(seen[0]?.headers ?? [])).toEqual({ accept: "application/json" });
    expect(Object.fromEntries(seen[1]?.headers ?? [])).toEqual({ accept: "application/x-ndjson", "x-a": "1" });
    expect(t.url("/p", {})).toBe(`${BASE_URL}/p`);
    expect(t.url("/p")).toBe(`${BASE_URL}/p`);
  });

  it("hands the caller's signal to fetch", async () => {
    const { fetch, seen } = scriptedService(() => json({}));
    const controller = new AbortController();
    await new Transport({ baseUrl: BASE_URL, fetch }).send("/v1/a", { signal: controller.signal });
    expect(seen[0]?.signal).toBe(controller.signal);
  });

  it("takes the page's origin without a base URL, and refuses to be built without either", () => {
    expect(() => new Transport({})).toThrow(new TypeError("createClient needs a baseUrl outside a page"));
    Object.defineProperty(globalThis, "location", { value: { origin: "http://page.test" }, configurable: true });
    try {
      expect(new Transport({}).baseUrl).toBe("http://page.test");
      expect(new Transport({ baseUrl: BASE_URL }).baseUrl).toBe(BASE_URL);
    } finally {
      Reflect.deleteProperty(globalThis, "location");
    }
  });

  it("refuses fewer than one attempt", () => {
    expect(() => new Transport({ baseUrl: BASE_URL, retry: { attempts: 0 } })).toThrow(
      new RangeError("retry.attempts must be at least 1"),
    );
    expect(() => new Transport({ baseUrl: BASE_URL, retry: { attempts: 1 } })).not.toThrow();
  });

  it("uses the global fetch by default", async () => {
    const global = vi.spyOn(globalThis, "fetch").mockResolvedValue(json({ from: "global" }));
    expect(await new Transport({ baseUrl: BASE_URL }).json("/v1/a")).toEqual({ from: "global" });
    expect(global).toHaveBeenCalledTimes(1);
    expect(global.mock.calls[0]?.[0]).toBe(`${BASE_URL}/v1/a`);
  });

  it("turns an error answer into an EdgeloopError with its problem, Retry-After and request id, and sends it once", async () => {
    for (const status of [400, 409, 500, 501, 502]) {
      const { fetch, seen } = scriptedService(() =>
        problemAnswer(status, "no", { "retry-after": "3", "x-request-id": "r-1" }),
      );
      const error = await failure(new Transport({ baseUrl: BASE_URL, fetch }).send("/v1/a"));
      expect(error).toBeInstanceOf(EdgeloopError);
      expect(error).toMatchObject({ status, detail: "no", retryAfterMs: 3_000, requestId: "r-1" });
      expect(seen, `${status}`).toHaveLength(1);
    }
  });

  it("retries a 503 and a 429 after their Retry-After plus a jitter of up to half of it (at least 100 ms)", async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const answers = [
      () => problemAnswer(503, "busy", { "retry-after": "1" }),
      () => problemAnswer(429, "slow down", { "retry-after": "0" }),
      () => json({ done: true }),
    ];
    const { fetch, seen } = scriptedService(() => (answers.shift() as () => Response)());
    const result = new Transport({ baseUrl: BASE_URL, fetch }).json("/v1/a");
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toHaveLength(1);
    // 1 s + 0.5 × max(100, 500) ms
    await vi.advanceTimersByTimeAsync(1_249);
    expect(seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toHaveLength(2);
    // 0 s + 0.5 × max(100, 0) ms
    await vi.advanceTimersByTimeAsync(49);
    expect(seen).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toEqual({ done: true });
    expect(seen).toHaveLength(3);
  });

  it("backs off with full jitter from 250 ms when a 503 has no Retry-After", async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const answers = [() => problemAnswer(503, "busy"), () => problemAnswer(503, "busy"), () => json({ done: true })];
    const { fetch, seen } = scriptedService(() => (answers.shift() as () => Response)());
    const result = new Transport({ baseUrl: BASE_URL, fetch }).json("/v1/a");
    // 0.5 × 250 ms, then 0.5 × 500 ms
    await vi.advanceTimersByTimeAsync(124);
    expect(seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(249);
    expect(seen).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toEqual({ done: true });
  });

  it("gives up after its attempts (3 by default), throwing the last answer's EdgeloopError", async () => {
    for (const [retry, sent] of [
      [undefined, 3],
      [{ attempts: 2 }, 2],
      [false, 1],
    ] as const) {
      const { fetch, seen } = scriptedService(() => problemAnswer(503, `busy ${seen.length}`, { "retry-after": "0" }));
      const error = await failure(new Transport({ baseUrl: BASE_URL, fetch, retry }).send("/v1/a"));
      expect(error).toBeInstanceOf(EdgeloopError);
      expect(error).toMatchObject({ status: 503, detail: `busy ${sent}` });
      expect(seen, JSON.stringify(retry)).toHaveLength(sent);
    }
  });

  it("does not wait for a Retry-After past the total wait allowed (10 s by default): it throws at once", async () => {
    for (const [retry, after] of [
      [undefined, "11"],
      [{ maxWaitMs: 1_000 }, "1"],
    ] as const) {
      const { fetch, seen } = scriptedService(() => problemAnswer(429, "slow down", { "retry-after": after }));
      vi.spyOn(Math, "random").mockReturnValue(0);
      const error = await failure(new Transport({ baseUrl: BASE_URL, fetch, retry }).send("/v1/a"));
      expect(error).toMatchObject({ status: 429, retryAfterMs: Number(after) * 1_000 });
      expect(seen).toHaveLength(1);
    }
  });

  it("stops retrying when the caller's signal fires during a backoff", async () => {
    vi.useFakeTimers();
    const { fetch, seen } = scriptedService(() => problemAnswer(503, "busy", { "retry-after": "5" }));
    const controller = new AbortController();
    const sending = failure(new Transport({ baseUrl: BASE_URL, fetch }).send("/v1/a", { signal: controller.signal }));
    // One second into the 5 s backoff.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(seen).toHaveLength(1);
    const reason = new Error("the caller gave up");
    controller.abort(reason);
    expect(await sending).toBe(reason);
    expect(seen).toHaveLength(1);
  });

  it("retries a 503 only for a call that applying twice cannot change, or one that says nothing was applied", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const busy = (type: string) =>
      new Response(JSON.stringify({ type, title: "Busy", status: 503, detail: "busy" }), {
        status: 503,
        headers: { "content-type": "application/problem+json", "retry-after": "0" },
      });
    const cases = [
      // POST is not idempotent: a 503 may come after it was applied.
      [{ method: "POST", json: {} }, "urn:edgeloop:problem:overloaded", 1],
      [{ method: "POST", json: {}, idempotent: true }, "urn:edgeloop:problem:overloaded", 3],
      // too-many-waiters is sent before anything is applied: retried whatever the call.
      [{ method: "POST", json: {} }, "urn:edgeloop:problem:too-many-waiters", 3],
      [{ method: "GET" }, "urn:edgeloop:problem:overloaded", 3],
      [{ method: "PUT", json: {} }, "urn:edgeloop:problem:overloaded", 3],
      [{ method: "DELETE" }, "urn:edgeloop:problem:overloaded", 3],
      [{ method: "DELETE", idempotent: false }, "urn:edgeloop:problem:overloaded", 1],
    ] as const;
    for (const [options, type, sent] of cases) {
      const { fetch, seen } = scriptedService(() => busy(type));
      const error = await failure(new Transport({ baseUrl: BASE_URL, fetch }).send("/v1/a", options));
      expect(error).toMatchObject({ status: 503, type });
      expect(seen, `${JSON.stringify(options)} ${type}`).toHaveLength(sent);
    }
  });

  it("retries a fan-out after a 503 only when each of its requests is idempotent (RFC 9110's methods, or said so)", async () => {
    const methods = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "get", undefined];
    const cases: Array<[Record<string, unknown>[], number]> = [
      ...methods.map((method): [Record<string, unknown>[], number] => [[{ url: "https://a.test/", method }], 3]),
      [[{ url: "https://a.test/" }, { url: "https://a.test/", method: "POST" }], 1],
      [[{ url: "https://a.test/", method: "PATCH" }], 1],
      [[{ url: "https://a.test/", method: "POST", idempotent: true }], 3],
    ];
    vi.spyOn(Math, "random").mockReturnValue(0);
    for (const [requests, sent] of cases) {
      const { fetch, seen } = scriptedService(() => problemAnswer(503, "busy", { "retry-after": "0" }));
      const fanout = createFanout(new Transport({ baseUrl: BASE_URL, fetch }));
      const error = await failure(fanout(requests as never));
      expect(error).toMatchObject({ status: 503 });
      expect(seen, JSON.stringify(requests)).toHaveLength(sent);
      expect(seen[0]?.method).toBe("POST");
    }
  });

  it("sends the namespace it acts in as Edgeloop-Namespace", async () => {
    const { fetch, seen } = scriptedService(() => json({}));
    await new Transport({ baseUrl: BASE_URL, token: "root", namespace: "acme", fetch }).send("/v1/a");
    expect(Object.fromEntries(seen[0]?.headers ?? [])).toEqual({
      accept: "application/json",
      authorization: "Bearer root",
      "edgeloop-namespace": "acme",
    });
  });

  it("calls through a binding's fetch at https://edgeloop.internal without a base URL, and at the base URL given", async () => {
    const { fetch, seen } = scriptedService(() => json({ bound: true }));
    const binding = { fetch: (input: string | Request, init?: RequestInit) => fetch(input, init) };
    const t = new Transport({ binding });
    expect(t.baseUrl).toBe("https://edgeloop.internal");
    expect(await t.json("/v1/a", { query: { n: 1 } })).toEqual({ bound: true });
    await new Transport({ binding, baseUrl: "https://edgeloop.example/" }).send("/v1/b");
    expect(seen.map((r) => [r.method, r.url])).toEqual([
      ["GET", "https://edgeloop.internal/v1/a?n=1"],
      ["GET", "https://edgeloop.example/v1/b"],
    ]);
  });

  it("names where a call that got no answer went, without its query, and keeps fetch's error as the cause", async () => {
    const refused = new TypeError("fetch failed");
    const fetch = async () => {
      throw refused;
    };
    const error = await failure(
      new Transport({ baseUrl: BASE_URL, token: "secret", fetch }).send("/v1/a", { query: { fence: "f" } }),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toBe(
      `could not reach ${BASE_URL}/v1/a (fetch failed): check the client's baseUrl and that the service is running`,
    );
    expect((error as TypeError).cause).toBe(refused);
  });

  it("percent-encodes a path segment", () => {
    expect(seg("a b/c#d")).toBe("a%20b%2Fc%23d");
  });
});
