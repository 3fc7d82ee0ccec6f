/**
 * The tests `npm run mutate` (StrykerJS, stryker.config.mjs) runs against each mutant: the runtime-neutral ones, in
 * Node. Not part of `npm test`, which runs the same files inside workerd (vitest.config.ts).
 *
 * Why Node: Stryker's vitest runner does work with the Workers pool (it forces `pool: threads` on the root config
 * only, so the workers project keeps @cloudflare/vitest-plugin's pool, and its setup file activates mutants and
 * reports coverage from inside workerd). But every mutant run then pays workerd's start-up: measured on
 * src/async/batcher.ts (77 mutants) 3 min 16 s in workerd against 1 min 7 s in Node, with the same score.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "mutate",
          environment: "node",
          include: [
            "test/async/*.test.ts",
            "test/counters/counter-state.test.ts",
            "test/locks/lock-state.test.ts",
            "test/semaphores/semaphore-state.test.ts",
            "test/jobs/job-state.test.ts",
            "test/jobs/policy.test.ts",
            "test/flow/flow-state.test.ts",
            "test/schedules/schedule-state.test.ts",
            "test/schedules/cron.test.ts",
            "test/tokens/tokens-state.test.ts",
            "test/jobs/backoff.test.ts",
            "test/rooms/room-core.test.ts",
            "test/pages/next.test.ts",
            "test/http/retryable.test.ts",
            "test/fanout/url-guard.test.ts",
            "test/client/lease.test.ts",
            // The lease through the client's lock and semaphore, on a stand-in fetch and a fake clock: no worker.
            "test/e2e/client-lease.test.ts",
            "test/client/http.test.ts",
          ],
        },
      },
    ],
  },
});
