/**
 * /v1/flow/:key: a flow-control key's state (calls in flight and waiting, the rate window's use, the limits in force,
 * paused), and pausing and resuming it. Keys are the caller's own (per tenant) and are taken by the `flow` option of
 * /v1/fanout, /v1/pages and jobs; see docs/flow.md and src/flow/flow.ts.
 */
import { createRoute } from "@hono/zod-openapi";
import { FlowKeyParams, FlowStatusSchema, flowName } from "../src/flow";
import { createApp, scope } from "../src/http/app";
import { ownerOf } from "../src/http/owner";
import { jsonResponse, problemDocs, routesOf } from "../src/http/schemas";

const route = routesOf("flow");
const answer = { 200: jsonResponse(FlowStatusSchema, "The key"), ...problemDocs };

const statusRoute = createRoute({
  ...route("get", "/{key}", "getFlow", "A flow key's calls in flight and waiting, rate used, limits and pause"),
  ...scope("flow:read", "key"),
  request: { params: FlowKeyParams },
  responses: answer,
});
const pauseRoute = createRoute({
  ...route(
    "post",
    "/{key}/pause",
    "pauseFlow",
    "Stop starting calls under the key: the running ones end, new ones wait",
  ),
  ...scope("flow:write", "key"),
  request: { params: FlowKeyParams },
  responses: answer,
});
const resumeRoute = createRoute({
  ...route("post", "/{key}/resume", "resumeFlow", "Start calls under the key again, the waiting ones first"),
  ...scope("flow:write", "key"),
  request: { params: FlowKeyParams },
  responses: answer,
});

export const flow = createApp()
  .openapi(statusRoute, async (c) => {
    const { key } = c.req.valid("param");
    return c.json({ key, ...(await c.env.FLOW.getByName(flowName(ownerOf(c), key)).status()) }, 200);
  })
  .openapi(pauseRoute, async (c) => {
    const { key } = c.req.valid("param");
    return c.json({ key, ...(await c.env.FLOW.getByName(flowName(ownerOf(c), key)).pause()) }, 200);
  })
  .openapi(resumeRoute, async (c) => {
    const { key } = c.req.valid("param");
    return c.json({ key, ...(await c.env.FLOW.getByName(flowName(ownerOf(c), key)).resume()) }, 200);
  });
