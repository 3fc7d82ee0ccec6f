/**
 * `npm run serve`: the production-like local server. It builds the worker as `wrangler deploy` does (the same
 * bundle) and serves it on Miniflare directly: no wrangler dev proxy in front and no inspector, several times the
 * throughput of `npm start` (bench/RESULTS.md, health.bench.ts). Everything else is as under `npm start`: the
 * bindings of wrangler.toml (Durable Objects, queues, static assets), .dev.vars and the dev values `npm start`
 * passes with `--var` (read from its script in package.json), and state persisted on disk where wrangler dev keeps
 * it (.wrangler/state), so counters, locks and jobs survive a restart and are shared with `npm start`.
 * It does not watch the sources: restart it after a change.
 *
 *   npm run serve -- [--port 8787] [--ip 127.0.0.1] [--persist-to .wrangler/state] [--var NAME:VALUE]…
 *
 * Run by Node 22 (type stripping): `node scripts/serve.ts`.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
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

/** `NAME:VALUE` pairs as a record. */
function parseVars(pairs: Iterable<string>): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const pair of pairs) {
    const colon = pair.indexOf(":");
    if (colon < 1) throw new Error(`--var ${pair}: expected NAME:VALUE`);
    vars[pair.slice(0, colon)] = pair.slice(colon + 1);
  }
  return vars;
}

/** The `--var NAME:VALUE` pairs of `npm start`, so both servers answer to the same dev token and secrets. */
function startVars(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { start: string } };
  return parseVars(Array.from(pkg.scripts.start.matchAll(/--var (\S+)/g), (m) => m[1] as string));
}

const persistTo = resolve(root, values["persist-to"]);
console.log("building the worker (wrangler deploy --dry-run)…");
const bundle = buildBundle(join(root, ".wrangler/serve"));
const worker = await startMiniflare(
  bundle,
  { ...startVars(), ...parseVars(values.var) },
  {
    persistTo,
    host: values.ip,
    port: Number(values.port),
    onLog: ({ level, message }) => (level === "error" || level === "warn" ? console.error : console.log)(message),
  },
);
console.log(`edgeloop ready on ${worker.url} (state in ${persistTo}); Ctrl+C to stop`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void worker.stop().then(() => process.exit(0));
  });
}
