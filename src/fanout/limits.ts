/**
 * The per-request header limits of an outbound request, shared by POST /v1/fanout and fan-out jobs:
 * FANOUT_MAX_HEADERS headers and FANOUT_MAX_HEADER_BYTES bytes of them, each refused with a 413 naming its setting.
 * Webhook jobs are delivered through the same outbound call, so their headers are held to the same limits.
 */

import { overLimit, type Problem } from "../http/problem";
import type { Settings } from "../settings";
import type { FanoutItem } from "./schema";

/** A request over a header limit: the setting it breaks, the setting's value, and what the request has. */
export interface HeaderLimitBreach {
  setting: "FANOUT_MAX_HEADERS" | "FANOUT_MAX_HEADER_BYTES";
  max: number;
  /** The request's position in the list. */
  index: number;
  /** Its headers (FANOUT_MAX_HEADERS) or bytes of headers (FANOUT_MAX_HEADER_BYTES). */
  actual: number;
}

/**
 * The first request over a header limit, or undefined when every request is within them.
 *
 * @example
 * const breach = headerLimitBreach(body.requests, settings(env));
 * if (breach) throw headerLimitProblem(breach);
 */
export function headerLimitBreach(
  items: readonly Pick<FanoutItem, "headers">[],
  s: Settings,
): HeaderLimitBreach | undefined {
  for (const [index, item] of items.entries()) {
    const names = Object.keys(item.headers);
    if (names.length > s.FANOUT_MAX_HEADERS) {
      return { setting: "FANOUT_MAX_HEADERS", max: s.FANOUT_MAX_HEADERS, index, actual: names.length };
    }
    const size = names.reduce((n, k) => n + k.length + (item.headers[k] ?? "").length + 4, 0);
    if (size > s.FANOUT_MAX_HEADER_BYTES) {
      return { setting: "FANOUT_MAX_HEADER_BYTES", max: s.FANOUT_MAX_HEADER_BYTES, index, actual: size };
    }
  }
  return undefined;
}

/** The 413 for a breach, naming its setting. */
export function headerLimitProblem({ setting, max, index, actual }: HeaderLimitBreach): Problem {
  const [what, type] =
    setting === "FANOUT_MAX_HEADERS"
      ? ["headers", "fanout-too-many-headers"]
      : ["bytes of headers", "fanout-headers-too-large"];
  return overLimit(setting, max, `Request ${index} has ${actual} ${what}; ${setting} allows ${max}.`, {
    status: 413,
    type,
    extensions: { index },
  });
}

/** Throw the 413 for the first request over a header limit. */
export function checkHeaderLimits(items: readonly Pick<FanoutItem, "headers">[], s: Settings): void {
  const breach = headerLimitBreach(items, s);
  if (breach) throw headerLimitProblem(breach);
}
