/**
 * RFC 9457 problem details: the one error shape every endpoint answers with.
 *
 * Handlers throw `problem(...)`; `onError` renders it (and any HTTPException, including the ones hono's own
 * validators and middleware throw) as `application/problem+json`. Unknown errors are logged and become a
 * generic 500 without a stack.
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { log } from "./log";

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** An HTTPException that carries a problem body. */
export class Problem extends HTTPException {
  readonly body: ProblemBody;
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, body: ProblemBody, headers: Record<string, string> = {}) {
    super(status, { message: body.detail });
    this.body = body;
    this.headers = headers;
  }

  override getResponse(): Response {
    return new Response(JSON.stringify(this.body), {
      status: this.body.status,
      headers: { ...this.headers, "content-type": PROBLEM_CONTENT_TYPE },
    });
  }
}

export interface ProblemOptions {
  /** The slug of `urn:edgeloop:problem:<slug>` (`about:blank` without one). */
  type?: string;
  /** Defaults to the status's reason phrase. */
  title?: string;
  /** Members added to the body (`limit`, `max`, `errors`…). */
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * Build a Problem to throw.
 *
 * @example
 * throw problem(409, "lock is held", { type: "lock-held", extensions: { waiters: 3 } })
 */
export function problem(status: ContentfulStatusCode, detail: string, options: ProblemOptions = {}): Problem {
  const body: ProblemBody = {
    ...options.extensions,
    type: options.type ? `urn:edgeloop:problem:${options.type}` : "about:blank",
    title: options.title ?? TITLES[status] ?? "Error",
    status,
    detail,
  };
  return new Problem(status, body, options.headers);
}

/**
 * The problem for a request beyond a limit that a setting names: its body carries the setting (`limit`) and the
 * setting's value (`max`), as the detail does, so the caller knows which setting refused it. A 400 `invalid-request`
 * unless `options` say otherwise.
 *
 * @example
 * throw overLimit("SEMAPHORE_MAX_LIMIT", max, `limit ${limit} is above SEMAPHORE_MAX_LIMIT (${max}).`)
 * throw overLimit("MAX_BODY_BYTES", max, `The body is larger than MAX_BODY_BYTES (${max} bytes).`, { status: 413, type: "body-too-large" })
 */
export function overLimit(
  setting: string,
  max: number,
  detail: string,
  options: Omit<ProblemOptions, "title"> & { status?: ContentfulStatusCode } = {},
): Problem {
  return problem(options.status ?? 400, detail, {
    type: options.type ?? "invalid-request",
    extensions: { limit: setting, max, ...options.extensions },
    headers: options.headers,
  });
}

/**
 * The app-wide error handler: every error leaves as problem+json, never with a stack, and carries the request id
 * (hono's requestId middleware sets it on the context's headers, which a Response built here would not have).
 */
export const onError: ErrorHandler = (err, c) => withRequestId(render(err, c), c);

function render(err: Error, c: Context): Response {
  if (err instanceof Problem) return err.getResponse();
  if (err instanceof HTTPException) {
    // hono's own middleware (body limit, bearer auth, validators) throws plain HTTPExceptions.
    const headers = Object.fromEntries(err.res?.headers.entries() ?? []);
    return problem(err.status, err.message || TITLES[err.status] || "Error", { headers }).getResponse();
  }
  if (isTransientObjectError(err)) {
    log("warn", "durable object unavailable", { requestId: requestIdOf(c), error: `${err.name}: ${err.message}` });
    const detail = "A Durable Object this request needs was reset or is overloaded; retry the request.";
    return problem(503, detail, { type: "unavailable", headers: { "retry-after": "1" } }).getResponse();
  }
  log("error", "unhandled error", {
    requestId: requestIdOf(c),
    error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    stack: err instanceof Error ? err.stack : undefined,
  });
  const detail = "An unexpected error occurred. The request id in the x-request-id header identifies it in the logs.";
  return problem(500, detail).getResponse();
}

export const notFound: NotFoundHandler = (c) =>
  withRequestId(problem(404, `No route for ${c.req.method} ${c.req.path}`).getResponse(), c);

function requestIdOf(c: Context): string | undefined {
  const id: unknown = c.get("requestId");
  return typeof id === "string" ? id : undefined;
}

function withRequestId(res: Response, c: Context): Response {
  const id = requestIdOf(c);
  if (id) res.headers.set("x-request-id", id);
  return res;
}

/**
 * Errors the runtime marks as transient on Durable Object calls: `overloaded` (too many requests queued for one
 * object) or `retryable` (the object was reset, e.g. by a deploy, while the call was in flight).
 * See https://developers.cloudflare.com/durable-objects/best-practices/error-handling/
 */
function isTransientObjectError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const flags = err as Error & { overloaded?: unknown; retryable?: unknown };
  return flags.overloaded === true || flags.retryable === true;
}
