import { createExecutionContext, listDurableObjectIds } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../functions/index";
import type { JobStatus as Status } from "../../src/jobs/types";
import { AUTH, BASE, deliver, hits, newJobId, path, received, seedFanoutJob, UP } from "./helpers";

const JSON_HEADERS = { ...AUTH, "content-type": "application/json" };

function post(body: unknown, key: string | null = crypto.randomUUID()) {
  return exports.default.fetch(`${BASE}/v1/jobs`, {
    method: "POST",
    headers: key === null ? JSON_HEADERS : { ...JSON_HEADERS, "idempotency-key": key },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const get = (p: string) => exports.default.fetch(`${BASE}${p}`, { headers: AUTH });

interface Created {
  id: string;
  state: string;
  statusUrl: string;
  room: string;
}

async function waitForEnd(id: string): Promise<Status> {
  return vi.waitFor(
    async () => {
      const status = await (await get(`/v1/jobs/${id}`)).json<Status>();
      if (status.state === "queued" || status.state === "running") throw new Error(`still ${status.state}`);
      return status;
    },
    { timeout: 20_000, interval: 100 },
  );
}

async function expectProblem(res: Response, status: number, detail?: string | RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = await res.json<{ status: number; detail: string }>();
  expect(body.status).toBe(status);
  if (detail) expect(body.detail).toMatch(detail);
  return body;
}

describe("POST /v1/jobs", () => {
  it("refuses bad input with 4xx problem+json and creates and queues nothing", async () => {
    const before = (await listDurableObjectIds(env.JOB)).length;
    const ok = { type: "fanout", requests: [{ url: `${UP}/x` }] };
    await expectProblem(await post(ok, null), 400, /idempotency-key/);
    await expectProblem(await post(ok, "has spaces"), 400, /idempotency-key/);
    await expectProblem(await post(ok, "k".repeat(129)), 400, /idempotency-key/);
    await expectProblem(await post({ type: "cron", requests: [] }), 400, /type/);
    await expectProblem(await post({ type: "fanout", requests: [] }), 400, /requests/);
    await expectProblem(await post({ ...ok, surprise: 1 }), 400);
    await expectProblem(await post({ type: "fanout", requests: [{ url: `${UP}/x`, verb: "GET" }] }), 400);
    await expectProblem(await post("{not json"), 400);
    const manyHeaders = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x-h${i}`, "v"]));
    await expectProblem(
      await post({ type: "fanout", requests: [{ url: `${UP}/x`, headers: manyHeaders }] }),
      413,
      /FANOUT_MAX_HEADERS/,
    );
    await expectProblem(await post({ ...ok, concurrency: 5_000 }), 400, /concurrency/);
    const oversize = { type: "fanout", requests: Array.from({ length: 10_001 }, (_, i) => ({ url: `${UP}/${i}` })) };
    const tooMany = await expectProblem(await post(oversize), 413, /JOBS_MAX_REQUESTS/);
    expect(tooMany).toMatchObject({ limit: "JOBS_MAX_REQUESTS", max: 10_000 });
    await expectProblem(await post({ type: "webhook", url: "http://10.0.0.1/hook", payload: {} }), 400, /private/);
    await expectProblem(await post({ type: "webhook", url: "not a url", payload: {} }), 400);
    await expectProblem(
      await post({ type: "webhook", url: `${UP}/h`, payload: {}, headers: { "webhook-signature": "v1,forged" } }),
      400,
    );
    expect((await listDurableObjectIds(env.JOB)).length).toBe(before);
  });

  it("returns the same job for the same key and body, and refuses the key with another body", async () => {
    const key = `same-${crypto.randomUUID()}`;
    const body = { type: "fanout", requests: [{ url: `${UP}${path("same")}` }] };
    const first = await post(body, key);
    expect(first.status).toBe(202);
    const created = await first.json<Created>();
    expect(created).toMatchObject({ state: "queued", statusUrl: `/v1/jobs/${created.id}`, room: `job:${created.id}` });
    expect(created.id).toMatch(/^[0-9a-f]{32}$/);
    expect(first.headers.get("location")).toBe(`/v1/jobs/${created.id}`);

    const replay = await post(body, key);
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect((await replay.json<Created>()).id).toBe(created.id);

    const other = await expectProblem(
      await post({ type: "fanout", requests: [{ url: `${UP}/other` }] }, key),
      422,
      /already used/,
    );
    expect(other).toMatchObject({ id: created.id });
    const status = await waitForEnd(created.id);
    expect(status).toMatchObject({ total: 1, done: 1, state: "succeeded" });
  });

  it("scopes the key by the verified token, not by how the Authorization header is spelled: one job", async () => {
    const key = `spelling-${crypto.randomUUID()}`;
    const body = JSON.stringify({ type: "fanout", requests: [{ url: `${UP}${path("spelling")}` }] });
    const ids: string[] = [];
    const replayed: (string | null)[] = [];
    for (const authorization of [
      "Bearer test-token",
      "bearer test-token",
      "Bearer  test-token",
      "BEARER test-token ",
    ]) {
      const res = await exports.default.fetch(`${BASE}/v1/jobs`, {
        method: "POST",
        headers: { authorization, "content-type": "application/json", "idempotency-key": key },
        body,
      });
      expect(res.status, authorization).toBe(202);
      ids.push((await res.json<Created>()).id);
      replayed.push(res.headers.get("idempotent-replayed"));
    }
    // A body without content-length (a Request built in the isolate has none): the body limit swaps the request for
    // a wrapper, and the verified caller must stay the same.
    const unsized = new Request(`${BASE}/v1/jobs`, {
      method: "POST",
      headers: { authorization: "bearer  test-token", "content-type": "application/json", "idempotency-key": key },
      body,
    });
    expect(unsized.headers.has("content-length")).toBe(false);
    const streamed = await worker.fetch(unsized, env, createExecutionContext());
    expect(streamed.status).toBe(202);
    ids.push((await streamed.json<Created>()).id);
    replayed.push(streamed.headers.get("idempotent-replayed"));
    expect(new Set(ids).size).toBe(1);
    expect(replayed).toEqual([null, "true", "true", "true", "true"]);
    expect(await waitForEnd(ids[0] as string)).toMatchObject({ state: "succeeded", total: 1, done: 1 });
  });

  it("creates one job when POSTs with one key arrive at the same time", async () => {
    const key = `race-${crypto.randomUUID()}`;
    const body = {
      type: "fanout",
      requests: Array.from({ length: 120 }, (_, i) => ({ url: `${UP}${path(`r${i}`)}` })),
    };
    const responses = await Promise.all(Array.from({ length: 5 }, () => post(body, key)));
    const ids = new Set<string>();
    for (const res of responses) {
      expect(res.status).toBe(202);
      ids.add((await res.json<Created>()).id);
    }
    expect(ids.size).toBe(1);
    const [id] = [...ids] as [string];
    const status = await waitForEnd(id);
    expect(status).toMatchObject({ state: "succeeded", total: 120, done: 120, failed: 0, chunks: 3 });
    // Each chunk was sent once: three deliveries in all.
    expect(status.attempts).toBe(3);
  });
});

describe("a fan-out job from start to end", () => {
  it("runs every request once, reports 404s as results and pages through them in order", async () => {
    const paths = Array.from({ length: 130 }, (_, i) => path(`p${i}`, i % 10 === 3 ? "status=404" : ""));
    const requests = paths.map((p) => ({ url: `${UP}${p}` }));
    const res = await post({ type: "fanout", requests, concurrency: 8 });
    const { id } = await res.json<Created>();
    const status = await waitForEnd(id);
    expect(status).toMatchObject({ state: "partial", total: 130, done: 130, failed: 13, dead: 0 });
    // Counted at the upstream: each URL was fetched exactly once.
    expect(await Promise.all(paths.map(hits))).toEqual(paths.map(() => 1));

    const seen: { index: number; status: number; ok: boolean }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await get(`/v1/jobs/${id}/results?limit=50${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      const body = await page.json<{ items: { index: number; status: number; ok: boolean }[]; next: string | null }>();
      seen.push(...body.items);
      cursor = body.next;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.map((r) => r.index)).toEqual(Array.from({ length: 130 }, (_, i) => i));
    expect(seen.filter((r) => r.status === 404).map((r) => r.index)).toEqual(
      Array.from({ length: 13 }, (_, i) => i * 10 + 3),
    );
    expect(seen.filter((r) => r.ok)).toHaveLength(117);
  });

  it("refuses a bad cursor or limit with 400 problem+json", async () => {
    const { id } = await seedFanoutJob([`${UP}/x`], 1);
    await expectProblem(await get(`/v1/jobs/${id}/results?cursor=garbage`), 400, /cursor/);
    await expectProblem(await get(`/v1/jobs/${id}/results?limit=0`), 400);
    await expectProblem(await get(`/v1/jobs/${id}/results?limit=1001`), 400, /JOBS_RESULTS_PAGE_MAX/);
    const empty = await get(`/v1/jobs/${id}/results`);
    expect(await empty.json()).toEqual({ items: [], next: null });
  });
});

describe("unknown and malformed job ids", () => {
  it("answer 404 for an unknown id and 400 for an id that is not a name, on every route", async () => {
    const unknown = newJobId();
    for (const [method, p] of [
      ["GET", `/v1/jobs/${unknown}`],
      ["GET", `/v1/jobs/${unknown}/results`],
      ["DELETE", `/v1/jobs/${unknown}`],
      ["POST", `/v1/jobs/${unknown}/retry`],
      ["GET", "/v1/jobs/not-a-hex-id"],
    ] as const) {
      const res = await exports.default.fetch(`${BASE}${p}`, { method, headers: AUTH });
      await expectProblem(res, 404, /No job/);
    }
    const bad = await exports.default.fetch(`${BASE}/v1/jobs/bad%20id!`, { headers: AUTH });
    await expectProblem(bad, 400);
  });
});

describe("DELETE /v1/jobs/:id", () => {
  it("cancels a queued job, skips its chunks, answers again the same way, and refuses a finished job", async () => {
    const a = path("never-run");
    const { id, stub } = await seedFanoutJob([UP + a, UP + a], 1);
    const res = await exports.default.fetch(`${BASE}/v1/jobs/${id}`, { method: "DELETE", headers: AUTH });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id, state: "canceled", done: 0 });
    const again = await exports.default.fetch(`${BASE}/v1/jobs/${id}`, { method: "DELETE", headers: AUTH });
    expect(again.status).toBe(200);
    const result = await deliver("edgeloop-jobs", [
      { id: "c0", body: { jobId: id, chunk: 0 } },
      { id: "c1", body: { jobId: id, chunk: 1 } },
    ]);
    expect(result.explicitAcks).toEqual(["c0", "c1"]);
    expect(await stub.status()).toMatchObject({ state: "canceled", done: 0, attempts: 0 });
    const retry = await exports.default.fetch(`${BASE}/v1/jobs/${id}/retry`, { method: "POST", headers: AUTH });
    await expectProblem(retry, 409, /canceled/);

    const done = await seedFanoutJob([`${UP}${path("done")}`], 1);
    await deliver("edgeloop-jobs", [{ id: "d", body: { jobId: done.id, chunk: 0 } }]);
    const late = await exports.default.fetch(`${BASE}/v1/jobs/${done.id}`, { method: "DELETE", headers: AUTH });
    const problem = await expectProblem(late, 409, /already finished/);
    expect(problem).toMatchObject({ state: "succeeded" });
    expect(await done.stub.status()).toMatchObject({ state: "succeeded" });
  });
});

describe("POST /v1/jobs/:id/retry", () => {
  it("puts dead chunks back on the queue and the job then ends succeeded", async () => {
    const flaky = path("comes-back", "failFirst=1");
    const { id, stub } = await seedFanoutJob([`${UP}${path("fine")}`, UP + flaky], 1);
    await deliver("edgeloop-jobs", [
      { id: "a", body: { jobId: id, chunk: 0 } },
      { id: "b", attempts: 6, body: { jobId: id, chunk: 1 } },
    ]);
    await deliver("edgeloop-jobs-dlq", [{ id: "b", body: { jobId: id, chunk: 1 } }]);
    expect(await stub.status()).toMatchObject({ state: "partial", dead: 1 });

    const res = await exports.default.fetch(`${BASE}/v1/jobs/${id}/retry`, { method: "POST", headers: AUTH });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ requeued: 1, status: { state: "running", dead: 0 } });
    const status = await waitForEnd(id);
    expect(status).toMatchObject({ state: "succeeded", done: 2, failed: 0, dead: 0 });

    const nothing = await exports.default.fetch(`${BASE}/v1/jobs/${id}/retry`, { method: "POST", headers: AUTH });
    await expectProblem(nothing, 409, /no dead chunks/);
  });
});

describe("webhook jobs over HTTP", () => {
  it("are accepted and delivered once by the queue consumer", async () => {
    const hook = path("http-hook");
    const res = await post({ type: "webhook", url: UP + hook, payload: { hello: "world" } });
    expect(res.status).toBe(202);
    const { id } = await res.json<Created>();
    const status = await waitForEnd(id);
    expect(status).toMatchObject({ state: "succeeded", total: 1, done: 1 });
    // Counted at the receiver: one POST with the payload.
    const deliveries = await received(hook);
    expect(deliveries.map((d) => JSON.parse(d.body))).toEqual([{ hello: "world" }]);
    expect(await hits(hook)).toBe(1);
  });
});

describe("the OpenAPI document", () => {
  it("describes the jobs routes", async () => {
    const doc = await (await exports.default.fetch(`${BASE}/openapi.json`)).json<{ paths: Record<string, object> }>();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/results", "/v1/jobs/{id}/retry"]),
    );
  });
});
