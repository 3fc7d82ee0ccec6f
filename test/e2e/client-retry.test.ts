/**
 * The typed client's one retry rule against the built worker: a 429 or 503 is tried again after its Retry-After
 * (plus jitter) within the attempts and the total wait the caller allows; with `retry: false`, or a Retry-After
 * longer than that wait, it is the caller's EdgeloopError at once. The worker runs with a /v1 rate limit of one
 * request a second (exact); a loopback stand-in answers the 503 of an overloaded Durable Object.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { createClient, EdgeloopError, type RetryPolicy } from "../../src/client/index.ts";
import { useWorker } from "./support/worker.ts";

const worker = useWorker({
  API_RATE_LIMIT: "1",
  API_RATE_PERIOD_MS: "1000",
  API_RATE_LEASE_MAX: "1",
});

/** A client with its own token's limit, counting the requests it sends and their statuses. */
function client(retry?: RetryPolicy | false) {
  const statuses: number[] = [];
  const c = createClient({
    baseUrl: worker.url,
    token: worker.token,
    retry,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      statuses.push(res.status);
      return res;
    },
  });
  return { client: c, statuses };
}

const fresh = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

describe("the client's retry rule", () => {
  it("retries a 429 after its Retry-After and succeeds", async () => {
    const { client: c, statuses } = client({ attempts: 3, maxWaitMs: 10_000 });
    const counter = c.counter(fresh("retried"));
    await counter.increment();
    expect((await counter.increment()).value).toBe(2);
    expect(statuses).toEqual([200, 429, 200]);
  });

  it("answers the 429 as an EdgeloopError with its Retry-After when retrying is off or the wait is too long", async () => {
    for (const policy of [false, { attempts: 5, maxWaitMs: 50 }] as const) {
      const { client: c, statuses } = client(policy);
      const counter = c.counter(fresh("limited"));
      // The token's bucket holds one request a second: of two in a row, the second at least is over the limit.
      const answers: unknown[] = [];
      for (let i = 0; i < 2; i++) answers.push(await counter.increment().catch((e: unknown) => e));
      const error = answers.find((a) => a instanceof EdgeloopError);
      expect(error, JSON.stringify(policy)).toMatchObject({
        status: 429,
        type: "urn:edgeloop:problem:rate-limited",
        retryAfterMs: expect.any(Number),
      });
      expect((error as EdgeloopError).retryAfterMs).toBeGreaterThanOrEqual(1_000);
      // Each request was sent once: none was retried.
      expect(statuses).toHaveLength(2);
      expect(statuses.filter((s) => s === 429).length).toBe(answers.filter((a) => a instanceof EdgeloopError).length);
    }
  });

  it("retries a 503 the same way, and never another status", async () => {
    // A stand-in for an overloaded Durable Object's answer (503 + Retry-After: 1), then the real answer; and a 500.
    let calls = 0;
    const server = createServer((req, res) => {
      calls++;
      const problem = (status: number) =>
        res
          .writeHead(status, { "content-type": "application/problem+json", "retry-after": "1" })
          .end(JSON.stringify({ type: "urn:edgeloop:problem:unavailable", title: "x", status, detail: "busy" }));
      if (req.url?.startsWith("/v1/counters/broken")) return problem(500);
      if (calls === 1) return problem(503);
      res.writeHead(200, { "content-type": "application/json" }).end('{"name":"c","value":1,"updatedAt":1}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const c = createClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t" });
      expect((await c.counter("c").get()).value).toBe(1);
      expect(calls).toBe(2);
      await expect(c.counter("broken").get()).rejects.toMatchObject({ status: 500 });
      expect(calls).toBe(3);
    } finally {
      server.close();
    }
  });
});
