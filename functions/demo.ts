/**
 * /demo/api: what the demo page at `/` calls instead of /v1, so that it never needs the API token. Served only with
 * DEMO_MODE=true (`npm start`); otherwise every route answers 404.
 *
 * Each route is one operation of a small allowlist: it validates the page's request tightly (names prefixed `demo-`
 * and at most 37 characters, a fixed ticket lifetime, increments of one), then makes the one /v1 call the operation
 * stands for, server-side, with the API token, and passes on only what the page needs. Nothing depends on the Host or
 * on who calls: a spoofed Host gets exactly what a loopback caller gets. All demo calls together are limited to
 * DEMO_RATE_LIMIT per DEMO_RATE_PERIOD_MS (one bucket, so no caller-chosen value ever names an object).
 *
 *   POST /demo/api/rooms/:room/tickets        → POST /v1/rooms/:room/tickets  (room demo-… or job:<id>, 60 s)
 *   GET  /demo/api/counters/:name             → GET  /v1/counters/:name       (name demo-…)
 *   POST /demo/api/counters/:name/increment   → POST /v1/counters/:name/increment {by: 1}
 *
 * A new panel (fan-out, locks, jobs) is one more route here mapped to its /v1 call.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type AppEnv, createApp } from "../src/http/app";
import { maxBody } from "../src/http/body-limit";
import { Problem, type ProblemBody, problem } from "../src/http/problem";
import { rateLimit } from "../src/http/rate-limit";
import { jsonBody, jsonResponse, MemberName, problemDoc } from "../src/http/schemas";
import { settings } from "../src/settings";

/** How the demo routes reach /v1: the Worker's own fetch (index.ts passes it; no network hop). */
export type ApiFetch = (request: Request, env: Env, ctx: Context["executionCtx"]) => Response | Promise<Response>;

const DEMO_NAME = "demo-[A-Za-z0-9._:-]{1,32}";

const DemoName = z
  .string()
  .regex(new RegExp(`^${DEMO_NAME}$`), "must be demo- and 1-32 characters of A-Z a-z 0-9 . _ : -")
  .openapi({ param: { name: "name", in: "path" }, example: "demo-visits" });

const DemoRoom = z
  .string()
  .regex(new RegExp(`^(${DEMO_NAME}|job:[0-9a-f]{32})$`), "must be demo-… (1-32 more characters) or job:<job id>")
  .openapi({ param: { name: "room", in: "path" }, example: "demo-lobby" });

const DemoTicket = z
  .object({ ticket: z.string(), room: z.string(), user: z.string(), expiresAt: z.string() })
  .openapi("DemoTicket");
const DemoCounter = z
  .object({ name: z.string(), value: z.number().int(), updatedAt: z.number().nullable() })
  .openapi("DemoCounter");

const route = <M extends "get" | "post", P extends string>(
  method: M,
  path: P,
  operationId: string,
  summary: string,
) => ({
  method,
  path,
  tags: ["demo"],
  operationId,
  summary: `${summary} (demo page; DEMO_MODE only)`,
  security: [],
});

const refusals = {
  400: problemDoc("Malformed or invalid request (names must start with demo-)"),
  404: problemDoc("DEMO_MODE is off"),
  413: problemDoc("Request body too large"),
  429: problemDoc("All demo calls together are over DEMO_RATE_LIMIT"),
};

const ticketRoute = createRoute({
  ...route(
    "post",
    "/demo/api/rooms/{room}/tickets",
    "createDemoTicket",
    "A 60-second ticket to join a demo- room or a job's room",
  ),
  request: {
    params: z.object({ room: DemoRoom }),
    body: jsonBody(z.object({ user: MemberName }).strict().openapi("DemoTicketRequest"), { user: "ada" }),
  },
  responses: { 201: jsonResponse(DemoTicket, "A signed ticket"), ...refusals },
});

const counterRoute = createRoute({
  ...route("get", "/demo/api/counters/{name}", "getDemoCounter", "Read a demo- counter"),
  request: { params: z.object({ name: DemoName }) },
  responses: { 200: jsonResponse(DemoCounter, "The counter"), ...refusals },
});

const incrementRoute = createRoute({
  ...route(
    "post",
    "/demo/api/counters/{name}/increment",
    "incrementDemoCounter",
    "Add one to a demo- counter (no body)",
  ),
  request: { params: z.object({ name: DemoName }) },
  responses: { 200: jsonResponse(DemoCounter, "The counter"), ...refusals },
});

/** Lifetime of a demo ticket: it only has to outlive the handshake. */
const DEMO_TICKET_SECONDS = 60;

/**
 * The demo routes, making their /v1 calls through `api`.
 *
 * @example
 * app.route("/", demo((request, env, ctx) => app.fetch(request, env, ctx)));
 */
export function demo(api: ApiFetch) {
  /** Make one /v1 call with the API token; its JSON on success, its problem (passed on as is) otherwise. */
  async function v1<T>(c: Context<AppEnv>, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const request = new Request(new URL(path, "https://demo.internal"), {
      method,
      headers: {
        authorization: `Bearer ${c.env.API_TOKEN ?? ""}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const res = await api(request, c.env, c.executionCtx);
    if (res.ok) return res.json<T>();
    const answer = await res.json<ProblemBody>();
    const retryAfter = res.headers.get("retry-after");
    throw new Problem(res.status as 400, answer, retryAfter ? { "retry-after": retryAfter } : {});
  }

  const app = createApp();
  app.use("/demo/api/*", async function demoMode(c, next) {
    if (!settings(c.env).DEMO_MODE) {
      throw problem(404, "The demo routes are served only with DEMO_MODE=true (npm start).", { type: "demo-off" });
    }
    await next();
  });
  app.use(
    "/demo/api/*",
    rateLimit({
      key: () => "demo",
      limit: (c) => settings(c.env).DEMO_RATE_LIMIT,
      periodMs: (c) => settings(c.env).DEMO_RATE_PERIOD_MS,
      setting: "DEMO_RATE_LIMIT",
    }),
  );
  app.use("/demo/api/*", maxBody());

  return app
    .openapi(ticketRoute, async (c) => {
      const { room } = c.req.valid("param");
      const { user } = c.req.valid("json");
      const ttlSec = Math.min(DEMO_TICKET_SECONDS, settings(c.env).ROOM_TICKET_MAX_TTL_SECONDS);
      const t = await v1<z.infer<typeof DemoTicket>>(c, "POST", `/v1/rooms/${encodeURIComponent(room)}/tickets`, {
        user,
        ttlSec,
      });
      return c.json({ ticket: t.ticket, room: t.room, user: t.user, expiresAt: t.expiresAt }, 201);
    })
    .openapi(counterRoute, async (c) => {
      const { name } = c.req.valid("param");
      const counter = await v1<z.infer<typeof DemoCounter>>(c, "GET", `/v1/counters/${encodeURIComponent(name)}`);
      return c.json({ name: counter.name, value: counter.value, updatedAt: counter.updatedAt }, 200);
    })
    .openapi(incrementRoute, async (c) => {
      const { name } = c.req.valid("param");
      // It always adds one: a body asking for more is refused, not silently ignored.
      if ((await c.req.text()) !== "") {
        throw problem(400, "This demo route takes no body: it adds one.", { type: "invalid-request" });
      }
      const path = `/v1/counters/${encodeURIComponent(name)}/increment`;
      const counter = await v1<z.infer<typeof DemoCounter>>(c, "POST", path, { by: 1 });
      return c.json({ name: counter.name, value: counter.value, updatedAt: counter.updatedAt }, 200);
    });
}
