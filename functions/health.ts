/**
 * GET /healthz (no auth): liveness, version and which bindings this deployment has.
 */
import { createRoute, z } from "@hono/zod-openapi";
// Named imports, without `with { type: "json" }` (which allows only the default import): the bundle keeps just them.
import { name as packageName, version } from "../package.json";
import { createApp } from "../src/http/app";

const HealthSchema = z
  .object({
    status: z.literal("ok"),
    name: z.string(),
    version: z.string(),
    bindings: z.record(z.string(), z.boolean()),
    auth: z.enum(["configured", "missing"]),
  })
  .openapi("Health");

const route = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["health"],
  operationId: "getHealth",
  summary: "Liveness, version and bindings",
  security: [],
  responses: { 200: { description: "The service is up", content: { "application/json": { schema: HealthSchema } } } },
});

/** The names of the env entries that are bindings (objects), not settings (strings). */
function bindingNames(env: object): string[] {
  return Object.entries(env)
    .filter(([, value]) => typeof value === "object" && value !== null)
    .map(([name]) => name)
    .sort();
}

export const health = createApp().openapi(route, (c) =>
  c.json(
    {
      status: "ok" as const,
      name: packageName,
      version,
      bindings: Object.fromEntries(bindingNames(c.env).map((name) => [name, true])),
      auth: c.env.API_TOKEN ? ("configured" as const) : ("missing" as const),
    },
    200,
  ),
);
