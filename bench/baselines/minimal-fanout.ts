/**
 * The platform's limit for a fan-out: the simplest correct Worker that makes the same calls as POST /v1/fanout — a
 * semaphore, `fetch`, every body read to the end, `Promise.allSettled` — and nothing else (no validation, no URL
 * guard, no timeouts, no results). fanout.bench.ts serves it on Miniflare beside edgeloop, in the same run.
 *
 * POST { "urls": ["http://127.0.0.1:…"], "concurrency": 50 } → { "fulfilled": n, "rejected": n }
 */
interface Job {
  urls: string[];
  concurrency: number;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const { urls, concurrency } = (await request.json()) as Job;
    let running = 0;
    const waiting: Array<() => void> = [];
    const acquire = async (): Promise<void> => {
      if (running < concurrency) running++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
    };
    // A released permit passes straight to the next waiter, so `running` never goes over `concurrency`.
    const release = (): void => {
      const next = waiting.shift();
      if (next) next();
      else running--;
    };
    const settled = await Promise.allSettled(
      urls.map(async (url) => {
        await acquire();
        try {
          const res = await fetch(url);
          await res.arrayBuffer();
          return res.status;
        } finally {
          release();
        }
      }),
    );
    const fulfilled = settled.filter((s) => s.status === "fulfilled").length;
    return Response.json({ fulfilled, rejected: settled.length - fulfilled });
  },
};
