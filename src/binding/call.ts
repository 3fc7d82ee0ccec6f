/**
 * One call of the RPC surface: a Request to the app's own route (at the internal origin, marked as the binding's by
 * the entrypoint's `send`), its JSON answer, or its refusal thrown as an Error whose message carries the problem
 * (protocol.ts). So each RPC method is exactly its HTTP operation: the same validation, limits, scopes and problems.
 */
import { type RpcProblem, rpcMessage } from "./protocol";

/** Where the RPC methods' requests are addressed: what the app answers with in URLs (a ticket's `url`). */
export const RPC_ORIGIN = "https://edgeloop.internal";

/** Runs a request through the app as the binding's caller. */
export type Send = (request: Request) => Promise<Response>;

export interface CallInit {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  json?: unknown;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** Origin of the URL (default RPC_ORIGIN), for answers that name URLs. */
  origin?: string;
}

/** The thrown form of a refusal answer: an Error whose message carries the problem. */
async function refusal(res: Response): Promise<Error> {
  const text = await res.text();
  let problem: RpcProblem["problem"] | undefined;
  try {
    const body = JSON.parse(text) as RpcProblem["problem"];
    if (typeof body.type === "string" && typeof body.detail === "string") problem = { ...body, status: res.status };
  } catch {
    // not problem+json: described below
  }
  problem ??= { type: "about:blank", title: res.statusText, status: res.status, detail: text.slice(0, 500) };
  const retryAfter = res.headers.get("retry-after");
  const requestId = res.headers.get("x-request-id");
  return new Error(
    rpcMessage({
      problem,
      ...(retryAfter && /^\d+$/.test(retryAfter) ? { retryAfterMs: Number(retryAfter) * 1_000 } : {}),
      ...(requestId ? { requestId } : {}),
    }),
  );
}

/**
 * Send one call: the answer when it is a success, else its refusal thrown.
 *
 * @example
 * const res = await call(send, "/v1/counters/orders/increment", { json: { by: 1 } });
 */
export async function call(send: Send, path: string, init: CallInit = {}): Promise<Response> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(init.query ?? {})) if (v !== undefined) params.set(k, String(v));
  const search = params.size > 0 ? `?${params}` : "";
  const headers: Record<string, string> = { ...init.headers };
  if (init.json !== undefined) headers["content-type"] = "application/json";
  const res = await send(
    new Request(`${init.origin ?? RPC_ORIGIN}${path}${search}`, {
      method: init.method ?? (init.json === undefined ? "GET" : "POST"),
      headers,
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    }),
  );
  if (!res.ok) throw await refusal(res);
  return res;
}

/** `call`, then the answer's JSON. */
export const json = async <T>(send: Send, path: string, init?: CallInit): Promise<T> =>
  (await call(send, path, init)).json<T>();
