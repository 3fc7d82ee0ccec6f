/**
 * Request body cap (hono's bodyLimit) whose size comes from the MAX_BODY_BYTES setting.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { settings } from "../settings";
import { problem } from "./problem";

export const maxBody = (): MiddlewareHandler<{ Bindings: object }> => {
  const limiters = new Map<number, MiddlewareHandler>();
  return async function maxBody(c, next) {
    const maxSize = settings(c.env).MAX_BODY_BYTES;
    let limiter = limiters.get(maxSize);
    if (!limiter) {
      limiter = bodyLimit({
        maxSize,
        onError: () => {
          throw problem(413, `The request body is larger than MAX_BODY_BYTES (${maxSize} bytes).`, {
            type: "body-too-large",
            extensions: { limit: "MAX_BODY_BYTES", max: maxSize },
          });
        },
      });
      limiters.set(maxSize, limiter);
    }
    return limiter(c, next);
  };
};
