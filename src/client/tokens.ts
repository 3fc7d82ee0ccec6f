/**
 * `client.tokens`: the scoped tokens, for a client holding the root token (API_TOKEN): create one (its secret is in
 * the answer, once), list, read, revoke, rotate with a grace period. A scoped token is then used like any other:
 * `createClient({ token: created.token })`.
 */
import type { Transport } from "./http.js";
import type { CreatedToken, Token, TokenInput } from "./types.js";

export class TokensClient {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /**
   * Create a token: its `token` (the secret) is answered this once, keep it.
   *
   * @example
   * const { token } = await root.tokens.create({ name: "ci", scopes: ["jobs:*"], namespace: "ci", expiresInSeconds: 86_400 });
   * const ci = createClient({ baseUrl, token });
   */
  create(input: TokenInput): Promise<CreatedToken> {
    return this.#transport.json<CreatedToken>("/v1/tokens", { json: input });
  }

  /** Every token (revoked and expired ones until their retention), oldest first, without secrets. */
  async list(): Promise<Token[]> {
    return (await this.#transport.json<{ tokens: Token[] }>("/v1/tokens")).tokens;
  }

  get(id: string): Promise<Token> {
    return this.#transport.json<Token>(`/v1/tokens/${encodeURIComponent(id)}`);
  }

  /** Revoke: refused everywhere within TOKENS_CACHE_SECONDS (again: harmless). */
  revoke(id: string): Promise<Token> {
    return this.#transport.json<Token>(`/v1/tokens/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  /**
   * A new secret; the old one keeps working for `graceSeconds` (default 0), so its holders can move over.
   *
   * @example
   * const { token } = await root.tokens.rotate(id, { graceSeconds: 3_600 });
   */
  rotate(id: string, options: { graceSeconds?: number } = {}): Promise<CreatedToken> {
    return this.#transport.json<CreatedToken>(`/v1/tokens/${encodeURIComponent(id)}/rotate`, { json: options });
  }
}
