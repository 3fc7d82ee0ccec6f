/**
 * /v1/counters: atomic integer counters (bounded increments, compare-and-set, fenced writes).
 * One Counter Durable Object per name; see src/objects/counter.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createApp } from "../src/http/app";
import { checkedFence } from "../src/http/fences";
import { problem } from "../src/http/problem";
import { jsonBody, jsonResponse, Name, problemDoc, problemDocs, routesOf } from "../src/http/schemas";
import type { CounterResult } from "../src/objects/counter";

const route = routesOf("counters");

const Params = z.object({ name: Name });
const SafeInt = z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const FenceSig = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, "must be the sig of the lock's grant")
  .openapi({
    description: "The lock's proof that it issued this token (the grant's fence.sig)",
    example: "UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw",
  });
const Fence = z
  .object({ lock: Name, token: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), sig: FenceSig })
  .strict()
  .openapi("Fence", {
    description:
      "The `fence` of a lock's grant, as it came: a token the lock did not issue is refused (403), one lower than the highest seen (409)",
  });
const FenceQuery = z.object({
  lock: Name.optional().openapi({ description: "Fenced read: the lock whose token is given" }),
  token: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  sig: FenceSig.optional(),
});
const Value = z
  .object({ name: z.string(), value: z.number().int(), updatedAt: z.number().nullable() })
  .openapi("CounterValue");
const IncrementBody = z
  .object({
    by: SafeInt.default(1).openapi({ example: 1 }),
    min: SafeInt.optional(),
    max: SafeInt.optional(),
    fence: Fence.optional(),
  })
  .strict();
const SetBody = z.object({ value: SafeInt, ifValue: SafeInt.optional(), fence: Fence.optional() }).strict();

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
