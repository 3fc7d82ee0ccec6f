/**
 * Fan-out keeps its upstream connections alive: a small body it does not report (responseBody "none", a HEAD, a
 * redirect hop) is read to the end rather than cancelled, since workerd drops a keep-alive connection whose body
 * was cancelled. A large body is still cancelled. The loopback upstream counts the TCP connections each key's
 * requests arrived on, and the connections closed after them.
 */
import { describe, expect, it } from "vitest";
import type { FanoutResult } from "../../src/fanout/engine";
import { fetchWithSettings } from "../helpers/api";
import { newKey, stats, statsWhen, up } from "../helpers/upstream";

type Body = { results: FanoutResult[]; summary: { fulfilled: number; rejected: number } };

/** POST /v1/fanout with room for 200 requests. */
async function fanout(body: Record<string, unknown>): Promise<Body> {
  const res = await fetchWithSettings({ FANOUT_MAX_REQUESTS: "200" }, "/v1/fanout", {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  expect(res.status).toBe(200);
  return res.json<Body>();
}

const CALLS = 200;
const CONCURRENCY = 20;

type Case = {
  params?: Record<string, string | number>;
  request?: Record<string, unknown>;
  options?: Record<string, unknown>;
  hitsPerCall?: number;
};

describe("fan-out connection reuse", () => {
  it.each<[string, Case]>([
    ["bodies it does not report", { options: { responseBody: "none" } }],
    [
      "bodies it does not report that carry a content-length",
      { params: { length: 1 }, options: { responseBody: "none" } },
    ],
    ["a redirect hop before each answer", { params: { redirects: 1 }, hitsPerCall: 2 }],
    ["HEAD calls", { request: { method: "HEAD" } }],
  ])("opens at most `concurrency` connections for 200 calls with %s", async (_, c) => {
    const key = newKey();
    const body = await fanout({
      concurrency: CONCURRENCY,
      ...c.options,
      requests: Array.from({ length: CALLS }, () => ({ url: up({ key, ...c.params }), ...c.request })),
    });
    expect(body.summary).toMatchObject({ fulfilled: CALLS, rejected: 0 });
    expect(body.results.every((r) => r.status === 200)).toBe(true);
    const s = await stats(key);
    expect(s.hits).toBe(CALLS * (c.hitsPerCall ?? 1));
    expect(s.connections).toBeLessThanOrEqual(CONCURRENCY);
  });

  it("still cancels a large body it does not report, dropping its connection instead of reading 1 MiB", async () => {
    const key = newKey();
    const body = await fanout({ responseBody: "none", requests: [{ url: up({ key, bytes: 1 << 20 }) }] });
    expect(body.results[0]).toMatchObject({ outcome: "fulfilled", status: 200, body: null, bytes: 0 });
    // Read to the end, the body would leave the connection open for the next call (keep-alive: 30 s).
    expect(await statsWhen(key, (s) => s.closed === 1)).toMatchObject({ hits: 1, closed: 1 });
  });
});
