/**
 * The top of the OpenAPI document served at /openapi.json: info, license, servers, the bearer scheme and one tag per
 * function family. The operations come from each route's `createRoute` (operationId `verbNoun` in camelCase).
 * test/e2e/openapi.test.ts lints it with Redocly's recommended rules and type-checks a client generated from it.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Env as HonoEnv } from "hono";
// Named imports, without `with { type: "json" }` (which allows only the default import): the bundle keeps just them.
import { license, version } from "../../package.json";

/** The families, in the order /docs lists them. */
export const TAGS = [
  { name: "health", description: "Liveness and version, without auth." },
  {
    name: "fanout",
    description:
      "Many upstream calls at once, with bounded concurrency, timeouts, a deadline and retries (asyncio.gather).",
  },
  {
    name: "pages",
    description:
      "An upstream's pages fetched at the edge and answered in page order: Link headers, cursors or page numbers.",
  },
  { name: "counters", description: "Atomic integer counters: bounded increments, compare-and-set, fenced writes." },
  { name: "locks", description: "Leased locks with fencing tokens and FIFO long-poll waiters (asyncio.Lock)." },
  {
    name: "semaphores",
    description: "Weighted, leased permits under a limit, with FIFO long-poll waiters (asyncio.Semaphore).",
  },
  { name: "ratelimits", description: "Exact per-key rate limits (GCRA: a smoothly refilling bucket)." },
  {
    name: "rooms",
    description: "WebSocket rooms: tickets, the upgrade, server-side publishing and who is in a room.",
  },
  {
    name: "jobs",
    description: "Durable fan-outs and webhooks on Cloudflare Queues: create, follow, page results, cancel, retry.",
  },
  {
    name: "flow",
    description: "Flow-control keys shared by jobs, fan-outs and crawls: parallelism and a rate, pause and resume.",
  },
  { name: "schedules", description: "Cron schedules that create a job at each fire time, in a time zone." },
  { name: "tokens", description: "Scoped tokens, for the root token only: create, list, revoke, rotate." },
  { name: "demo", description: "What the demo page at / needs in local development (DEMO_MODE)." },
];

/**
 * Register the bearer scheme and serve the document at `path`.
 *
 * @example
 * serveOpenApi(app, "/openapi.json");
 */
export function serveOpenApi<E extends HonoEnv>(app: OpenAPIHono<E>, path: string): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description:
      "The API_TOKEN secret (`npm start` uses edgeloop-dev-token), or a scoped token (POST /v1/tokens) holding the " +
      "operation's scope. The root token acts in a namespace with the Edgeloop-Namespace header.",
  });
  app.doc31(path, {
    openapi: "3.1.0",
    info: {
      title: "edgeloop",
      version,
      description:
        "asyncio's concurrency patterns as edge services: fan-out, paginated fetch, locks, counters, semaphores, rate limits, rooms, " +
        "jobs, schedules. Errors are `application/problem+json` (RFC 9457).",
      license: { name: license, url: `https://spdx.org/licenses/${license}.html` },
    },
    // Relative: the document describes whichever origin serves it (a deployment, `npm start`, a test).
    servers: [{ url: "/", description: "This deployment" }],
    tags: TAGS,
    security: [{ bearer: [] }],
  });
}
