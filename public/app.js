/**
 * The demo page: each panel shows one pattern through the typed client (`edgeloop/client`, src/client/, bundled by
 * scripts/build-client.ts into /build/client.js, which wrangler runs before dev and deploy): a fan-out streaming into
 * a waterfall, a lock two holders contend for, a job's progress, a room, a poll (a room of the poll kind), a counter.
 *
 * The page never holds the API token. Its client sends what it would send to /v1 to the demo routes instead
 * (/demo/api/…, served only with DEMO_MODE, as `npm start` sets it), which mirror their /v1 calls for demo- names
 * and make them server-side. Room sockets stay on /v1 (a ticket, from the demo route, authorises them).
 */
import { createClient } from "./build/client.js";
import { counterPanel } from "./panels/counter.js";
import { fanoutPanel } from "./panels/fanout.js";
import { jobsPanel } from "./panels/jobs.js";
import { lockPanel } from "./panels/locks.js";
import { pollPanel } from "./panels/poll.js";
import { roomPanel } from "./panels/room.js";

/** The client's /v1 calls, sent to the demo routes; an answer saying the demo is off shows the banner. */
async function demoFetch(input, init) {
  const res = await fetch(String(input).replace("/v1/", "/demo/api/"), init);
  if (res.status === 404 && res.headers.get("content-type") === "application/problem+json") {
    const body = await res.clone().json();
    if (body.type === "urn:edgeloop:problem:demo-off") document.getElementById("demo-off").hidden = false;
  }
  return res;
}

const client = createClient({ fetch: demoFetch });

roomPanel(client);
pollPanel(client);
counterPanel(client);
fanoutPanel(client);
lockPanel(client);
jobsPanel(client);
