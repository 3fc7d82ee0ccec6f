/**
 * /v1/ratelimits: exact per-key rate limiting (GCRA), one RateLimiter Durable Object per key.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createApp, scope } from "../src/http/app";
import { objectName } from "../src/http/principal";
import { problem } from "../src/http/problem";
import { jsonBody, Name, problemDocs } from "../src/http/schemas";
import { RateLimitBody as Body, RateLimitDecision as Decision } from "../src/ratelimits";

/** Keys given by clients live apart from the service's own per-token keys (`api:`). */
const userKey = (key: string) => `user:${key}`;

const route = createRoute({
  method: "post",
  path: "/{key}",
  tags: ["ratelimits"],
  operationId: "consumeRateLimit",
  summary: "Take `cost` units from key's budget of `limit` per `periodMs` (smooth, GCRA)",
  ...scope("ratelimits:write", "key"),
  request: {
    params: z.object({ key: Name }),
    body: jsonBody(Body, { cost: 1, limit: 10, periodMs: 1_000, burst: 20 }),
  },
  responses: {
    200: { description: "The decision (allowed or not)", content: { "application/json": { schema: Decision } } },
    ...problemDocs,
  },
});

export const ratelimits = createApp().openapi(route, async (c) => {
  const { key } = c.req.valid("param");
  const body = c.req.valid("json");
  const burst = body.burst ?? body.limit;
  if (body.cost > burst) {
    throw problem(400, `cost ${body.cost} is above the burst ${burst}: it could never be allowed.`, {
      type: "invalid-request",
    });
  }
  const decision = await c.env.RATE_LIMITER.getByName(objectName(c, userKey(key))).limit(body);
  return c.json({ key, ...decision }, 200);
});
