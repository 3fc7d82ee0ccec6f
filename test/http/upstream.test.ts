import { describe, expect, it } from "vitest";
import { type FanoutItemInput, FanoutItemSchema } from "../../src/fanout/schema";
import { type CallOptions, callUpstream, parseRetryAfter, UpstreamError } from "../../src/fanout/upstream";
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
  it("cancels the body of every redirect it follows", async () => {
    const hops = [trackedBody(5), trackedBody(5)];
    const f = scripted([
      () => new Response(hops[0]?.stream, { status: 302, headers: { location: "/next" } }),
      () => new Response(hops[1]?.stream, { status: 301, headers: { location: "/last" } }),
      () => new Response("done", { headers: { "content-type": "text/plain" } }),
    ]);
    const res = await callUpstream(item({ url: "https://a.example/start" }), base(f.fetch));
    expect(res).toMatchObject({ url: "https://a.example/last", status: 200, body: "done", redirects: 2 });
    expect(hops.map((h) => h.state.cancelled)).toEqual([true, true]);
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

  it("cancels a body it was told not to read", async () => {
    const none = trackedBody(5);
    const f = scripted([() => new Response(none.stream)]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), responseBody: "none" });
    expect(res).toMatchObject({ body: null, bytes: 0 });
    expect(none.state.cancelled).toBe(true);
    expect(none.state.pulled).toBeLessThanOrEqual(1);
  });

  it("reads nothing of a HEAD, even when the upstream sends a body", async () => {
    const sent = trackedBody(5);
    const f = scripted([() => new Response(sent.stream, { headers: { "content-type": "text/plain" } })]);
    const res = await callUpstream(item({ url: "https://a.example/", method: "HEAD" }), base(f.fetch));
    expect(f.calls.map((c) => c.method)).toEqual(["HEAD"]);
    expect(res).toMatchObject({ status: 200, body: null, bytes: 0, truncated: false });
    // At most the one chunk a stream pulls on its own when it is created.
    expect(sent.state.pulled).toBeLessThanOrEqual(1);
  });

  it("stops reading at the cap and cancels the rest of the stream", async () => {
    const big = trackedBody(1_000);
    const f = scripted([() => new Response(big.stream, { headers: { "content-type": "text/plain" } })]);
    const res = await callUpstream(item({ url: "https://a.example/" }), { ...base(f.fetch), maxBodyBytes: 250 });
    expect(res).toMatchObject({ bytes: 250, truncated: true, body: "b".repeat(250) });
    expect(big.state.cancelled).toBe(true);
    expect(big.state.pulled).toBeLessThan(10);
  });

  it("drops credentials when a redirect leaves the origin, and keeps them within it", async () => {
    const f = scripted([
      () => new Response(null, { status: 307, headers: { location: "https://a.example/same" } }),
      () => new Response(null, { status: 307, headers: { location: "https://b.example/other" } }),
      () => new Response("ok"),
    ]);
    await callUpstream(
      item({ url: "https://a.example/", headers: { authorization: "Bearer s", cookie: "c=1", "x-keep": "1" } }),
      base(f.fetch),
    );
    expect(f.calls[1]?.headers.get("authorization")).toBe("Bearer s");
    expect(f.calls[2]?.headers.get("authorization")).toBeNull();
    expect(f.calls[2]?.headers.get("cookie")).toBeNull();
    expect(f.calls[2]?.headers.get("x-keep")).toBe("1");
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
