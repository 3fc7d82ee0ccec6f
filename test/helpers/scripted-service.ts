/**
 * A stand-in for the service behind the typed client, for the client's own tests: a `fetch` that answers each request
 * with what the test's handler returns (by method and path), and records every request (path, method, headers, JSON
 * body). Runtime-neutral: these tests run in workerd and in Node.
 */

export interface SeenRequest {
  method: string;
  path: string;
  url: string;
  headers: Headers;
  body: unknown;
  signal: AbortSignal | undefined;
}

export type Handler = (req: SeenRequest) => Response | Promise<Response>;

/** A JSON answer. */
export const json = (body: unknown, status = 200, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

/** A problem+json answer. */
export const problemAnswer = (status: number, detail: string, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify({ type: `urn:edgeloop:problem:test-${status}`, title: "Test", status, detail }), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });

export const BASE_URL = "http://edgeloop.test";

export function scriptedService(handler: Handler) {
  const seen: SeenRequest[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input));
    const text = typeof init.body === "string" ? init.body : undefined;
    const req: SeenRequest = {
      method: init.method ?? "GET",
      path: url.pathname + url.search,
      url: url.href,
      headers: new Headers(init.headers),
      body: text === undefined ? undefined : JSON.parse(text),
      signal: init.signal ?? undefined,
    };
    seen.push(req);
    return handler(req);
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}
