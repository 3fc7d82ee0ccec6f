/** Scoped tokens for tests: mint one with the root token, and call the worker with it. */
import { type Answer, call } from "./api";

export interface Minted {
  id: string;
  secret: string;
  /** Call the worker with this token (and, if given, `Edgeloop-Namespace`). */
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer<T>>;
}

export interface TokenInput {
  name?: string;
  scopes: string[];
  names?: Record<string, string[]>;
  namespace?: string;
  expiresInSeconds?: number;
  rate?: { limit: number; periodMs: number };
}

export const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

/** A client of the worker that sends `secret`. */
export function as(secret: string) {
  return <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => call<T>(method, path, body, { headers: { ...bearer(secret), ...headers } });
}

/** Create a token with the root token; fails the test unless it was made. */
export async function mint(input: TokenInput): Promise<Minted> {
  const res = await call<{ id: string; token: string }>("POST", "/v1/tokens", { name: "test", ...input });
  if (res.status !== 201) throw new Error(`POST /v1/tokens: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, secret: res.body.token, call: as(res.body.token) };
}
