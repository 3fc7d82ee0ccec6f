/**
 * Global setup of the workers project: starts the jobs loopback upstream in Node and hands its URL to the tests
 * (`inject("jobsUpstream")`); the worker's fetch reaches it because 127.0.0.1 is in FANOUT_ALLOW_HOSTS there.
 */
import type { TestProject } from "vitest/node";
import { startJobsUpstream } from "./jobs-upstream.ts";

declare module "vitest" {
  export interface ProvidedContext {
    jobsUpstream: string;
  }
}

export default async function setup(project: TestProject) {
  const upstream = await startJobsUpstream();
  project.provide("jobsUpstream", upstream.url);
  return () => upstream.close();
}
