/**
 * Paginated fetch figures (issue 11 §1), measured in one run against the built worker on Miniflare and a loopback
 * upstream (bench/lib/upstream.ts, GET /pages): a page-number crawl of 50 pages of 20 ms each.
 *
 * 1. prefetch 8: ideal = ceil(50 / 8) waves × 20 ms = 140 ms; wall / ideal, median of the runs;
 * 2. the same crawl one page at a time (prefetch 1): ideal 50 × 20 ms = 1,000 ms; wall / ideal;
 * 3. a Link-header crawl of the same pages (one at a time by nature): wall / ideal, the cost of reading each page's
 *    header to find the next;
 * 4. baselines: the same 50 page URLs as one POST /v1/fanout at concurrency 8 and at concurrency 1, the engine each
 *    page goes through: crawl / fan-out is what the crawl itself adds.
 * The crawls and fan-outs run in turn in every round (the machine is shared and noisy); every ratio is one of medians.
 */
import { startMiniflare } from "../scripts/lib/worker.ts";
import { median, round } from "./lib/stats.ts";
import { startUpstream } from "./lib/upstream.ts";
import type { BenchContext } from "./run.ts";

const RUNS = 9;
const PAGES = 50;
const LATENCY_MS = 20;
const PREFETCH = 8;
const IDEAL_PREFETCHED_MS = Math.ceil(PAGES / PREFETCH) * LATENCY_MS;
const IDEAL_SEQUENTIAL_MS = PAGES * LATENCY_MS;

interface Crawled {
  pages: unknown[];
  summary: { pages: number; stop: string; prefetch: number };
}

export default async function pagesBench(ctx: BenchContext): Promise<string[]> {
  const upstream = await startUpstream();
  const worker = await startMiniflare(ctx.bundle, { FANOUT_ALLOW_HOSTS: "127.0.0.1" });
  const headers = { authorization: `Bearer ${worker.token}`, "content-type": "application/json" };
  const collection = (style: string) =>
    `${upstream.url}/pages?style=${style}&total=${PAGES}&per=20&latency=${LATENCY_MS}`;

  /** One crawl, timed; it must fetch every page and stop at maxPages (page numbers) or the end (links). */
  const timed = async (body: Record<string, unknown>, stop: string): Promise<number> => {
    const started = performance.now();
    const res = await fetch(`${worker.url}/v1/pages`, { method: "POST", headers, body: JSON.stringify(body) });
    const crawled = (await res.json()) as Crawled;
    const ms = performance.now() - started;
    if (res.status !== 200 || crawled.summary.pages !== PAGES || crawled.summary.stop !== stop) {
      throw new Error(`the crawl answered ${res.status}: ${JSON.stringify(crawled.summary ?? crawled)}`);
    }
    return ms;
  };
  const byNumber = (prefetch: number) =>
    timed({ url: collection("page"), next: { page: "page" }, items: "/data", maxPages: PAGES, prefetch }, "maxPages");
  const byLink = () => timed({ url: collection("link"), next: "link", items: "/data", maxPages: PAGES }, "end");
  const requests = Array.from({ length: PAGES }, (_, i) => ({ url: `${collection("page")}&page=${i + 1}` }));
  const fanout = async (concurrency: number): Promise<number> => {
    const started = performance.now();
    const body = JSON.stringify({ requests, concurrency, deadlineMs: 60_000 });
    const res = await fetch(`${worker.url}/v1/fanout`, { method: "POST", headers, body });
    const { summary } = (await res.json()) as { summary: { fulfilled: number } };
    if (summary.fulfilled !== PAGES) throw new Error(`only ${summary.fulfilled} of ${PAGES} calls succeeded`);
    return performance.now() - started;
  };

  try {
    // Warm-up: connections, JIT, Miniflare's first request.
    await byNumber(PREFETCH);
    await byNumber(1);
    await byLink();
    await fanout(PREFETCH);

    const prefetched: number[] = [];
    const sequential: number[] = [];
    const linked: number[] = [];
    const fannedOut: number[] = [];
    const oneByOne: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      prefetched.push(await byNumber(PREFETCH));
      fannedOut.push(await fanout(PREFETCH));
      sequential.push(await byNumber(1));
      oneByOne.push(await fanout(1));
      linked.push(await byLink());
    }

    const row = (what: string, runs: number[], ideal: number) =>
      `| ${what}: wall / ideal (${ideal} ms), median | ${round(median(runs) / ideal)} (median ${round(median(runs), 0)} ms, min ${round(Math.min(...runs), 0)}, max ${round(Math.max(...runs), 0)}) |`;
    return [
      `${PAGES} pages of ${LATENCY_MS} ms (20 items each), ${RUNS} rounds of the three crawls in turn, built worker on Miniflare.`,
      "",
      "| figure | value |",
      "| --- | --- |",
      row(`page numbers, prefetch ${PREFETCH}`, prefetched, IDEAL_PREFETCHED_MS),
      row("page numbers, prefetch 1 (sequential)", sequential, IDEAL_SEQUENTIAL_MS),
      row("Link headers (sequential by nature)", linked, IDEAL_SEQUENTIAL_MS),
      row(`baseline: the 50 URLs as one fan-out, concurrency ${PREFETCH}`, fannedOut, IDEAL_PREFETCHED_MS),
      row("baseline: the 50 URLs as one fan-out, concurrency 1", oneByOne, IDEAL_SEQUENTIAL_MS),
      `| crawl / fan-out, prefetch ${PREFETCH} vs concurrency ${PREFETCH} (medians) | ${round(median(prefetched) / median(fannedOut))} |`,
      `| crawl / fan-out, one at a time (medians) | ${round(median(sequential) / median(oneByOne))} |`,
      `| speed-up of prefetch ${PREFETCH}: sequential / prefetched (medians) | ${round(median(sequential) / median(prefetched))} (ideal ${round(IDEAL_SEQUENTIAL_MS / IDEAL_PREFETCHED_MS)}) |`,
      `| overhead per page, sequential: (median − ideal) / ${PAGES} | ${round((median(sequential) - IDEAL_SEQUENTIAL_MS) / PAGES)} ms |`,
    ];
  } finally {
    await worker.stop();
    await upstream.close();
  }
}
