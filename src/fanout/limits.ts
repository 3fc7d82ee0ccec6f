/**
 * The per-request header limits of an outbound request, shared by POST /v1/fanout and fan-out jobs:
 * FANOUT_MAX_HEADERS headers and FANOUT_MAX_HEADER_BYTES bytes of them, each refused with a 413 naming its setting.
 * Webhook jobs are delivered through the same outbound call, so their headers are held to the same limits.
 */

import { problem } from "../http/problem";
import type { Settings } from "../settings";
import type { FanoutItem } from "./schema";

export function checkHeaderLimits(items: readonly Pick<FanoutItem, "headers">[], s: Settings): void {
  items.forEach((item, index) => {
    const names = Object.keys(item.headers);
    if (names.length > s.FANOUT_MAX_HEADERS) {
      throw problem(
        413,
        `Request ${index} has ${names.length} headers; FANOUT_MAX_HEADERS allows ${s.FANOUT_MAX_HEADERS}.`,
        {
          type: "fanout-too-many-headers",
          extensions: { limit: "FANOUT_MAX_HEADERS", max: s.FANOUT_MAX_HEADERS, index },
        },
      );
    }
    const size = names.reduce((n, k) => n + k.length + (item.headers[k] ?? "").length + 4, 0);
    if (size > s.FANOUT_MAX_HEADER_BYTES) {
      throw problem(
        413,
        `Request ${index} has ${size} bytes of headers; FANOUT_MAX_HEADER_BYTES allows ${s.FANOUT_MAX_HEADER_BYTES}.`,
        {
          type: "fanout-headers-too-large",
          extensions: { limit: "FANOUT_MAX_HEADER_BYTES", max: s.FANOUT_MAX_HEADER_BYTES, index },
        },
      );
    }
  });
}
