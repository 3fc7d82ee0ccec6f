/**
 * Serves the built worker (the same bundle `wrangler deploy` uploads) on Miniflare directly, with the bindings
 * wrangler.toml declares (read through wrangler's own config-to-Miniflare translation, so the two never drift).
 * Also starts `wrangler dev` for the one figure that is recorded through it.
 *
 * Tooling shared by the e2e tests (the bundle is built once per run by test/setup/e2e-bundle.ts) and the
 * benchmarks (bench/run.ts builds it once too); neither owns it.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { build } from "esbuild";
import { convertV4MiniflareOptions, Miniflare, type V4MiniflareOptions, type V4WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

export const BENCH_TOKEN = "bench-token";
const root = new URL("../../", import.meta.url).pathname;

export interface RunningWorker {
  url: string;
  token: string;
  stop(): Promise<void>;
  /** The Miniflare instance serving it (startMiniflare only): benches read Durable Objects through it. */
  miniflare?: Miniflare;
}

/** Build the bundle once (wrangler deploy --dry-run) into `outdir` (a fresh one by default) and return its path. */
export function buildBundle(
  // Inside the project: workerd refuses module paths that climb out of the config's root directory.
  outdir = join(root, ".wrangler/bundles", `${process.pid}-${Date.now()}`),
): string {
  execFileSync(join(root, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outdir], {
    cwd: root,
    stdio: "ignore",
  });
  return join(outdir, "index.js");
}

export interface MiniflareOptions {
  /** false leaves out the static-assets router (only to measure that hop). */
  assets?: boolean;
  /**
   * Keep Durable Object, queue and cache state under this directory, laid out as `wrangler dev --persist-to` does
   * (its default is .wrangler/state), so both servers see the same data. Without it, state lives in memory.
   */
  persistTo?: string;
  /** Where to listen (default: 127.0.0.1 on a port the OS picks). */
  host?: string;
  port?: number;
  /** Receives what the worker logs (default: dropped). */
  onLog?: (log: { level: string; message: string }) => void;
}

/**
 * The Miniflare (4-style) options of one worker built from `config` (its wrangler.toml) into `bundle`, named `name`;
 * `vars` override its [vars]. `assets: false` leaves out the static-assets router, which locally puts an extra worker
 * hop before every request (only to measure that hop: the service's own configuration has it).
 */
export function workerFrom(
  config: string,
  bundle: string,
  name: string,
  vars: Record<string, string> = {},
  assets = true,
): V4WorkerOptions {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  // The bundle is one ES module: wrangler's module rules (for unbundled imports) do not apply to it.
  const { modulesRules: _rules, assets: assetOptions, ...options } = workerOptions;
  return {
    ...options,
    ...(assets ? { assets: assetOptions } : {}),
    name,
    modules: true,
    scriptPath: bundle,
    // Inside the project: workerd refuses module paths that climb out of the root (a config's own folder by default).
    rootPath: root,
    bindings: { ...(workerOptions.bindings ?? {}), ...vars },
  } as V4WorkerOptions;
}

/** The built edgeloop worker's Miniflare options (named `edgeloop`, as bindings name it), with the bench token. */
export const edgeloopWorker = (bundle: string, vars: Record<string, string> = {}, assets = true) =>
  workerFrom(join(root, "wrangler.toml"), bundle, "edgeloop", { API_TOKEN: BENCH_TOKEN, ...vars }, assets);

/**
 * Serve `workers` (Miniflare 4-style options) on one Miniflare: the first one answers on its URL, the others are
 * reached through its bindings. Options as `startMiniflare` takes them.
 */
export async function serveWorkers(
  workers: V4WorkerOptions[],
  opts: Omit<MiniflareOptions, "assets"> = {},
): Promise<RunningWorker> {
  // wrangler hands out Miniflare 4-style options; Miniflare 5 converts them itself.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      workers,
      host: opts.host ?? "127.0.0.1",
      port: opts.port ?? 0,
      // The worker logs a JSON line per request; printing them would measure the terminal, not the worker.
      handleStructuredLogs: opts.onLog ?? (() => {}),
      // wrangler dev's layout: resources under <persist-to>/v3, scratch files under .wrangler/tmp.
      ...(opts.persistTo === undefined
        ? {}
        : { resourcePersistencePath: join(opts.persistTo, "v3"), resourceTmpPath: join(root, ".wrangler/tmp") }),
    }),
  );
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, token: BENCH_TOKEN, stop: () => mf.dispose(), miniflare: mf };
}

/** Start the built worker on Miniflare; `vars` override wrangler.toml [vars] and .dev.vars. */
export async function startMiniflare(
  bundle: string,
  vars: Record<string, string> = {},
  opts: MiniflareOptions = {},
): Promise<RunningWorker> {
  return serveWorkers([edgeloopWorker(bundle, vars, opts.assets !== false)], opts);
}

/** A port nobody listens on right now (the OS picks it), for servers that need a fixed one. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Start `wrangler dev` (local) on a free port, with more arguments if given, and wait until /healthz answers. */
export async function startWranglerDev(
  port: number,
  vars: Record<string, string> = {},
  more: string[] = [],
): Promise<RunningWorker> {
  const args = ["dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--var", `API_TOKEN:${BENCH_TOKEN}`];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  args.push(...more);
  const child: ChildProcess = spawn(join(root, "node_modules/.bin/wrangler"), args, {
    cwd: root,
    stdio: "ignore",
    // No lookup of workers.cloudflare.com for the `cf` object (a placeholder instead): loopback only.
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    detached: true,
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    token: BENCH_TOKEN,
    stop: async () => {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
    },
  };
}

/**
 * Start `npm run serve` (scripts/serve.ts) on `port` with state under `persistTo`, in a process group of its own,
 * and resolve once it prints that it is ready.
 */
export async function startServe(
  port: number,
  persistTo: string,
  vars: Record<string, string> = {},
): Promise<RunningWorker> {
  const args = ["run", "serve", "--", "--port", String(port), "--persist-to", persistTo];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child: ChildProcess = spawn("npm", args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /edgeloop ready on (http:\/\/\S+)/.exec(output);
      if (ready) resolve(ready[1] as string);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then(() => reject(new Error(`npm run serve exited before it was ready:\n${output}`)));
  });
  // Past the ready line its request log is only drained.
  child.stdout?.removeAllListeners("data").resume();
  child.stderr?.removeAllListeners("data").resume();
  return {
    url,
    token: vars.API_TOKEN ?? "",
    stop: async () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
      await exited;
    },
  };
}

/**
 * Serve a one-file worker (a baseline under bench/baselines/) on Miniflare the way `startMiniflare` serves ours: the
 * same compatibility date and flags, on a loopback port, bundled by esbuild.
 */
export async function startBaseline(entry: string): Promise<RunningWorker> {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, "wrangler.toml"));
  const built = await build({ entryPoints: [entry], bundle: true, format: "esm", target: "es2022", write: false });
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      workers: [
        {
          name: "baseline",
          modules: true,
          script: built.outputFiles[0]?.text ?? "",
          compatibilityDate: workerOptions.compatibilityDate,
          compatibilityFlags: workerOptions.compatibilityFlags,
        },
      ],
      host: "127.0.0.1",
      port: 0,
    } as V4MiniflareOptions),
  );
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, token: "", stop: () => mf.dispose() };
}
