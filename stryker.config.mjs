// @ts-check
/**
 * `npm run mutate`: StrykerJS on the runtime-neutral and pure modules, their tests run in Node by
 * vitest.mutate.config.ts. Not part of `npm test` (a full run takes tens of minutes on two cores); the score per file
 * and the surviving mutants judged equivalent are in docs/testing.md ("Mutation testing").
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutate.config.ts" },
  // Each mutant runs only the tests that reached it in the first, instrumented run.
  coverageAnalysis: "perTest",
  mutate: [
    "src/async/*.ts",
    "src/*/*-state.ts",
    "src/pages/next.ts",
    "src/pages/link-header.ts",
    "src/http/retryable.ts",
    "src/fanout/url-guard.ts",
    "src/client/lease.ts",
    "src/client/http.ts",
  ],
  // Stryker rewrites tsconfig.json's `extends`/`references` when they point outside its sandbox (ours have none), and
  // imports the `typescript` package to parse it: TypeScript 7 (the native compiler we use) has no JavaScript API, so
  // Stryker is pointed at a file that does not exist and leaves tsconfig.json alone.
  tsconfigFile: "tsconfig.stryker-none.json",
  // Two cores, shared: one test runner per core. `npm run mutate -- --concurrency 1` on a busy machine.
  concurrency: 2,
  // A mutant may loop or never answer (a batch no caller sends): it counts as detected once its run takes more than
  // 1.5 × the tests' own time + 5 s.
  timeoutMS: 5_000,
  timeoutFactor: 1.5,
  // Reuses the results of mutants whose code and tests did not change since the last run (reports/, not committed).
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  reporters: ["clear-text", "progress", "html"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 90, low: 85, break: 85 },
  tempDirName: ".stryker-tmp",
  // What the Node tests need is copied into the sandbox; the rest of the project is not.
  ignorePatterns: [
    "bench",
    "docs",
    "public",
    "functions",
    "scripts",
    // The end-to-end tests need the built worker, except the client's lease test (vitest.mutate.config.ts).
    "test/e2e/*",
    "!test/e2e/client-lease.test.ts",
    "test-results",
    ".wrangler",
    "dist",
    "reports",
  ],
};
