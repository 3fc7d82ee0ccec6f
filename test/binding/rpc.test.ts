/**
 * The binding's RPC methods (src/binding/targets.ts), called as a bound Worker calls them (`exports.Edgeloop`, the
 * loopback binding of the Worker's own entrypoint), typed by the client's `EdgeloopRpc`: each family's methods answer
 * what their HTTP operation answers and change what it changes; a refusal arrives as an Error whose message carries
 * the problem, which `fromRpcError` / `rpc` turn back into the `EdgeloopError` the HTTP client throws, extensions and
 * all; the binding's props hold on this path too.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { EdgeloopError, type EdgeloopRpc, fromRpcError, rpc } from "../../src/client/index";
import { call, unique } from "../helpers/api";

const UPSTREAM = inject("upstream");

/** The binding as a Worker with these props types it. */
const bound = (props?: Record<string, unknown>) =>
  (props === undefined ? exports.Edgeloop : exports.Edgeloop({ props })) as unknown as Fetcher & EdgeloopRpc;

/** What `promise` rejected with, as the client's error. */
async function refusal(promise: Promise<unknown>): Promise<EdgeloopError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  const error = fromRpcError(err);
  if (!(error instanceof EdgeloopError)) throw new Error(`expected a refusal, got ${String(err)}`);
  return error;
}

describe("counters over RPC", () => {
  it("increment, get, set with ifValue, reset: the JSON the HTTP operations answer", async () => {
    const name = unique("rpc-counter");
    const counter = bound().counter(name);
    expect(await counter.increment(2)).toMatchObject({ name, value: 2 });
    expect(await counter.get()).toEqual((await call("GET", `/v1/counters/${name}`)).body);
    expect(await counter.set(10, { ifValue: 2 })).toMatchObject({ value: 10 });
    const mismatch = await refusal(counter.set(11, { ifValue: 2 }));
    expect(mismatch).toMatchObject({ status: 409, type: "urn:edgeloop:problem:counter-mismatch" });
    expect(mismatch.problem.value).toBe(10);
    expect(await counter.reset()).toMatchObject({ value: 0 });
    expect(await bound().counter(unique("rpc-sharded")).setShards(4)).toMatchObject({ shards: 4 });
  });

  it("refuses a bad input as HTTP does (400 invalid-request with each field's error), and applies nothing", async () => {
    const name = unique("rpc-bad");
    const error = await refusal(bound().counter(name).increment(1.5));
    expect(error).toMatchObject({ status: 400, type: "urn:edgeloop:problem:invalid-request" });
    expect(error.errors?.map((e) => e.path)).toEqual(["by"]);
    const http = await call("POST", `/v1/counters/${name}/increment`, { by: 1.5 });
    expect(error.problem).toEqual(http.body);
    expect(await bound().counter(name).get()).toMatchObject({ value: 0, updatedAt: null });
  });
});

describe("locks and semaphores over RPC", () => {
  it("acquire answers the grant; a second acquire is the HTTP 409 lock-held; renew, a fenced write, release", async () => {
    const name = unique("rpc-lock");
    const lock = bound().lock(name);
    const grant = await lock.acquire({ owner: "a", ttlMs: 5_000 });
    expect(grant).toMatchObject({ name, owner: "a", token: 1 });
    expect(grant.fence).toMatchObject({ lock: name, token: 1 });

    const held = await refusal(lock.acquire({ owner: "b" }));
    expect(held).toMatchObject({ status: 409, type: "urn:edgeloop:problem:lock-held" });
    const http = await call("POST", `/v1/locks/${name}/acquire`, { owner: "b", ttlMs: 30_000 });
    expect(held.problem).toEqual(http.body);
    expect(held.message.split("\n")[0]).toBe(`409 ${http.body.detail}`);

    expect((await lock.renew(grant, 10_000)).expiresAt).toBeGreaterThan(grant.expiresAt);
    const counter = bound().counter(unique("rpc-fenced"));
    expect(await counter.increment(1, { fence: grant.fence })).toMatchObject({ value: 1 });
    expect(await lock.release(grant)).toMatchObject({ name, released: true });
    expect(await lock.status()).toMatchObject({ name, holder: null });
    const lost = await refusal(lock.renew(grant));
    expect(lost).toMatchObject({ status: 409, type: "urn:edgeloop:problem:lease-lost" });
  });

  it("a semaphore's permits: taken, refused when full (with inUse), given back", async () => {
    const semaphore = bound().semaphore(unique("rpc-sem"), { limit: 2 });
    const grant = await semaphore.acquire({ holder: "h", permits: 2 });
    expect(grant).toMatchObject({ holder: "h", permits: 2 });
    const full = await refusal(semaphore.acquire());
    expect(full).toMatchObject({ status: 409, type: "urn:edgeloop:problem:semaphore-full" });
    expect(full.problem.inUse).toBe(2);
    expect(await semaphore.release(grant)).toMatchObject({ released: true });
    expect(await semaphore.status()).toMatchObject({ inUse: 0, limit: 2 });
  });

  it("a rate limit's decisions: allowed, then allowed: false with the time to wait", async () => {
    const limit = bound().rateLimit(unique("rpc-rate"), { limit: 1, periodMs: 60_000 });
    expect(await limit.take()).toMatchObject({ allowed: true, remaining: 0 });
    const refused = await limit.take();
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(0);
  });
});

/** The NDJSON lines of a stream. */
async function lines(stream: ReadableStream<Uint8Array>): Promise<Record<string, unknown>[]> {
  const text = await new Response(stream).text();
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("fan-out and pages over RPC", () => {
  it("fanout answers every result in request order; fanoutStream streams each, then the summary", async () => {
    const key = unique("rpc-fanout");
    const requests = [{ url: `${UPSTREAM}/a?key=${key}` }, { url: `${UPSTREAM}/b?status=503&key=${key}` }];
    const { results, summary } = await bound().fanout(requests, { concurrency: 2 });
    expect((results as { status: number }[]).map((r) => r.status)).toEqual([200, 503]);
    expect(summary).toMatchObject({ fulfilled: 2, concurrency: 2 });

    const streamed = await lines(await bound().fanoutStream(requests));
    expect(
      streamed
        .slice(0, 2)
        .map((r) => r.index)
        .sort(),
    ).toEqual([0, 1]);
    expect(streamed[2]).toMatchObject({ summary: { fulfilled: 2 } });
  });

  it("pages answers every page in page order; pagesStream streams them", async () => {
    const spec = { url: `${UPSTREAM}/pages?style=link&total=3`, next: "link" as const, items: "/data" };
    const { pages, summary } = await bound().pages(spec);
    expect(pages.map((p) => p.page)).toEqual([1, 2, 3]);
    expect(summary).toMatchObject({ pages: 3, stop: "end" });
    const streamed = await lines(await bound().pagesStream(spec));
    expect(streamed.map((p) => p.page ?? "summary")).toEqual([1, 2, 3, "summary"]);
  });

  it("refuses a fan-out over FANOUT_MAX_REQUESTS with the HTTP 413, naming the setting", async () => {
    const requests = Array.from({ length: 51 }, () => ({ url: `${UPSTREAM}/a` }));
    const error = await refusal(bound().fanout(requests));
    expect(error).toMatchObject({ status: 413 });
    expect(error.detail).toContain("FANOUT_MAX_REQUESTS");
  });
});

describe("jobs, schedules, flow keys and rooms over RPC", () => {
  it("jobs: create (idempotent by key, replayed), get, list, results, cancel, and retry refused", async () => {
    const jobs = bound().jobs();
    const spec = { type: "webhook" as const, url: `${UPSTREAM}/hook`, payload: { n: 1 }, delayMs: 3_600_000 };
    const key = unique("rpc-job");
    const job = await jobs.create(spec, { idempotencyKey: key });
    expect(job).toMatchObject({ state: "scheduled", idempotencyKey: key, replayed: false });
    expect(await jobs.create(spec, { idempotencyKey: key })).toMatchObject({ id: job.id, replayed: true });
    expect(await jobs.get(job.id)).toMatchObject({ id: job.id, state: "scheduled" });
    expect((await jobs.list({ state: "scheduled" })).items.map((j) => j.id)).toContain(job.id);
    expect(await jobs.results(job.id)).toEqual({ items: [], next: null });
    expect(await jobs.cancel(job.id)).toMatchObject({ id: job.id, state: "canceled" });
    const retry = await refusal(jobs.retry(job.id));
    expect(retry.status).toBe(409);
  });

  it("schedules: create, get, list, pause, resume, delete", async () => {
    const schedules = bound().schedules();
    const name = unique("rpc-schedule");
    const job = { type: "webhook" as const, url: `${UPSTREAM}/hook`, payload: {} };
    expect(await schedules.create({ name, cron: "0 3 * * *", job })).toMatchObject({ name, paused: false });
    expect((await schedules.get(name, { next: 2 })).nextRuns).toHaveLength(2);
    expect((await schedules.list()).items.map((s) => s.name)).toContain(name);
    expect(await schedules.pause(name)).toMatchObject({ name, paused: true });
    expect(await schedules.resume(name)).toMatchObject({ name, paused: false });
    expect(await schedules.delete(name)).toMatchObject({ name });
    expect(await refusal(schedules.get(name))).toMatchObject({ status: 404 });
  });

  it("flow keys: get, pause, resume", async () => {
    const flow = bound().flow(unique("rpc-flow"));
    expect(await flow.get()).toMatchObject({ inFlight: 0, paused: false });
    expect(await flow.pause()).toMatchObject({ paused: true });
    expect(await flow.resume()).toMatchObject({ paused: false });
  });

  it("rooms: a ticket whose url is on the origin given (the service's public URL), and publishing", async () => {
    const name = unique("rpc-room");
    const room = bound().room(name);
    const ticket = await room.ticket("ada", { origin: "https://edgeloop.example.com", ttlSec: 30 });
    expect(ticket).toMatchObject({ room: name, user: "ada" });
    expect(ticket.url).toBe(
      `wss://edgeloop.example.com/v1/rooms/${name}/ws?${new URLSearchParams({ ticket: ticket.ticket })}`,
    );
    expect((await room.ticket("bob")).url.startsWith("wss://edgeloop.internal/")).toBe(true);
    expect(await room.publish({ text: "deployed" })).toEqual({ seq: 1 });
    expect(await room.publish({ text: "again" }, { from: "ci" })).toEqual({ seq: 2 });
    expect(await room.info()).toMatchObject({ room: name, members: [], lastSeq: 2 });
    expect(await refusal(room.setShards(2))).toMatchObject({ status: 409, type: "urn:edgeloop:problem:shards-fixed" });
    expect(await bound().room(unique("rpc-split")).setShards(2)).toEqual({ room: expect.any(String), shards: 2 });
  });
});

describe("refusals and props over RPC", () => {
  it("rpc() rejects with the EdgeloopError, Retry-After and request id included; other errors pass unchanged", async () => {
    const limit = bound().rateLimit(unique("rpc-429"), { limit: 1, periodMs: 60_000 });
    await limit.take();
    const outside = bound({ scopes: ["counters:read"] });
    const error = await rpc(outside.counter(unique("rpc-ro")).increment(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgeloopError);
    expect(error).toMatchObject({ status: 403, type: "urn:edgeloop:problem:scope-missing" });
    expect((error as EdgeloopError).requestId).toMatch(/^[0-9a-f-]{36}$/);

    const limited = bound({ name: unique("rpc-rated"), rate: { limit: 1, periodMs: 60_000 } });
    await limited.counter("x").get();
    const tooMany = await refusal(limited.counter("x").get());
    expect(tooMany).toMatchObject({ status: 429, type: "urn:edgeloop:problem:rate-limited" });
    expect(tooMany.retryAfterMs).toBeGreaterThan(0);

    const other = new TypeError("the binding broke");
    expect(fromRpcError(other)).toBe(other);
    expect(fromRpcError("text")).toBe("text");
  });

  it("a binding confined to namespace a reads a's counters only, and writes none without the scope", async () => {
    const name = unique("rpc-ns");
    await call("POST", `/v1/counters/${name}/increment`, { by: 3 }, { headers: { "edgeloop-namespace": "a" } });
    await call("POST", `/v1/counters/${name}/increment`, { by: 7 }, { headers: { "edgeloop-namespace": "b" } });
    const reader = bound({ namespace: "a", scopes: ["counters:read"] });
    expect(await reader.counter(name).get()).toMatchObject({ value: 3 });
    expect(await refusal(reader.counter(name).increment(1))).toMatchObject({ status: 403 });
    const inB = await call("GET", `/v1/counters/${name}`, undefined, { headers: { "edgeloop-namespace": "b" } });
    expect(inB.body).toMatchObject({ value: 7 });
  });
});
