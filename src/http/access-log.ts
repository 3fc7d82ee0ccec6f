/**
 * A structured log line per answer of 400 or more (every request with ACCESS_LOG=all; an answer whose status the caller
 * chose, the demo upstream's, only then and at info), carrying the request id set by
 * hono's requestId middleware. Workers Logs records every invocation anyway; a line of ours adds the request id, and
 * costs a `console.log` (about a third of a counter increment's CPU locally), so successes are not logged by default.
 */
import type { MiddlewareHandler } from "hono";
import { settings } from "../settings";
import { log } from "./log";

/**
 * @example
 * app.use(requestId());
 * app.use(accessLog());
 */
export const accessLog = (): MiddlewareHandler<{ Bindings: object }> => {
  return async function accessLog(c, next) {
    const started = performance.now();
    await next();
    // A status the caller asked for (the demo upstream's) is a result, not a failure: logged only as any request is.
    const asAsked = c.get("asAsked" as never) === true;
    if ((c.res.status < 400 || asAsked) && settings(c.env).ACCESS_LOG !== "all") return;
    log(c.res.status >= 500 && !asAsked ? "error" : "info", "request", {
      requestId: c.get("requestId" as never),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round(performance.now() - started),
    });
  };
};
