/**
 * `npm run serve`: the production-like local server. It builds the worker as `wrangler deploy` does (the same
 * bundle) and serves it on Miniflare directly: no wrangler dev proxy in front and no inspector, several times the
 * throughput of `npm start` (bench/RESULTS.md, health.bench.ts). Everything else is as under `npm start`: the
 * bindings of wrangler.toml (Durable Objects, queues, static assets), .dev.vars and the dev values `npm start`
 * passes (scripts/lib/dev-vars.ts: FANOUT_ALLOW_HOSTS names this server's own address), and state persisted on disk where wrangler dev keeps
 * it (.wrangler/state), so counters, locks and jobs survive a restart and are shared with `npm start`.
 * It does not watch the sources: restart it after a change.
 *
 *   npm run serve -- [--port 8787] [--ip 127.0.0.1] [--persist-to .wrangler/state] [--var NAME:VALUE]…
 *
 * Run by Node 22 (type stripping): `node scripts/serve.ts`.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { allowHostsFor, DEV_VARS, parseVars } from "./lib/dev-vars.ts";
import { buildBundle, startMiniflare } from "./lib/worker.ts";

const root = new URL("../", import.meta.url).pathname;

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "8787" },
    ip: { type: "string", default: "127.0.0.1" },
    "persist-to": { type: "string", default: ".wrangler/state" },
    // Like wrangler dev's: overrides [vars], .dev.vars and npm start's values.
    var: { type: "string", multiple: true, default: [] },
  },
});

const given = parseVars(values.var);
const port = Number(values.port);
const persistTo = resolve(root, values["persist-to"]);
console.log("building the worker (wrangler deploy --dry-run)…");
const bundle = buildBundle(join(root, ".wrangler/serve"));
const worker = await startMiniflare(
  bundle,
  { ...DEV_VARS, ...given, FANOUT_ALLOW_HOSTS: allowHostsFor(values.ip, port, given.FANOUT_ALLOW_HOSTS) },
  {
    persistTo,
    host: values.ip,
    port,
    onLog: ({ level, message }) => (level === "error" || level === "warn" ? console.error : console.log)(message),
  },
);
console.log(`edgeloop ready on ${worker.url} (state in ${persistTo}); Ctrl+C to stop`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void worker.stop().then(() => process.exit(0));
  });
}
