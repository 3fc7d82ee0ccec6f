/** Calls the worker the way a client does: through its fetch handler, with the test token. */
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../functions/index";

export const BASE = "http://edgeloop.test";

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export interface CallInit extends RequestInit {
  /** Settings to run the route with (through `fetchWithSettings`: the objects keep the test bindings). */
  vars?: Record<string, string>;
}

/**
 * Send `body` as JSON (a string as it is, or no body) with the test token; the answer as it comes (a stream, its
 * headers). `init.vars` runs the route with other settings.
 *
 * @example
 * const res = await send("POST", "/v1/fanout", { requests }, { headers: { accept: "application/x-ndjson" } });
 */
export function send(
  method: string,
  path: string,
  body?: unknown,
  { vars, ...init }: CallInit = {},
): Promise<Response> {
  const request: RequestInit = {
    method,
    ...init,
    headers: {
      authorization: "Bearer test-token",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(init.headers as Record<string, string> | undefined),
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  };
  return vars ? fetchWithSettings(vars, path, request) : exports.default.fetch(`${BASE}${path}`, request);
}

/**
 * `send`, with the answer parsed as JSON.
 *
 * @example
 * const { status, body } = await call<{ value: number }>("POST", "/v1/counters/c/increment", { by: 2 });
 * await call("POST", "/v1/schedules", schedule, { vars: { SCHEDULES_MAX_PER_CALLER: "2" } });
 */
export async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  init: CallInit = {},
): Promise<Answer<T>> {
  const res = await send(method, path, body, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as T };
}

/**
 * The whole worker (auth, limits, the route's scope) with some settings overridden, called with the test token: what
 * a route's limits are tested through (a family's sub-app alone has no principal, and refuses to serve).
 */
export function fetchWithSettings(
  vars: Record<string, string>,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  const headers = { authorization: "Bearer test-token", ...(init.headers as Record<string, string> | undefined) };
  const request = new Request(`${BASE}${path}`, { ...init, headers });
  return Promise.resolve(worker.fetch(request, { ...env, ...vars } as Env, createExecutionContext()));
}

export const unique = (prefix: string) => `${prefix}-${crypto.randomUUID()}`;

/** Poll `check` (each poll is real I/O into the object) until it holds, or fail after `tries`. */
export async function until(check: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await scheduler.wait(5);
  }
  throw new Error("condition not reached");
}
