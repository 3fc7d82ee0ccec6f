/**
 * vitest globalSetup of the workers project: starts the loopback upstream (bench/lib/upstream.ts) in Node and
 * hands its URL to the tests running in workerd, which read it with `inject("upstream")`; and a second one, on
 * another port (so another origin), for crawls that cross origins (`inject("otherUpstream")`).
 */
import type { TestProject } from "vitest/node";
import { startUpstream } from "../../bench/lib/upstream.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const upstream = await startUpstream();
  const other = await startUpstream();
  project.provide("upstream", upstream.url);
  project.provide("otherUpstream", other.url);
  return async () => {
    await upstream.close();
    await other.close();
  };
}
