import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // Tests run with a known token; production fails closed without the API_TOKEN secret.
        bindings: {
          API_TOKEN: "test-token",
          // The loopback upstream started by test/global-setup.ts may be reached; nothing else private is.
          FANOUT_ALLOW_HOSTS: "127.0.0.1",
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    // Structured request logs are printed only for failing tests.
    silent: "passed-only",
  },
});
