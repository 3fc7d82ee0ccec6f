/**
 * `npm run example:binding`: the example Worker of examples/binding/ beside edgeloop, with the service binding
 * between them, on Miniflare (the bundles `wrangler deploy` builds; state in memory unless `--persist-to`):
 *
 *   npm run example:binding                      # http://127.0.0.1:8788
 *   curl -X POST http://127.0.0.1:8788/orders    # lock, fenced counter, fan-out: all through the binding
 *   curl http://127.0.0.1:8788/orders            # the counter, read over RPC
 *   curl -X POST http://127.0.0.1:8788/receipts -d '{"orders":[1,2]}'   # a service job, run by the example's handle
 *   curl http://127.0.0.1:8788/receipts/<job>    # its state and receipts
 *
 * Options: `--port 8788 --ip 127.0.0.1 --persist-to <dir> --var NAME:VALUE` (edgeloop's settings). Run by Node 22
 * (type stripping): `node scripts/example-binding.ts`.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEV_VARS, parseVars } from "./lib/dev-vars.ts";
import { buildExample, startExample } from "./lib/example.ts";
import { buildBundle } from "./lib/worker.ts";

const root = new URL("../", import.meta.url).pathname;

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "8788" },
    ip: { type: "string", default: "127.0.0.1" },
    "persist-to": { type: "string" },
    var: { type: "string", multiple: true, default: [] },
  },
});

console.log("building edgeloop and the example Worker (wrangler deploy --dry-run)…");
const edgeloop = buildBundle(join(root, ".wrangler/example/edgeloop"));
const example = buildExample(join(root, ".wrangler/example/worker"));
const persistTo = values["persist-to"] === undefined ? undefined : resolve(root, values["persist-to"]);
const worker = await startExample(edgeloop, example, {
  vars: { ...DEV_VARS, ...parseVars(values.var) },
  host: values.ip,
  port: Number(values.port),
  ...(persistTo ? { persistTo } : {}),
  onLog: ({ level, message }) => (level === "error" || level === "warn" ? console.error : console.log)(message),
});
console.log(
  `example ready on ${worker.url}, bound to edgeloop (props: examples/binding/wrangler.toml); Ctrl+C to stop`,
);
console.log(`  curl -X POST ${worker.url}/orders`);
console.log(`  curl ${worker.url}/orders`);
console.log(`  curl -X POST ${worker.url}/receipts -d '{"orders":[1,2]}'`);
console.log(`  curl ${worker.url}/receipts/<job>`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void worker.stop().then(() => process.exit(0));
  });
}
