/**
 * An example Worker that uses edgeloop through a service binding (`env.EDGELOOP`, wrangler.toml `[[services]]`):
 *
 *   POST /orders   takes the lock `orders`, numbers the order with the counter `orders` (a write fenced by the lock),
 *                  and tells NOTIFY_URLS about it in one fan-out: the typed client over the binding
 *   GET  /orders   the counter, read with a plain RPC call
 *   POST /hooks/:n a stand-in receiver for the notifications when NOTIFY_URLS is empty
 *
 * Everything it names lives in edgeloop's namespace `shop`, as the binding's props say.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { createClient, EdgeloopError, type EdgeloopRpc, rpc } from "edgeloop/client";

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

/**
 * The default entrypoint is a WorkerEntrypoint, so that methods other Workers may call by RPC (a handler for
 * edgeloop's jobs, say) can be added beside `fetch`.
 */
export default class OrdersWorker extends WorkerEntrypoint<Env> {
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/orders" && request.method === "POST") return await placeOrder(this.env, url.origin);
      if (url.pathname === "/orders" && request.method === "GET") {
        return Response.json(await rpc(this.env.EDGELOOP.counter("orders").get()));
      }
      if (url.pathname.startsWith("/hooks/") && request.method === "POST") return new Response(null, { status: 204 });
      return new Response("not found\n", { status: 404 });
    } catch (err) {
      // edgeloop's refusals (a lock held past waitMs, a limit): its problem, as it answered it.
      if (err instanceof EdgeloopError) return Response.json(err.problem, { status: err.status });
      throw err;
    }
  }
}
