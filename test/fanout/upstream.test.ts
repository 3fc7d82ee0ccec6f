import { describe, expect, it } from "vitest";
import { type FanoutItemInput, FanoutItemSchema } from "../../src/fanout/schema";
import {
  type CallOptions,
  callUpstream,
  guardedFetch,
  parseRetryAfter,
  UpstreamError,
} from "../../src/fanout/upstream";
import { createUrlGuard, type UrlGuard } from "../../src/fanout/url-guard";

/** A body stream that records whether it was cancelled and how many chunks were pulled. */
function trackedBody(chunks: number, size = 100) {
  const state = { cancelled: false, pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= chunks) {
        controller.close();
        return;
      }
      state.pulled++;
      controller.enqueue(new Uint8Array(size).fill(98));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

/** A fake fetch answering from a list of scripted responses, recording each request it was given. */
function scripted(responses: Array<() => Response>) {
  const calls: Array<{ url: string; method: string; headers: Headers; body: string | null }> = [];
  const fake = async (input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    calls.push({ url: String(input), method: init?.method ?? "GET", headers, body: (init?.body as string) ?? null });
    expect(init?.redirect).toBe("manual");
    const next = responses.shift();
    if (!next) throw new Error("no more scripted responses");
    return next();
  };
  return { fetch: fake as typeof fetch, calls };
}

const item = (i: FanoutItemInput) => FanoutItemSchema.parse(i);
const base = (f: typeof fetch): CallOptions => ({
  signal: new AbortController().signal,
  guard: createUrlGuard([]),
  maxBodyBytes: 1_000_000,
  responseBody: "auto",
  fetch: f,
});

describe("one upstream call", () => {
  it("reads a small redirect body to the end, keeping its connection, and cancels a large one", async () => {
    const small = trackedBody(5);
    const large = trackedBody(1_000, 1_000);
    const f = scripted([
      () => new Response(small.stream, { status: 302, headers: { location: "/next" } }),
      () => new Response(large.stream, { status: 302, headers: { location: "/last", "content-length": "1000000" } }),
      () => new Response("done", { headers: { "content-type": "text/plain" } }),
    ]);
    const res = await callUpstream(item({ url: "https://a.example/start" }), base(f.fetch));
    expect(res).toMatchObject({ url: "https://a.example/last", status: 200, body: "done", redirects: 2 });
    expect(small.state).toEqual({ cancelled: false, pulled: 5 });
    expect(large.state.cancelled).toBe(true);
    expect(large.state.pulled).toBeLessThanOrEqual(1);
    expect(f.calls.map((c) => c.url)).toEqual([
      "https://a.example/start",
      "https://a.example/next",
      "https://a.example/last",
    ]);
  });

  it("follows a chain of redirects, checking every hop with the URL guard before connecting to it", async () => {
    const checked: string[] = [];
    const allow = createUrlGuard([]);
    const guard: UrlGuard = (url) => {
      checked.push(String(url));
      return allow(url);
    };
    const f = scripted([
      () => new Response(null, { status: 302, headers: { location: "https://b.example/2" } }),
      () => new Response(null, { status: 307, headers: { location: "/3" } }),
      () => new Response(null, { status: 308, headers: { location: "https://c.example/4" } }),
      () => new Response("end", { headers: { "content-type": "text/plain" } }),
    ]);
    const res = await callUpstream(item({ url: "https://a.example/1" }), { ...base(f.fetch), guard });
    expect(res).toMatchObject({ url: "https://c.example/4", status: 200, body: "end", redirects: 3 });
    const chain = ["https://a.example/1", "https://b.example/2", "https://b.example/3", "https://c.example/4"];
    expect(checked).toEqual(chain);
    expect(f.calls.map((c) => c.url)).toEqual(chain);

    // A refused address deep in the chain is blocked before any connection to it.
    const g = scripted([
      () => new Response(null, { status: 302, headers: { location: "https://b.example/2" } }),
      () => new Response(null, { status: 302, headers: { location: "http://10.0.0.1/3" } }),
    ]);
    await expect(callUpstream(item({ url: "https://a.example/1" }), base(g.fetch))).rejects.toMatchObject({
      kind: "blocked",
      message: expect.stringMatching(/^redirect 2 to http:\/\/10\.0\.0\.1\/3/),
    });
    expect(g.calls.map((c) => c.url)).toEqual(["https://a.example/1", "https://b.example/2"]);
  });

  it("reports nothing of a HEAD, even when the upstream sends a body, and keeps its connection", async () => {
    const sent = trackedBody(5);
    const f = scripted([() => new Response(sent.stream, { headers: { "content-type": "text/plain" } })]);
    const res = await callUpstream(item({ url: "https://a.example/", method: "HEAD" }), base(f.fetch));
    expect(f.calls.map((c) => c.method)).toEqual(["HEAD"]);
    expect(res).toMatchObject({ status: 200, body: null, bytes: 0, truncated: false });
    // A body sent with a HEAD is not reported; when it is small it is drained, not cancelled, so the connection stays.
    expect(sent.state.cancelled).toBe(false);
  });

  it("reads a small body it was told not to report to the end, instead of cancelling it", async () => {
    const small = trackedBody(5);
    const f = scripted([() => new Response(small.stream)]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), responseBody: "none" });
    expect(res).toMatchObject({ status: 200, body: null, bytes: 0 });
    expect(small.state).toEqual({ cancelled: false, pulled: 5 });
  });

  it("cancels an unreported body whose content-length is over 64 KiB without reading it", async () => {
    const large = trackedBody(100, 1_000);
    const f = scripted([() => new Response(large.stream, { headers: { "content-length": "100000" } })]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), responseBody: "none" });
    expect(res).toMatchObject({ status: 200, body: null });
    expect(large.state.cancelled).toBe(true);
    expect(large.state.pulled).toBeLessThanOrEqual(1);
  });

  it("cancels an unreported body of unknown length once more than 64 KiB of it was read", async () => {
    const large = trackedBody(1_000, 1_000);
    const f = scripted([() => new Response(large.stream)]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), responseBody: "none" });
    expect(res).toMatchObject({ status: 200, body: null });
    expect(large.state.cancelled).toBe(true);
    // 66 chunks of 1,000 bytes pass 65,536, plus what the stream's queue pulled ahead.
    expect(large.state.pulled).toBeLessThanOrEqual(68);
  });

  it("answers normally when an unreported body fails while it is read", async () => {
    let pulls = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (++pulls > 2) controller.error(new TypeError("connection reset"));
        else controller.enqueue(new Uint8Array(10));
      },
    });
    const f = scripted([() => new Response(failing, { status: 201 })]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), responseBody: "none" });
    expect(res).toMatchObject({ status: 201, ok: true, body: null, bytes: 0 });
    expect(pulls).toBe(3);
  });

  it("stops reading an unreported body when the attempt's signal fires, and still answers", async () => {
    const controller = new AbortController();
    let cancelled = false;
    const stalled = new ReadableStream<Uint8Array>({
      // The body never ends: the first pull aborts the attempt, as its timeout would.
      pull: () => {
        controller.abort(new DOMException("no answer within 100 ms", "TimeoutError"));
        return new Promise(() => {});
      },
      cancel: () => {
        cancelled = true;
      },
    });
    const f = scripted([() => new Response(stalled)]);
    const res = await callUpstream(item({ url: "https://a.example/" }), {
      ...base(f.fetch),
      signal: controller.signal,
      responseBody: "none",
    });
    expect(res).toMatchObject({ status: 200, body: null });
    expect(cancelled).toBe(true);
  });

  it("stops keeping at the cap, reads a small rest to the end and cancels a large one", async () => {
    const small = trackedBody(5);
    const f = scripted([() => new Response(small.stream, { headers: { "content-type": "text/plain" } })]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), maxBodyBytes: 250 });
    expect(res).toMatchObject({ bytes: 250, truncated: true, body: "b".repeat(250) });
    expect(small.state).toEqual({ cancelled: false, pulled: 5 });

    const big = trackedBody(1_000, 1_000);
    const g = scripted([() => new Response(big.stream, { headers: { "content-type": "text/plain" } })]);
    const cut = await callUpstream(item({ url: "https://a.example/" }), { ...base(g.fetch), maxBodyBytes: 250 });
    expect(cut).toMatchObject({ bytes: 250, truncated: true, body: "b".repeat(250) });
    expect(big.state.cancelled).toBe(true);
    expect(big.state.pulled).toBeLessThanOrEqual(68);
  });

  it("reads a body whose content-length fits the caps in one go, taking its bytes from the shared budget", async () => {
    const budget = { remaining: 1_000, limit: 1_000 };
    const f = scripted([
      () => new Response('{"a":1}', { headers: { "content-type": "application/json", "content-length": "7" } }),
    ]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), budget });
    expect(res).toMatchObject({ body: { a: 1 }, bytes: 7, truncated: false });
    expect(budget.remaining).toBe(993);
  });

  it("refuses a body longer than its content-length, and gives its bytes back to the budget", async () => {
    const budget = { remaining: 1_000, limit: 1_000 };
    const f = scripted([() => new Response("0123456789", { headers: { "content-length": "4" } })]);
    const err = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), budget }).catch((e) => e);
    expect(err).toMatchObject({ kind: "invalid", message: expect.stringContaining("content-length (4 bytes)") });
    expect(budget.remaining).toBe(1_000);
  });

  it("reads an encoded body chunk by chunk under the caps, as its content-length counts encoded bytes", async () => {
    const f = scripted([
      () => new Response("0123456789", { headers: { "content-length": "4", "content-encoding": "gzip" } }),
    ]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), maxBodyBytes: 6 });
    expect(res).toMatchObject({ body: "012345", bytes: 6, truncated: true });
  });

  it("reads an unreported body whose content-length is small to the end", async () => {
    const small = trackedBody(5);
    const f = scripted([() => new Response(small.stream, { headers: { "content-length": "500" } })]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), responseBody: "none" });
    expect(res).toMatchObject({ status: 200, body: null });
    expect(small.state).toEqual({ cancelled: false, pulled: 5 });
  });

  it("keeps every header within the origin, and only those known to be safe once a redirect leaves it", async () => {
    const f = scripted([
      () => new Response(null, { status: 307, headers: { location: "https://a.example/same" } }),
      () => new Response(null, { status: 307, headers: { location: "https://b.example/other" } }),
      () => new Response(null, { status: 307, headers: { location: "https://a.example/back" } }),
      () => new Response("ok"),
    ]);
    const headers = {
      authorization: "Bearer s",
      cookie: "c=1",
      "x-api-key": "k",
      accept: "text/csv",
      range: "bytes=0-9",
    };
    await callUpstream(item({ url: "https://a.example/", headers }), base(f.fetch));
    expect(Object.fromEntries(f.calls[1]?.headers ?? [])).toEqual(headers);
    // Left the origin: only the safe ones, and they stay so back on the first origin.
    expect(Object.fromEntries(f.calls[2]?.headers ?? [])).toEqual({ accept: "text/csv", range: "bytes=0-9" });
    expect(Object.fromEntries(f.calls[3]?.headers ?? [])).toEqual({ accept: "text/csv", range: "bytes=0-9" });
  });

  it("drops credentials on a redirect to the same host on another port or scheme (http ↔ https)", async () => {
    for (const [from, to] of [
      ["https://a.example/", "https://a.example:8443/next"],
      ["https://a.example/", "http://a.example/next"],
      ["http://a.example/", "https://a.example/next"],
    ]) {
      const f = scripted([
        () => new Response(null, { status: 307, headers: { location: to as string } }),
        () => new Response("ok"),
      ]);
      await callUpstream(
        item({ url: from as string, headers: { authorization: "Bearer s", cookie: "c=1" } }),
        base(f.fetch),
      );
      expect(f.calls[1]?.url, `${from} → ${to}`).toBe(to);
      expect([...(f.calls[1]?.headers.keys() ?? [])], `${from} → ${to}`).toEqual([]);
    }
  });

  it("turns a POST into a GET on 301/302 and 303, dropping the body and its content type", async () => {
    for (const status of [301, 302, 303]) {
      const f = scripted([() => new Response(null, { status, headers: { location: "/x" } }), () => new Response("ok")]);
      await callUpstream(item({ url: "https://a.example/", method: "POST", body: { a: 1 } }), base(f.fetch));
      expect(f.calls[0]).toMatchObject({ method: "POST", body: '{"a":1}' });
      expect(f.calls[0]?.headers.get("content-type")).toBe("application/json");
      expect(f.calls[1]).toMatchObject({ method: "GET", body: null });
      expect(f.calls[1]?.headers.get("content-type")).toBeNull();
    }
  });

  it("refuses a blocked URL without calling fetch at all", async () => {
    const f = scripted([]);
    await expect(callUpstream(item({ url: "http://10.0.0.1/" }), base(f.fetch))).rejects.toMatchObject({
      kind: "blocked",
    });
    expect(f.calls).toHaveLength(0);
  });

  it("reports a failed connection as a network error, and an abort as the signal's reason", async () => {
    const failing = (async () => {
      throw new TypeError("connection refused");
    }) as unknown as typeof fetch;
    const err = await callUpstream(item({ url: "https://a.example/" }), base(failing)).catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ kind: "network", message: expect.stringContaining("connection refused") });

    const controller = new AbortController();
    controller.abort(new DOMException("bye", "AbortError"));
    const aborted = await callUpstream(item({ url: "https://a.example/" }), {
      ...base(failing),
      signal: controller.signal,
    }).catch((e) => e);
    expect(aborted).toMatchObject({ name: "AbortError", message: "bye" });
  });
});

describe("guardedFetch (a job handler's ctx.fetch)", () => {
  it("follows redirects by hand, checking every hop, and hands over the last answer with its body unread", async () => {
    const checked: string[] = [];
    const allow = createUrlGuard([]);
    const guard: UrlGuard = (url) => {
      checked.push(String(url));
      return allow(url);
    };
    const body = trackedBody(3);
    const f = scripted([
      () => new Response("moved", { status: 301, headers: { location: "https://b.example/2" } }),
      () => new Response(body.stream, { headers: { "content-type": "text/plain" } }),
    ]);
    const res = await guardedFetch(guard, f.fetch)("https://a.example/1", { headers: { accept: "text/plain" } });
    expect(res.status).toBe(200);
    expect(checked).toEqual(["https://a.example/1", "https://b.example/2"]);
    expect(body.state.pulled).toBeLessThan(3);
    expect(await res.text()).toBe("b".repeat(300));
    expect(f.calls.map((c) => c.headers.get("accept"))).toEqual(["text/plain", "text/plain"]);
  });

  it("refuses a blocked URL before any call, and a blocked hop before connecting to it", async () => {
    const f = scripted([() => new Response(null, { status: 302, headers: { location: "http://[::1]/admin" } })]);
    const get = guardedFetch(createUrlGuard([]), f.fetch);
    await expect(get("http://169.254.169.254/latest")).rejects.toMatchObject({ kind: "blocked" });
    expect(f.calls).toHaveLength(0);
    const err = await get("https://a.example/").catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({
      kind: "blocked",
      message: expect.stringMatching(/^redirect 1 to http:\/\/\[::1\]\/admin/),
    });
    expect(f.calls.map((c) => c.url)).toEqual(["https://a.example/"]);
  });

  it("keeps only the headers known to be safe once a redirect leaves the origin", async () => {
    const f = scripted([
      () => new Response(null, { status: 307, headers: { location: "https://b.example/" } }),
      () => new Response("ok"),
    ]);
    await guardedFetch(createUrlGuard([]), f.fetch)("https://a.example/", {
      method: "POST",
      body: "{}",
      headers: { authorization: "Bearer s", "content-type": "application/json" },
    });
    expect(f.calls[1]).toMatchObject({ url: "https://b.example/", method: "POST", body: "{}" });
    expect(Object.fromEntries(f.calls[1]?.headers ?? [])).toEqual({ "content-type": "application/json" });
  });
});

describe("parseRetryAfter", () => {
  it("reads delay-seconds and HTTP dates, and ignores garbage", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("-1", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
