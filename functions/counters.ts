/**
 * /v1/counters: atomic integer counters (bounded increments, compare-and-set, fenced writes, shards).
 * One Counter Durable Object per name (per shard when sharded), see src/counters/counter.ts; increments without a
 * fence, reads and resets go through the isolate's group commit and shard routing, src/counters/router.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { CounterResult } from "../src/counters";
import {
  countersOf,
  CounterFenceQuery as FenceQuery,
  CounterIncrementBody as IncrementBody,
  CounterSetBody as SetBody,
  CounterShards as Shards,
  CounterShardsBody as ShardsBody,
  CounterValue as Value,
} from "../src/counters";
import { createApp, scope } from "../src/http/app";
import { objectName } from "../src/http/principal";
import { overLimit, problem } from "../src/http/problem";
import { jsonBody, jsonResponse, Name, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import { checkedFence } from "../src/locks";
import { settings } from "../src/settings";

const route = routesOf("counters");

const Params = z.object({ name: Name });
const json = jsonBody;
const ok = jsonResponse(Value, "The counter");
const conflict = problemDoc(
  "Refused: out of bounds, compare-and-set mismatch, stale fencing token, beyond safe integers, or sharded",
);
const fenced = {
  403: problemDoc("The fencing token was not issued by the lock (fence-invalid)"),
  503: problemDoc("FENCE_SECRET is not configured: fenced calls are refused"),
};

const getRoute = createRoute({
  ...route("get", "/{name}", "getCounter", "Read a counter (0 if never written); with ?lock=&token= a fenced read"),
  ...scope("counters:read", "name"),
  request: { params: Params, query: FenceQuery },
  responses: { 200: ok, 409: conflict, ...problemDocs, ...fenced },
});
const incrementRoute = createRoute({
  ...route("post", "/{name}/increment", "incrementCounter", "Add `by` atomically, within optional bounds"),
  ...scope("counters:write", "name"),
  request: { params: Params, body: json(IncrementBody, { by: 1, max: 100 }) },
  responses: { 200: ok, 409: conflict, ...problemDocs, ...fenced },
});
const setRoute = createRoute({
  ...route("put", "/{name}", "setCounter", "Set the value (compare-and-set with ifValue)"),
  ...scope("counters:write", "name"),
  request: { params: Params, body: json(SetBody, { value: 10, ifValue: 7 }) },
  responses: { 200: ok, 409: conflict, ...problemDocs, ...fenced },
});
const resetRoute = createRoute({
  ...route("delete", "/{name}", "resetCounter", "Reset to 0, every shard (fencing tokens seen are kept)"),
  ...scope("counters:write", "name"),
  request: { params: Params },
  responses: { 200: ok, ...problemDocs },
});
const shardsRoute = createRoute({
  ...route("put", "/{name}/shards", "setCounterShards", "Shard the counter (once, before the first write)"),
  ...scope("counters:write", "name"),
  request: { params: Params, body: json(ShardsBody, { shards: 4 }) },
  responses: {
    200: jsonResponse(Shards, "The shard count"),
    409: problemDoc("Set already, or written"),
    ...problemDocs,
  },
});

/** The 409 that says why the counter was not changed (or read): `counter-<reason>`, with the refusal's fields. */
function refused(name: string, refusal: { ok: false; reason: string; detail: string }) {
  const { ok: _, reason, detail, ...extensions } = refusal;
  return problem(409, `Counter ${name}: ${detail}.`, { type: `counter-${reason}`, extensions });
}

/** The counter's value, or the 409 that says why it was not changed. */
function answer(name: string, result: CounterResult, shards = 1, shard?: number) {
  if (result.ok) return { name, value: result.value, updatedAt: result.updatedAt, shards, shard };
  throw refused(name, result);
}

export const counters = createApp()
  .openapi(getRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { lock, token, sig } = c.req.valid("query");
    const given = [lock, token, sig].filter((v) => v !== undefined).length;
    if (given !== 0 && given !== 3) {
      throw problem(400, "A fenced read needs lock, token and sig.", { type: "invalid-request" });
    }
    const fence =
      lock !== undefined && token !== undefined && sig !== undefined
        ? await checkedFence(c.env, { lock, token, sig }, objectName(c, lock))
        : undefined;
    if (fence) return c.json(answer(name, await c.env.COUNTER.getByName(objectName(c, name)).get(fence)), 200);
    const read = await countersOf(c.env).read(objectName(c, name));
    if (!read.ok) throw refused(name, read);
    return c.json({ name, value: read.value, updatedAt: read.updatedAt, shards: read.shards }, 200);
  })
  .openapi(incrementRoute, async (c) => {
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    if (body.min !== undefined && body.max !== undefined && body.min > body.max) {
      throw problem(400, `min ${body.min} is above max ${body.max}.`, { type: "invalid-request" });
    }
    if (body.fence) {
      const fence = await checkedFence(c.env, body.fence, objectName(c, body.fence.lock));
      const stub = c.env.COUNTER.getByName(objectName(c, name));
      return c.json(answer(name, await stub.increment({ ...body, fence })), 200);
    }
    const { by, min, max } = body;
    const waitUntil = (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
    const result = await countersOf(c.env).increment(objectName(c, name), { by, min, max }, waitUntil);
    return c.json(answer(name, result, result.shards, result.shard), 200);
  })
  .openapi(setRoute, async (c) => {
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    const fence = body.fence && (await checkedFence(c.env, body.fence, objectName(c, body.fence.lock)));
    return c.json(answer(name, await c.env.COUNTER.getByName(objectName(c, name)).set({ ...body, fence })), 200);
  })
  .openapi(resetRoute, async (c) => {
    const { name } = c.req.valid("param");
    return c.json({ name, ...(await countersOf(c.env).reset(objectName(c, name))) }, 200);
  })
  .openapi(shardsRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { shards } = c.req.valid("json");
    const max = settings(c.env).COUNTER_MAX_SHARDS;
    if (shards > max) {
      throw overLimit("COUNTER_MAX_SHARDS", max, `shards ${shards} is above COUNTER_MAX_SHARDS (${max}).`);
    }
    const set = await countersOf(c.env).setShards(objectName(c, name), shards);
    if (!set.ok) throw refused(name, set);
    return c.json({ name, shards: set.shards }, 200);
  });
