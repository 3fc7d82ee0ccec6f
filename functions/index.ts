/**
 * Worker entry: mounts every function family under /v1, serves /healthz, /openapi.json and /docs, and
 * exports the Durable Object classes and the queue consumer.
 */
import { requestId } from "hono/request-id";
import pkg from "../package.json" with { type: "json" };
import { accessLog } from "../src/http/access-log";
import { createApp } from "../src/http/app";
import { bearerAuth } from "../src/http/auth";
import { maxBody } from "../src/http/body-limit";
import { notFound, onError } from "../src/http/problem";
import type { JobMessage } from "../src/jobs/types";
import { docs } from "./docs";
import { fanoutApp } from "./fanout";
import { health } from "./health";
import { jobs } from "./jobs";
import { queue } from "./queue";

const app = createApp();

app.use(requestId());
app.use(accessLog());
app.onError(onError);
app.notFound(notFound);

app.route("/", health);
app.route("/", docs);

app.use(
  "/v1/*",
  bearerAuth((env) => env.API_TOKEN),
);
app.use("/v1/*", maxBody());

app.route("/v1/fanout", fanoutApp);
app.route("/v1/jobs", jobs);

app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
app.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: {
    title: "edgeloop",
    version: pkg.version,
    description:
      "asyncio's concurrency patterns as edge services: fan-out, locks, counters, semaphores, rate limits, rooms, jobs.",
  },
  security: [{ bearer: [] }],
});

export { Job } from "../src/objects/job";
export { app };

export default {
  fetch: app.fetch,
  queue,
} satisfies ExportedHandler<Env, JobMessage>;
