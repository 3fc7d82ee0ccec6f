/**
 * An example Worker that uses edgeloop through a service binding (`env.EDGELOOP`, wrangler.toml `[[services]]`):
 *
 *   POST /orders   takes the lock `orders`, numbers the order with the counter `orders` (a write fenced by the lock),
 *                  and tells NOTIFY_URLS about it in one fan-out: the typed client over the binding
 *   GET  /orders   the counter, read with a plain RPC call
 *   POST /hooks/:n a stand-in receiver for the notifications when NOTIFY_URLS is empty
 *   POST /receipts {orders: [1, 2]}   a `service` job in edgeloop whose items come back to this Worker's `handle`
 *   GET  /receipts/:job               the job's state and every receipt
 *
 * Everything it names lives in edgeloop's namespace `shop`, as the binding's props say. The other direction: edgeloop
 * binds this Worker as JOBS_SERVICE (scripts/lib/example.ts), so its `service` jobs' chunks arrive at `handle` below,
 * with the jobs' durability (each item answered once by index, retries, dead letters) and none of their code here.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import {
  createClient,
  EdgeloopError,
  type EdgeloopRpc,
  rpc,
  type ServiceAnswer,
  type ServiceContext,
  type ServiceItem,
  type ServiceTarget,
} from "edgeloop/client";

export interface Env {
  /** edgeloop's `Edgeloop` entrypoint: its HTTP API (`fetch`, for createClient) and its RPC methods. */
  EDGELOOP: Fetcher & EdgeloopRpc;
  NOTIFY_URLS: string;
}

/** Number an order and tell everyone who wants to know, one order at a time. */
async function placeOrder(env: Env, origin: string): Promise<Response> {
  const edgeloop = createClient({ binding: env.EDGELOOP });
  const notify = env.NOTIFY_URLS ? env.NOTIFY_URLS.split(",") : [`${origin}/hooks/warehouse`, `${origin}/hooks/mail`];
  // Held until the end of the block (and renewed meanwhile); released even if a step throws.
  await using lease = await edgeloop.lock("orders").acquire({ ttlMs: 10_000, waitMs: 5_000 });
  const { value: order } = await edgeloop.counter("orders").increment(1, { fence: lease });
  const { results } = await edgeloop.fanout(
    notify.map((url) => ({ url, method: "POST" as const, body: { order } })),
    { concurrency: 6, deadlineMs: 5_000 },
  );
  const notified = results.map((r) => ({ url: r.url, outcome: r.outcome, status: r.status ?? null }));
  return Response.json({ order, lockToken: lease.token, notified }, { status: 201 });
}

/** Ask edgeloop for the receipts of some orders: a `service` job, run by `handle` below, chunk by chunk. */
async function requestReceipts(env: Env, request: Request): Promise<Response> {
  const { orders } = (await request.json()) as { orders: number[] };
  const edgeloop = createClient({ binding: env.EDGELOOP });
  const job = await edgeloop.jobs.create({ type: "service", items: orders.map((order) => ({ order })) });
  return Response.json({ job: job.id, state: job.state }, { status: 202 });
}

async function readReceipts(env: Env, jobId: string): Promise<Response> {
  const edgeloop = createClient({ binding: env.EDGELOOP });
  const { state, done, failed, total } = await edgeloop.jobs.get(jobId);
  const receipts = [];
  for await (const r of edgeloop.jobs.results(jobId)) receipts.push(r.ok ? r.value : { error: r.error });
  return Response.json({ state, done, failed, total, receipts });
}

/** One order's receipt: its number and a digest of it (the work a real handler would do: render, store, mail). */
async function receiptOf(order: number, key: string): Promise<ServiceAnswer["value"]> {
  const text = `receipt for order ${order}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const sha256 = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { order, text, sha256, key };
}

/**
 * The default entrypoint is a WorkerEntrypoint: besides `fetch`, edgeloop calls its `handle` by RPC with each chunk
 * of a `service` job (edgeloop's wrangler.toml: `[[services]] binding = "JOBS_SERVICE"` and
 * `JOBS_SERVICE_BINDING = "JOBS_SERVICE"`).
 */
export default class OrdersWorker extends WorkerEntrypoint<Env> implements ServiceTarget {
  /**
   * A chunk of a receipts job. Each answer is reported as soon as it is made, so a crash later in the chunk keeps it
   * (the redelivery brings only the items still unanswered); an item that is not an order fails for good.
   */
  async handle(items: ServiceItem[], ctx: ServiceContext): Promise<ServiceAnswer[]> {
    for (const { index, key, data } of items) {
      const order = (data as { order?: unknown } | null)?.order;
      if (typeof order !== "number") {
        await ctx.report([{ index, error: "an item is {order: <number>}" }]);
        continue;
      }
      await ctx.report([{ index, value: await receiptOf(order, key) }]);
    }
    return [];
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/orders" && request.method === "POST") return await placeOrder(this.env, url.origin);
      if (url.pathname === "/orders" && request.method === "GET") {
        return Response.json(await rpc(this.env.EDGELOOP.counter("orders").get()));
      }
      if (url.pathname.startsWith("/hooks/") && request.method === "POST") return new Response(null, { status: 204 });
      if (url.pathname === "/receipts" && request.method === "POST") return await requestReceipts(this.env, request);
      const receipts = /^\/receipts\/([^/]+)$/.exec(url.pathname);
      if (receipts?.[1] && request.method === "GET") return await readReceipts(this.env, receipts[1]);
      return new Response("not found\n", { status: 404 });
    } catch (err) {
      // edgeloop's refusals (a lock held past waitMs, a limit): its problem, as it answered it.
      if (err instanceof EdgeloopError) return Response.json(err.problem, { status: err.status });
      throw err;
    }
  }
}
