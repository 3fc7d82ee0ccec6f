/**
 * How a refusal crosses Workers RPC. An RPC method's thrown error reaches the caller with its message (and, for the
 * standard Error types, its name) only: custom properties are not guaranteed to survive
 * (https://developers.cloudflare.com/workers/runtime-apis/rpc/error-handling/). So the message carries the problem:
 * its first line reads like an `EdgeloopError`'s (`409 The lock … is held.`), the line after it is a marker and the
 * problem+json body with the answer's `Retry-After` and request id, which `problemOfRpc` (the client's
 * `fromRpcError`) reads back. Platform-free: the client imports it.
 */

/** Starts the line of an RPC error's message that carries the problem. */
export const RPC_PROBLEM_MARK = "edgeloop-problem ";

/** A refusal as it crosses RPC: the problem+json body, and what the answer's headers said. */
export interface RpcProblem {
  problem: { type: string; title: string; status: number; detail: string; [extension: string]: unknown };
  retryAfterMs?: number;
  requestId?: string;
}

/**
 * The message of the error an RPC method throws for a refusal.
 *
 * @example
 * rpcMessage({ problem: { type: "urn:edgeloop:problem:lock-held", title: "Conflict", status: 409, detail: "…" } });
 * // "409 …\nedgeloop-problem {\"problem\":{…}}"
 */
export const rpcMessage = (refusal: RpcProblem): string =>
  `${refusal.problem.status} ${refusal.problem.detail}\n${RPC_PROBLEM_MARK}${JSON.stringify(refusal)}`;

/**
 * The refusal an RPC error's message carries, or undefined for any other error (a network failure, a bug).
 *
 * @example
 * problemOfRpc(err.message)?.problem.type; // "urn:edgeloop:problem:lock-held"
 */
export function problemOfRpc(message: string): RpcProblem | undefined {
  const at = message.indexOf(`\n${RPC_PROBLEM_MARK}`);
  if (at < 0) return undefined;
  try {
    const refusal = JSON.parse(message.slice(at + RPC_PROBLEM_MARK.length + 1)) as Partial<RpcProblem>;
    const p = refusal.problem;
    if (typeof p?.type !== "string" || typeof p.status !== "number" || typeof p.detail !== "string") return undefined;
    return refusal as RpcProblem;
  } catch {
    return undefined;
  }
}
