/**
 * GET /demo/config: what the demo page at `/` needs to call the API in local development (the API token).
 *
 * Off unless DEMO_MODE is "true" (as `npm start` sets it), and even then served only to loopback hosts, so a
 * deployment never hands its token to a visitor. Without it the page asks for a token instead.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createApp } from "../src/http/app";
import { problem } from "../src/http/problem";
import { problemDoc } from "../src/http/schemas";
import { settings } from "../src/settings";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

const route = createRoute({
  method: "get",
  path: "/demo/config",
  tags: ["demo"],
  operationId: "getDemoConfig",
  summary: "Demo page settings (local development only, DEMO_MODE)",
  security: [],
  responses: {
    200: {
      description: "The API token for the demo page",
      content: { "application/json": { schema: z.object({ token: z.string() }) } },
    },
    404: problemDoc("DEMO_MODE is off"),
  },
});

export const demo = createApp().openapi(route, (c) => {
  const token = c.env.API_TOKEN;
  if (!settings(c.env).DEMO_MODE || !token || !LOOPBACK.has(new URL(c.req.url).hostname)) {
    throw problem(404, "The demo configuration is served only with DEMO_MODE=true on a loopback host.");
  }
  c.header("cache-control", "no-store");
  return c.json({ token }, 200);
});
