/**
 * Who owns what a /v1 request creates (jobs, and the lists they are in): one helper, so that what an owner is can
 * change in one place. Today it is the caller's verified token, as its SHA-256 (`callerScope`).
 */
import type { Context } from "hono";
import { callerScope } from "./auth";

/**
 * The owner of a request behind `bearerAuth`: the key its jobs are created and listed under.
 *
 * @example
 * const outcome = await createJob(c.env, { body, key, scope: ownerOf(c) });
 */
// biome-ignore lint/suspicious/noExplicitAny: any app's Context: only its identity is used
export const ownerOf = (c: Context<any>): string => callerScope(c);
