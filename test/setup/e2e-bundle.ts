/**
 * vitest globalSetup of the e2e project: builds the worker bundle once per run (`wrangler deploy --dry-run`, the
 * bundle `wrangler deploy` uploads) and hands its path to the test files, which serve it with `useWorker()`
 * (test/e2e/support/worker.ts) and read it with `inject("e2eBundle")`. The bundle is removed at the end.
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import type { TestProject } from "vitest/node";
import { buildBundle } from "../../scripts/lib/worker.ts";

export default function setup(project: TestProject): () => void {
  const bundle = buildBundle();
  project.provide("e2eBundle", bundle);
  return () => rmSync(dirname(bundle), { recursive: true, force: true });
}
