/**
 * POST /v1/fanout: many upstream calls at once (asyncio.gather(return_exceptions=True) + wait_for + Semaphore),
 * answered as one JSON document in request order (keyed like the request when `requests` is an object), or streamed
 * as each call settles (`Accept: application/x-ndjson` or `text/event-stream`) followed by a summary.
 *
 * The work is the engine's (src/fanout/engine.ts); this file owns the HTTP contract: validation, the limits named by
 * settings, content negotiation, and tying the client's connection (`request.signal`) to the calls.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { anySignal } from "../src/async";
import {
  checkHeaderLimits,
  createUrlGuard,
  type FanoutItem,
  FanoutItemSchema,
  type FanoutOptions,
  FanoutOptionsSchema,
  type FanoutResult,
  FanoutResultSchema,
  FanoutSummarySchema,
  fanout,
  fanoutAll,
  type UrlGuard,
} from "../src/fanout";
import { checkFlow, closing, type FlowSpec, flowGate } from "../src/flow";
import { type AppEnv, createApp, requireName, scope } from "../src/http/app";
import { streamableResponse, streamedResponse, streamingOf } from "../src/http/event-stream";
import { ownerOf } from "../src/http/owner";
import { overLimit } from "../src/http/problem";
import { jsonBody, Name, problemDocs, recordOf } from "../src/http/schemas";
import { type Settings, settings } from "../src/settings";

const RequestsSchema = z
  .union([
    z.array(FanoutItemSchema).min(1),
    recordOf(Name, FanoutItemSchema).refine((r) => Object.keys(r).length > 0, {
      message: "must name at least one request",
    }),
  ])
  .openapi({ description: "A list of requests, or an object of requests keyed by name (results are keyed alike)" });

const FanoutBodySchema = FanoutOptionsSchema.extend({ requests: RequestsSchema }).strict().openapi("Fanout");

const example: z.input<typeof FanoutBodySchema> = {
  requests: [
    { id: "user", url: "https://api.example.com/users/1", method: "GET", timeoutMs: 2000 },
    { id: "orders", url: "https://api.example.com/users/1/orders" },
  ],
  concurrency: 6,
  timeoutMs: 5000,
  deadlineMs: 15000,
  retry: { attempts: 3, baseMs: 100, maxMs: 2000 },
};

const FanoutResponseSchema = z
  .object({
    results: z.union([z.array(FanoutResultSchema), z.record(z.string(), FanoutResultSchema)]),
    summary: FanoutSummarySchema,
  })
  .openapi("FanoutResponse");

const route = createRoute({
  method: "post",
  path: "/",
  tags: ["fanout"],
  operationId: "runFanout",
  summary: "Call many upstreams at once",
  ...scope("fanout"),
  description:
    "Runs every request with bounded concurrency, per-attempt timeouts, an overall deadline, retries and optional " +
    "hedging. JSON answers in request order; `Accept: application/x-ndjson` or `text/event-stream` streams each " +
    "result as it settles, then a summary. Outbound URLs pass the URL guard (no loopback/private addresses).",
  request: { body: jsonBody(FanoutBodySchema, example) },
  responses: {
    200: streamableResponse(FanoutResponseSchema, "Every request settled (fulfilled or rejected), one result each", {
      item: "FanoutResult",
      event: "result",
      order: "in completion order",
    }),
    ...problemDocs,
  },
});

/** Refuse what the settings do not allow, naming the setting. */
function checkLimits(items: readonly FanoutItem[], s: Settings): void {
  const max = s.FANOUT_MAX_REQUESTS;
  if (items.length > max) {
    throw overLimit(
      "FANOUT_MAX_REQUESTS",
      max,
      `This fan-out has ${items.length} requests; FANOUT_MAX_REQUESTS allows ${max} per call. ` +
        "Split it, or submit it as a job (POST /v1/jobs), which has no per-invocation subrequest budget.",
      { status: 413, type: "fanout-too-many-requests", extensions: { got: items.length, jobs: "/v1/jobs" } },
    );
  }
  checkHeaderLimits(items, s);
}

function summarize(results: Iterable<FanoutResult>, startedAt: number, concurrency: number) {
  let fulfilled = 0;
  let rejected = 0;
  for (const r of results) {
    if (r.outcome === "fulfilled") fulfilled++;
    else rejected++;
  }
  return { fulfilled, rejected, durationMs: Date.now() - startedAt, concurrency };
}

/** The results as they settle, each also kept in `seen` for the summary. */
async function* tally(results: AsyncGenerator<FanoutResult, void, undefined>, seen: FanoutResult[]) {
  for await (const r of results) {
    seen.push(r);
    yield r;
  }
}

export const fanoutApp = createApp().openapi(route, async (c) => {
  const s = settings(c.env);
  const { requests, flow, ...rest } = c.req.valid("json");
  const keys = Array.isArray(requests) ? undefined : Object.keys(requests);
  const items: FanoutItem[] = Array.isArray(requests)
    ? requests
    : Object.entries(requests).map(([key, item]) => ({ ...item, id: item.id ?? key }));
  checkLimits(items, s);
  checkFlow(flow, c.env);
  if (flow) requireName(c, "flow", flow.key);
  // A malformed FANOUT_ALLOW_HOSTS throws here, before a streamed answer has started.
  return runFanout(c, items, rest, createUrlGuard(s.FANOUT_ALLOW_HOSTS), keys, flow);
});

/**
 * Run a checked fan-out and answer as POST /v1/fanout does: JSON in request order (keyed by `keys`), or streamed as
 * the `Accept` header asks. Every URL and redirect hop passes `guard` (the demo's keeps them on its upstream); under
 * a `flow` key (checked) every call waits for the key's permits.
 *
 * @example
 * return runFanout(c, items, options, demoUpstreamGuard(settings(c.env).FANOUT_ALLOW_HOSTS));
 */
export async function runFanout(
  c: Context<AppEnv>,
  items: FanoutItem[],
  rest: FanoutOptions,
  guard: UrlGuard,
  keys?: string[],
  flow?: FlowSpec,
): Promise<Response> {
  const startedAt = Date.now();
  const s = settings(c.env);
  const options = { ...rest, concurrency: Math.min(rest.concurrency, s.FANOUT_MAX_CONCURRENCY) };
  const abort = new AbortController();
  // Calls under a flow key wait for its permits within the deadline; the gate holds up to this fan-out's concurrency.
  const gate =
    flow &&
    flowGate(c.env, ownerOf(c), flow, {
      holder: "fanout",
      max: options.concurrency * (options.hedgeAfterMs === null ? 1 : 2),
      waitMs: () => startedAt + options.deadlineMs - Date.now(),
    });
  const ctx = {
    signal: anySignal([c.req.raw.signal, abort.signal]),
    allowHosts: s.FANOUT_ALLOW_HOSTS,
    guard,
    maxResponseBytes: s.FANOUT_MAX_RESPONSE_BYTES,
    gate,
  };

  const streaming = streamingOf(c.req.header("accept"));
  if (streaming) {
    const seen: FanoutResult[] = [];
    const summary = () => summarize(seen, startedAt, options.concurrency);
    const results = closing(tally(fanout(items, options, ctx), seen), gate);
    return streamedResponse(results, streaming, "result", summary, abort);
  }

  let list: FanoutResult[];
  try {
    list = await fanoutAll(items, options, ctx);
  } finally {
    await gate?.close();
  }
  const summary = summarize(list, startedAt, options.concurrency);
  const results = keys ? Object.fromEntries(keys.map((k, i) => [k, list[i] as FanoutResult])) : list;
  return c.json({ results, summary }, 200);
}
