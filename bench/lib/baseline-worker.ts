/**
 * Serves a one-file baseline worker (bench/baselines/*.js) on Miniflare the way scripts/lib/worker.ts serves ours:
 * the same compatibility date and flags from wrangler.toml, on a loopback port, logs dropped, optionally with
 * SQLite-backed Durable Object classes the script exports. The platform's limit a scenario compares ours with.
 */
import { convertV4MiniflareOptions, Miniflare, type V4MiniflareOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = new URL("../../", import.meta.url).pathname;
let compat: ReturnType<typeof unstable_getMiniflareWorkerOptions>["workerOptions"] | undefined;

/**
 * @example
 * const room = await startBaselineWorker(`${root}bench/baselines/broadcast-room.js`, { ROOM: "BroadcastRoom" });
 */
export async function startBaselineWorker(
  scriptPath: string,
  durableObjects: Record<string, string> = {},
): Promise<{ url: string; stop(): Promise<void> }> {
  // Read once: bench/startup.bench.ts times this function, and the config is not part of a worker's start.
  compat ??= unstable_getMiniflareWorkerOptions(`${root}wrangler.toml`).workerOptions;
  const { compatibilityDate, compatibilityFlags } = compat;
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      workers: [
        {
          name: "baseline",
          modules: true,
          scriptPath,
          compatibilityDate,
          compatibilityFlags,
          durableObjects: Object.fromEntries(
            Object.entries(durableObjects).map(([binding, className]) => [binding, { className, useSQLite: true }]),
          ),
        },
      ],
      host: "127.0.0.1",
      port: 0,
      handleStructuredLogs: () => {},
    } as V4MiniflareOptions),
  );
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, stop: () => mf.dispose() };
}
