/**
 * The Node baseline of fanout.bench.ts: undici `fetch` + `p-limit`, every body read to the end, in a worker thread
 * of its own so that it does not share an event loop with the loopback upstream (as workerd does not).
 *
 * Message in: { urls, concurrency }; message out: { fulfilled, rejected, cpuMs } once every call has settled (cpuMs:
 * this thread's CPU time meanwhile).
 */
import { parentPort } from "node:worker_threads";
import pLimit from "p-limit";

const port = parentPort;
if (!port) throw new Error("node-fanout.ts runs as a worker thread");

port.on("message", async ({ urls, concurrency }: { urls: string[]; concurrency: number }) => {
  const limit = pLimit(concurrency);
  const cpu = process.threadCpuUsage();
  const settled = await Promise.allSettled(
    urls.map((url) =>
      limit(async () => {
        const res = await fetch(url);
        await res.arrayBuffer();
        return res.status;
      }),
    ),
  );
  const fulfilled = settled.filter((s) => s.status === "fulfilled").length;
  const { user, system } = process.threadCpuUsage(cpu);
  port.postMessage({ fulfilled, rejected: settled.length - fulfilled, cpuMs: (user + system) / 1_000 });
});
