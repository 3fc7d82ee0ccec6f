/**
 * Hash jobs, the example job type (src/jobs/types/hash.ts): each URL's body fetched through the URL guard and
 * digested as it streams. The jobs upstream answers `{"path": <path and query>, "n": <its count of requests for it>}`,
 * so the test knows each body, and which run of an item a recorded digest comes from. Messages are delivered by hand,
 * as the consumer tests do.
 */
import { describe, expect, it } from "vitest";
import type { JobStatus } from "../../src/jobs/types";
import { call, until } from "../helpers/api";
import { up } from "../helpers/upstream";
import { allResults, cutOffMidJob, deliver, hits, nothingStored, path, seedJob, UP } from "./helpers";

const JOBS = "edgeloop-jobs";

/** The body the jobs upstream answers for its `n`th request of `p`. */
const bodyOf = (p: string, n: number) => JSON.stringify({ path: p, n });

async function digest(text: string, algorithm = "SHA-256") {
  const sum = new Uint8Array(await crypto.subtle.digest(algorithm, new TextEncoder().encode(text)));
  const hex = Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join("");
  return { hex, integrity: `${algorithm.replace("-", "").toLowerCase()}-${btoa(String.fromCharCode(...sum))}` };
}

describe("hash jobs", () => {
  it("digest each URL's body as it streams: hex and a Subresource Integrity value, by the algorithm asked", async () => {
    const paths = [path("a"), path("b"), path("c")];
    const algorithms = [undefined, "SHA-384", "SHA-512"] as const;
    const items = paths.map((p, i) => ({ url: UP + p, ...(algorithms[i] ? { algorithm: algorithms[i] } : {}) }));
    const { id, stub } = await seedJob("hash", items, 2, { concurrency: 2 });
    const result = await deliver(JOBS, [
      { id: "h0", body: { jobId: id, chunk: 0 } },
      { id: "h1", body: { jobId: id, chunk: 1 } },
    ]);
    expect(result.explicitAcks).toEqual(["h0", "h1"]);
    expect(await stub.status()).toMatchObject({ type: "hash", state: "succeeded", total: 3, done: 3, failed: 0 });
    const expected = await Promise.all(
      paths.map(async (p, i) => {
        const algorithm = algorithms[i] ?? "SHA-256";
        const { hex, integrity } = await digest(bodyOf(p, 1), algorithm);
        const bytes = new TextEncoder().encode(bodyOf(p, 1)).byteLength;
        return { index: i, ok: true, url: UP + p, status: 200, algorithm, bytes, digest: hex, integrity };
      }),
    );
    expect(await allResults(stub)).toEqual(expected);
  });

  it("record a 404 and a redirect to a blocked address as failed results, and retry a 503", async () => {
    const gone = path("gone", "status=404");
    const flaky = path("flaky", "failFirst=1");
    const items = [{ url: UP + gone }, { url: up({ redirect: "http://10.0.0.1/private" }) }, { url: UP + flaky }];
    const { id, stub } = await seedJob("hash", items, 3, { concurrency: 3 });
    const first = await deliver(JOBS, [{ id: "f1", body: { jobId: id, chunk: 0 } }]);
    expect(first.retryMessages.map((r) => r.msgId)).toEqual(["f1"]);
    expect(await stub.status()).toMatchObject({ state: "running", done: 2, failed: 2 });
    const second = await deliver(JOBS, [{ id: "f1", attempts: 2, body: { jobId: id, chunk: 0 } }]);
    expect(second.explicitAcks).toEqual(["f1"]);
    expect(await stub.status()).toMatchObject({ state: "partial", done: 3, failed: 2 });
    const [notFound, blocked, retried] = await allResults(stub);
    expect(notFound).toEqual({
      index: 0,
      url: UP + gone,
      status: 404,
      ok: false,
      error: { kind: "status", message: "HTTP 404" },
    });
    expect(blocked).toMatchObject({
      index: 1,
      ok: false,
      error: { kind: "blocked", message: expect.stringMatching(/^redirect 1 to http:\/\/10\.0\.0\.1\/private/) },
    });
    expect(retried).toMatchObject({ index: 2, ok: true, status: 200, digest: (await digest(bodyOf(flaky, 2))).hex });
    expect([await hits(gone), await hits(flaky)]).toEqual([1, 2]);
  });

  it("record a body longer than JOBS_HASH_MAX_BYTES as a failed result (too_large), not retried", async () => {
    const p = path("long");
    const { id, stub } = await seedJob("hash", [{ url: UP + p }], 1);
    const result = await deliver(JOBS, [{ id: "l1", body: { jobId: id, chunk: 0 } }], { JOBS_HASH_MAX_BYTES: "16" });
    expect(result.explicitAcks).toEqual(["l1"]);
    expect(await allResults(stub)).toEqual([
      {
        index: 0,
        ok: false,
        error: { kind: "too_large", message: "the body is larger than JOBS_HASH_MAX_BYTES (16 bytes)" },
      },
    ]);
    expect(await stub.status()).toMatchObject({ state: "failed", done: 1, failed: 1 });
  });

  it("end with every result once when the consumer is cut off mid-job: the redelivery runs only the items without a result", async () => {
    // Two chunks in one batch: chunk 0 (items 0-2) runs whole; in chunk 1 (items 3-5), items 3 and 5 are held at the
    // upstream on their first fetch. The consumer is cut off while they run, after items 0-2 and 4 were recorded: the
    // test never lets that invocation end, so chunk 1's message is neither acked nor retried.
    const gate = crypto.randomUUID();
    const paths = [0, 1, 2, 3, 4, 5].map((n) => path(`item-${n}`, n === 3 || n === 5 ? `holdFirst=${gate}` : ""));
    const { id, stub } = await seedJob(
      "hash",
      paths.map((p) => ({ url: UP + p })),
      3,
      { concurrency: 3 },
    );
    const { crashed } = await cutOffMidJob(id, stub, gate);
    expect(await stub.status()).toMatchObject({ state: "succeeded", total: 6, done: 6, failed: 0, attempts: 3 });
    // Each index has one result: items 3 and 5 the digest of the redelivery's fetch (the upstream's second answer).
    const runs = [1, 1, 1, 2, 1, 2];
    const expected = await Promise.all(paths.map(async (p, i) => (await digest(bodyOf(p, runs[i] as number))).hex));
    const results = await allResults(stub);
    expect(results.map((r) => [r.index, r.digest])).toEqual(expected.map((hex, i) => [i, hex]));
    // Fetched twice: items 3 and 5 (the cut-off fetch was in flight); every other item once.
    expect(await Promise.all(paths.map((p) => hits(p)))).toEqual(runs);
    // The cut-off invocation's late digests change nothing.
    expect((await crashed).explicitAcks).toContain("m0");
    expect(await allResults(stub)).toEqual(results);
    expect(await stub.status()).toMatchObject({ done: 6, failed: 0 });
  });

  it("run end to end through POST /v1/jobs, refusing a blocked URL before anything is stored", async () => {
    const p = path("e2e");
    const key = crypto.randomUUID();
    const blocked = await call<{ type: string; errors: { path: string }[] }>(
      "POST",
      "/v1/jobs",
      { type: "hash", items: [{ url: UP + p }, { url: "http://169.254.169.254/latest" }] },
      { headers: { "idempotency-key": key } },
    );
    expect(blocked.status).toBe(400);
    expect(blocked.body).toMatchObject({ type: "urn:edgeloop:problem:url-blocked", errors: [{ path: "items.1.url" }] });
    expect(await nothingStored(key)).toBe(true);
    const created = await call<{ id: string }>(
      "POST",
      "/v1/jobs",
      { type: "hash", items: [{ url: UP + p, algorithm: "SHA-512" }] },
      { headers: { "idempotency-key": crypto.randomUUID() } },
    );
    expect(created.status).toBe(202);
    let status: JobStatus | undefined;
    await until(async () => {
      status = (await call<JobStatus>("GET", `/v1/jobs/${created.body.id}`)).body;
      return status.state === "succeeded";
    }, 1_000);
    expect(status).toMatchObject({ type: "hash", total: 1, done: 1, timeoutMs: 5_000 });
    const page = await call<{ items: { digest: string }[] }>("GET", `/v1/jobs/${created.body.id}/results`);
    expect(page.body.items.map((r) => r.digest)).toEqual([(await digest(bodyOf(p, 1), "SHA-512")).hex]);
    expect(await hits(p)).toBe(1);
  });
});
