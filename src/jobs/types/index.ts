/**
 * The job-type registry: each type's name → its registration (src/jobs/types/define.ts). Creation, the Job object and
 * the queue consumer find a type here and nowhere else; the request bodies are JOB_BODIES in src/jobs/schema.ts (the
 * wire half, which the OpenAPI document, the client and schedules read). The key set is checked against the bodies'
 * names: a body without a registration, or a registration without a body, does not compile.
 */
import type { JobTypeName } from "../schema";
import type { AnyJobType, JobType } from "./define";
import { fanout } from "./fanout";
import { hash } from "./hash";
import { service } from "./service";
import { webhook } from "./webhook";

export type { ServiceAnswer, ServiceContext, ServiceItem } from "../protocol";
export { type AnyJobType, type ChunkItem, type ItemResult, JobItemError, type JobRefusal } from "./define";
export { chunkFanoutOptions } from "./fanout";
export { webhookDelivery } from "./webhook";

// biome-ignore lint/suspicious/noExplicitAny: each type has its own items and options
export const JOB_TYPES: { readonly [N in JobTypeName]: JobType<N, any, any> } = { fanout, webhook, hash, service };

/**
 * The registration of a type, or undefined for a name no type has (a job stored under a type since removed).
 *
 * @example
 * jobType("hash")?.concurrency?.({ concurrency: 4 }, settings(env)) // 4
 */
export const jobType = (name: string): AnyJobType | undefined =>
  Object.hasOwn(JOB_TYPES, name) ? (JOB_TYPES[name as JobTypeName] as AnyJobType) : undefined;
