/**
 * The per-request header limits of an outbound request, shared by POST /v1/fanout and fan-out jobs:
 * FANOUT_MAX_HEADERS headers and FANOUT_MAX_HEADER_BYTES bytes of them, each refused with a 413 naming its setting.
 * Webhook jobs are delivered through the same outbound call, so their headers are held to the same limits.
 */

import { overLimit } from "../http/problem";
import type { Settings } from "../settings";
import type { FanoutItem } from "./schema";

export function checkHeaderLimits(items: readonly Pick<FanoutItem, "headers">[], s: Settings): void {
  items.forEach((item, index) => {
    const names = Object.keys(item.headers);
    const maxHeaders = s.FANOUT_MAX_HEADERS;
    if (names.length > maxHeaders) {
      throw overLimit(
        "FANOUT_MAX_HEADERS",
        maxHeaders,
        `Request ${index} has ${names.length} headers; FANOUT_MAX_HEADERS allows ${maxHeaders}.`,
        { status: 413, type: "fanout-too-many-headers", extensions: { index } },
      );
    }
    const size = names.reduce((n, k) => n + k.length + (item.headers[k] ?? "").length + 4, 0);
    const maxBytes = s.FANOUT_MAX_HEADER_BYTES;
    if (size > maxBytes) {
      throw overLimit(
        "FANOUT_MAX_HEADER_BYTES",
        maxBytes,
        `Request ${index} has ${size} bytes of headers; FANOUT_MAX_HEADER_BYTES allows ${maxBytes}.`,
        { status: 413, type: "fanout-headers-too-large", extensions: { index } },
      );
    }
  });
}
