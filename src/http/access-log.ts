/**
 * One structured log line per request, carrying the request id set by hono's requestId middleware.
 */
import type { MiddlewareHandler } from "hono";
import { log } from "./log";

export const accessLog = (): MiddlewareHandler => {
  return async function accessLog(c, next) {
    const started = performance.now();
    await next();
    log(c.res.status >= 500 ? "error" : "info", "request", {
      requestId: c.get("requestId" as never),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round(performance.now() - started),
    });
  };
};
