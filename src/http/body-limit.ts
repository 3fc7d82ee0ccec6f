/**
 * Request body cap (hono's bodyLimit) whose size comes from the MAX_BODY_BYTES setting.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { settings } from "../settings";
import { overLimit } from "./problem";

export const maxBody = (): MiddlewareHandler<{ Bindings: object }> => {
  const limiters = new Map<number, MiddlewareHandler>();
  return async function maxBody(c, next) {
    const maxSize = settings(c.env).MAX_BODY_BYTES;
    let limiter = limiters.get(maxSize);
    if (!limiter) {
      limiter = bodyLimit({
        maxSize,
        onError: () => {
          throw overLimit(
            "MAX_BODY_BYTES",
            maxSize,
            `The request body is larger than MAX_BODY_BYTES (${maxSize} bytes).`,
            {
              status: 413,
              type: "body-too-large",
            },
          );
        },
      });
      limiters.set(maxSize, limiter);
    }
    return limiter(c, next);
  };
};
