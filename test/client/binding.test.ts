/**
 * The typed client through a service binding (`createClient({ binding })`), in a Worker as a bound Worker uses it:
 * every call goes to the `Edgeloop` entrypoint's `fetch`, with no token and no network. A lease is held with
 * `await using` and released at the end of its block, a counter write is fenced by it, refusals are `EdgeloopError`s
 * with the problem's type, streams stream, and the binding's props decide who the client is.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { createClient, EdgeloopError, type FanoutResult } from "../../src/client/index";
import { unique } from "../helpers/api";

const UPSTREAM = inject("upstream");

/** A client of the binding a Worker with these props gets, recording the URLs it asked for. */
function clientOf(props?: Record<string, unknown>) {
  const binding: Fetcher = props === undefined ? exports.Edgeloop : exports.Edgeloop({ props });
  const urls: string[] = [];
  const client = createClient({
    binding: {
      fetch: (input, init) => {
        urls.push(String(input instanceof Request ? input.url : input));
        return binding.fetch(input, init);
      },
    },
  });
  return { client, urls };
}

describe("createClient({ binding })", () => {
  it("holds a lock with await using, fences a counter write with it, and releases it at the end of the block", async () => {
    const { client, urls } = clientOf();
    const name = unique("bound-lock");
    {
      await using lease = await client.lock(name).acquire({ ttlMs: 3_000 });
      expect(lease.held).toBe(true);
      expect(await client.counter(name).increment(1, { fence: lease })).toMatchObject({ value: 1 });
      expect(await client.lock(name).status()).toMatchObject({ holder: lease.owner, token: lease.token });
    }
    expect(await client.lock(name).status()).toMatchObject({ holder: null });
    expect(urls.every((u) => u.startsWith("https://edgeloop.internal/v1/"))).toBe(true);
  });

  it("throws EdgeloopError with the problem's type and extensions, as over HTTP", async () => {
    const { client } = clientOf();
    const name = unique("bound-held");
    const lease = await client.lock(name).acquire({ ttlMs: 3_000 });
    const err = await client
      .lock(name)
      .acquire()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeloopError);
    expect(err).toMatchObject({ status: 409, type: "urn:edgeloop:problem:lock-held", problem: { waiters: 0 } });
    await lease.release();
  });

  it("streams a fan-out's results as they settle, and creates a job", async () => {
    const { client } = clientOf();
    const key = unique("bound-stream");
    const seen: FanoutResult[] = [];
    for await (const result of client.fanout.stream([
      { url: `${UPSTREAM}/a?key=${key}` },
      { url: `${UPSTREAM}/b?key=${key}` },
    ])) {
      seen.push(result);
    }
    expect(seen.map((r) => r.status)).toEqual([200, 200]);
    const job = await client.jobs.create({
      type: "webhook",
      url: `${UPSTREAM}/hook`,
      payload: {},
      delayMs: 3_600_000,
    });
    expect(await client.jobs.get(job.id)).toMatchObject({ state: "scheduled" });
  });

  it("is who the binding's props say: a reader in namespace a cannot increment, and reads a's names", async () => {
    const { client } = clientOf({ namespace: "a", scopes: ["counters:read"] });
    const err = await client
      .counter(unique("bound-ro"))
      .increment()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 403, type: "urn:edgeloop:problem:scope-missing" });
  });
});
