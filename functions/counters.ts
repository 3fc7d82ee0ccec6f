/**
 * /v1/counters: atomic integer counters (bounded increments, compare-and-set, fenced writes).
 * One Counter Durable Object per name; see src/objects/counter.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createApp } from "../src/http/app";
import {
  CounterFenceQuery as FenceQuery,
  CounterIncrementBody as IncrementBody,
  CounterSetBody as SetBody,
  CounterValue as Value,
} from "../src/http/counters-schema";
import { checkedFence } from "../src/http/fences";
import { problem } from "../src/http/problem";
import { jsonBody, jsonResponse, Name, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import type { CounterResult } from "../src/objects/counter";

const route = routesOf("counters");

const Params = z.object({ name: Name });
const json = jsonBody;
const ok = jsonResponse(Value, "The counter");
const conflict = problemDoc(
  "Refused: out of bounds, compare-and-set mismatch, stale fencing token, or beyond safe integers",
);
const fenced = {
  403: problemDoc("The fencing token was not issued by the lock (fence-invalid)"),
  503: problemDoc("FENCE_SECRET is not configured: fenced calls are refused"),
};

const getRoute = createRoute({
  ...route("get", "/{name}", "getCounter", "Read a counter (0 if never written); with ?lock=&token= a fenced read"),
  request: { params: Params, query: FenceQuery },
  responses: { 200: ok, 409: conflict, ...problemDocs, ...fenced },
});
const incrementRoute = createRoute({
  ...route("post", "/{name}/increment", "incrementCounter", "Add `by` atomically, within optional bounds"),
  request: { params: Params, body: json(IncrementBody, { by: 1, max: 100 }) },
  responses: { 200: ok, 409: conflict, ...problemDocs, ...fenced },
});
const setRoute = createRoute({
  ...route("put", "/{name}", "setCounter", "Set the value (compare-and-set with ifValue)"),
  request: { params: Params, body: json(SetBody, { value: 10, ifValue: 7 }) },
  responses: { 200: ok, 409: conflict, ...problemDocs, ...fenced },
});
const resetRoute = createRoute({
  ...route("delete", "/{name}", "resetCounter", "Reset to 0 (fencing tokens seen are kept)"),
  request: { params: Params },
  responses: { 200: ok, ...problemDocs },
});

/** The counter's value, or the 409 that says why it was not changed. */
function answer(name: string, result: CounterResult) {
  if (result.ok) return { name, value: result.value, updatedAt: result.updatedAt };
  const { ok: _, reason, detail, ...extensions } = result;
  throw problem(409, `Counter ${name}: ${detail}.`, { type: `counter-${reason}`, extensions });
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
        ? await checkedFence(c.env, { lock, token, sig })
        : undefined;
    return c.json(answer(name, await c.env.COUNTER.getByName(name).get(fence)), 200);
  })
  .openapi(incrementRoute, async (c) => {
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    if (body.min !== undefined && body.max !== undefined && body.min > body.max) {
      throw problem(400, `min ${body.min} is above max ${body.max}.`, { type: "invalid-request" });
    }
    const fence = body.fence && (await checkedFence(c.env, body.fence));
    return c.json(answer(name, await c.env.COUNTER.getByName(name).increment({ ...body, fence })), 200);
  })
  .openapi(setRoute, async (c) => {
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    const fence = body.fence && (await checkedFence(c.env, body.fence));
    return c.json(answer(name, await c.env.COUNTER.getByName(name).set({ ...body, fence })), 200);
  })
  .openapi(resetRoute, async (c) => {
    const { name } = c.req.valid("param");
    return c.json({ name, ...(await c.env.COUNTER.getByName(name).reset()) }, 200);
  });
