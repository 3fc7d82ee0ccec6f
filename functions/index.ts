/**
 * Worker entry: mounts every function family under /v1, serves /healthz, /openapi.json and /docs, and
 * exports the Durable Object classes, the queue consumer and the `Edgeloop` entrypoint other Workers bind
 * (src/binding/: the same app, as the binding's props say).
 */
import { requestId } from "hono/request-id";
import { bindingOrBearer, edgeloopEntrypoint } from "../src/binding";
import { accessLog } from "../src/http/access-log";
import { createApp } from "../src/http/app";
import { bearerAuth } from "../src/http/auth";
import { failedAuthLimit } from "../src/http/auth-failures";
import { maxBody } from "../src/http/body-limit";
import { serveOpenApi } from "../src/http/openapi";
import { notFound, onError } from "../src/http/problem";
import { type JobMessage, queue } from "../src/jobs";
import { apiRateLimit } from "../src/ratelimits";
import { scopedTokens } from "../src/tokens";
import { counters } from "./counters";
import { demo } from "./demo";
import { docs } from "./docs";
import { fanoutApp } from "./fanout";
import { flow } from "./flow";
import { health } from "./health";
import { jobs } from "./jobs";
import { locks } from "./locks";
import { pagesApp } from "./pages";
import { ratelimits } from "./ratelimits";
import { roomSockets, rooms } from "./rooms";
import { schedules } from "./schedules";
import { semaphores } from "./semaphores";
import { tokens } from "./tokens";

const app = createApp();

app.use(requestId());
app.use(accessLog());
app.onError(onError);
app.notFound(notFound);

app.route("/", health);
app.route("/", docs);
// The demo page's routes call /v1 through the app itself, with the token, so the page never holds it.
app.route(
  "/",
  demo((request, env, ctx) => app.fetch(request, env, ctx)),
);

// Browsers cannot send headers on a WebSocket: the rooms upgrade is authorised by its signed ticket (and its joins
// limited by its room, per ticket user). Mounted before the middleware below, it answers without running it.
app.route("/v1/rooms", roomSockets);
// A request the Edgeloop entrypoint runs acts as its binding's props; every other one needs a bearer token.
app.use("/v1/*", bindingOrBearer(bearerAuth((env) => env.API_TOKEN, failedAuthLimit(), scopedTokens())));
app.use("/v1/*", apiRateLimit());
app.use("/v1/*", maxBody());

app.route("/v1/rooms", rooms);
app.route("/v1/counters", counters);
app.route("/v1/locks", locks);
app.route("/v1/semaphores", semaphores);
app.route("/v1/ratelimits", ratelimits);
app.route("/v1/fanout", fanoutApp);
app.route("/v1/pages", pagesApp);
app.route("/v1/jobs", jobs);
app.route("/v1/flow", flow);
app.route("/v1/schedules", schedules);
app.route("/v1/tokens", tokens);

serveOpenApi(app, "/openapi.json");

export { Counter } from "../src/counters";
export { Flow } from "../src/flow";
export { Job, JobIndex } from "../src/jobs";
export { Lock } from "../src/locks";
export { RateLimiter } from "../src/ratelimits";
export { Room, RoomShard } from "../src/rooms";
export { Schedule, ScheduleIndex } from "../src/schedules";
export { Semaphore } from "../src/semaphores";
export { Tokens } from "../src/tokens";
export { app };

/** What other Workers bind: `[[services]] … entrypoint = "Edgeloop"` (docs/binding.md). */
export const Edgeloop = edgeloopEntrypoint(app.fetch);

export default {
  fetch: app.fetch,
  queue,
} satisfies ExportedHandler<Env, JobMessage>;
