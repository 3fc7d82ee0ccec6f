/**
 * vitest globalSetup of the workers project: starts the loopback upstream (bench/lib/upstream.ts) in Node and
 * hands its URL to the tests running in workerd, which read it with `inject("upstream")`.
 */
import type { TestProject } from "vitest/node";
import { startUpstream } from "../../bench/lib/upstream.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const upstream = await startUpstream();
  project.provide("upstream", upstream.url);
  return () => upstream.close();
}
