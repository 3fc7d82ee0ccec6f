import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Structured request logs are printed only for failing tests.
    silent: "passed-only",
    projects: [
      {
        // Unit and integration tests inside workerd: Durable Objects, queues and WebSockets are real.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // Tests run with a known token; production fails closed without the API_TOKEN secret.
              bindings: {
                API_TOKEN: "test-token",
                // The bad-input sweep sends hundreds of wrong tokens, each of which must get its 401: the failed-auth
                // limit is off here; test/http/unauthenticated.test.ts turns it on for its own requests.
                AUTH_FAIL_LIMIT: "0",
                // The loopback upstream started by the global setup may be reached; nothing else private is.
                FANOUT_ALLOW_HOSTS: "127.0.0.1",
                // Rooms: tickets are signed with a known secret; a small room so "full" is cheap to reach.
                ROOM_TICKET_SECRET: "test-ticket-secret",
                // Lock grants are signed with it and fenced counter calls checked.
                FENCE_SECRET: "test-fence-secret",
                ROOM_MAX_CONNECTIONS: "4",
                // Below ROOM_MAX_CONNECTIONS, so one user's limit is reached before the room's.
                ROOM_MAX_SOCKETS_PER_USER: "2",
                // Webhook jobs sign with this (Standard Webhooks format: whsec_ + base64 of the key bytes).
                JOBS_WEBHOOK_SECRET: "whsec_ZWRnZWxvb3AtdGVzdC13ZWJob29rLXNlY3JldA==",
                // Service jobs go to the test Worker below, through the service binding JOBS_SERVICE.
                JOBS_SERVICE_BINDING: "JOBS_SERVICE",
              },
              serviceBindings: { JOBS_SERVICE: { name: "jobs-service", entrypoint: "JobHandler" } },
              // Auxiliary Workers take Miniflare options, not a wrangler config: a plain ES module needs no build.
              workers: [
                {
                  name: "jobs-service",
                  modules: true,
                  scriptPath: "./test/jobs/service-worker.js",
                  compatibilityDate: "2026-11-01",
                },
              ],
            },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**"],
          // A few tests do heavy work (a 1 MiB deeply nested body, 20 clients × 25 rounds): 5 s is too tight on a
          // loaded 2-core machine. A timeout only bounds a hang; no test asserts on time.
          testTimeout: 30_000,
          // Loopback upstreams (Node http) the worker's fetch calls: inject("upstream") for fan-out,
          // inject("jobsUpstream") for the jobs consumer tests.
          globalSetup: ["./test/setup/upstream.ts", "./test/setup/jobs-global-setup.ts"],
        },
      },
      {
        // End-to-end tests in Node against the built worker served locally (and a real browser). The bundle is
        // built once per run (inject("e2eBundle")); each file serves it with useWorker() (test/e2e/support/worker.ts).
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          globalSetup: ["./test/setup/e2e-bundle.ts"],
        },
      },
    ],
  },
});
