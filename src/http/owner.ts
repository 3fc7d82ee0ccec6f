/**
 * Who owns what a request creates and names (schedules, each keyed by its owner and name): one helper, so that
 * tenants (issue 22) change it in one place. Today the verified bearer token's SHA-256 (`callerScope`).
 */
import type { Context } from "hono";
import { callerScope } from "./auth";

/**
 * @example
 * const stub = env.SCHEDULE.getByName(`${ownerOf(c)}:${name}`);
 */
// biome-ignore lint/suspicious/noExplicitAny: any app's Context: only its identity is used
export const ownerOf = (c: Context<any>): string => callerScope(c);
