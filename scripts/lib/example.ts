/**
 * The binding example (examples/binding/) served beside edgeloop on one Miniflare, as Cloudflare runs two Workers
 * with a service binding between them: the example answers on the URL, edgeloop is reached through its `EDGELOOP`
 * binding (the `Edgeloop` entrypoint, with the props the example's wrangler.toml gives), and edgeloop binds the
 * example back as JOBS_SERVICE, so its `service` jobs run on the example's `handle`. Both are the bundles
 * `wrangler deploy` would upload, and their bindings come from their own wrangler.toml files.
 *
 * Tooling shared by `npm run example:binding` (scripts/example-binding.ts), its e2e test and the binding benchmark.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import {
  edgeloopWorker,
  freePort,
  type MiniflareOptions,
  type RunningWorker,
  serveWorkers,
  workerFrom,
} from "./worker.ts";

const root = new URL("../../", import.meta.url).pathname;
export const EXAMPLE_CONFIG = join(root, "examples/binding/wrangler.toml");
const EXAMPLE_NAME = "edgeloop-binding-example";

/** Build the example Worker (wrangler deploy --dry-run of its config) into `outdir`; the bundle's path. */
export function buildExample(outdir = join(root, ".wrangler/bundles", `example-${process.pid}-${Date.now()}`)): string {
  execFileSync(
    join(root, "node_modules/.bin/wrangler"),
    ["deploy", "--dry-run", "-c", EXAMPLE_CONFIG, "--outdir", outdir],
    {
      cwd: root,
      stdio: "ignore",
    },
  );
  return join(outdir, "index.js");
}

export interface ExampleOptions extends Omit<MiniflareOptions, "assets"> {
  /** Overrides of edgeloop's [vars] (FANOUT_ALLOW_HOSTS gets the example's own address added). */
  vars?: Record<string, string>;
  /** Overrides of the example's [vars] (NOTIFY_URLS). */
  exampleVars?: Record<string, string>;
}

/**
 * Serve the example Worker on a URL, bound to edgeloop (`edgeloopBundle`) beside it. The example's own address is
 * allowed through edgeloop's URL guard, so its stand-in receivers (/hooks/…) can be fanned out to.
 *
 * @example
 * const example = await startExample(buildBundle(), buildExample());
 * await fetch(`${example.url}/orders`, { method: "POST" });
 */
export async function startExample(
  edgeloopBundle: string,
  exampleBundle: string,
  { vars = {}, exampleVars = {}, ...opts }: ExampleOptions = {},
): Promise<RunningWorker> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? (await freePort());
  const self = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const allow = [vars.FANOUT_ALLOW_HOSTS, self].filter(Boolean).join(",");
  const edgeloop = edgeloopWorker(edgeloopBundle, {
    FENCE_SECRET: "example-fence-secret",
    JOBS_SERVICE_BINDING: "JOBS_SERVICE",
    ...vars,
    FANOUT_ALLOW_HOSTS: allow,
  });
  // What `[[services]] binding = "JOBS_SERVICE", service = "edgeloop-binding-example"` says in a wrangler.toml.
  edgeloop.serviceBindings = { ...edgeloop.serviceBindings, JOBS_SERVICE: { name: EXAMPLE_NAME } };
  return serveWorkers([workerFrom(EXAMPLE_CONFIG, exampleBundle, EXAMPLE_NAME, exampleVars), edgeloop], {
    ...opts,
    host,
    port,
  });
}
