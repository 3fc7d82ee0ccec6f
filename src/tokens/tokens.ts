/**
 * Tokens: the one Durable Object (named "tokens") that keeps the scoped tokens in SQLite, keyed by the SHA-256 of their
 * secrets (a secret is made here, answered once and never stored), with the secret of before the last rotation and
 * when it stops working. It answers the isolates' lookups by hash (with the key of the secrets' check, secret.ts),
 * and deletes a revoked or expired token's record TOKENS_RETENTION_DAYS later, by alarm. What it decides is decided
 * in tokens-state.ts.
 */
import { DurableObject } from "cloudflare:workers";
import { settings } from "../settings";
import { hashOf, newKey, newSecret } from "./secret";
import { deleteAt, type Found, makeRoom, stateOf, type TokenRecord } from "./tokens-state";

/** The name of the service's one Tokens object. */
export const TOKENS_OBJECT = "tokens";

/** What POST /v1/tokens stores (validated by the route). */
export interface TokenSpec {
  name: string;
  scopes: string[];
  names?: Record<string, string[]>;
  namespace?: string;
  expiresInSeconds?: number;
  rate?: { limit: number; periodMs: number };
}

const COLUMNS = `id, name, scopes, names, namespace, rate, created_at AS createdAt, expires_at AS expiresAt,
  last_used_at AS lastUsedAt, revoked_at AS revokedAt, rotated_at AS rotatedAt, prev_until AS previousUntil`;

type Row = Omit<TokenRecord, "scopes" | "names" | "rate"> & {
  scopes: string;
  names: string | null;
  rate: string | null;
};

const recordOf = (row: Row): TokenRecord => ({
  ...row,
  scopes: JSON.parse(row.scopes) as string[],
  names: row.names === null ? null : (JSON.parse(row.names) as Record<string, string[]>),
  rate: row.rate === null ? null : (JSON.parse(row.rate) as TokenRecord["rate"]),
});

export class Tokens extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #key: string | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    // Schema v1.
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS tokens (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prev_hash TEXT, prev_until INTEGER,
      scopes TEXT NOT NULL, names TEXT, namespace TEXT, rate TEXT, created_at INTEGER NOT NULL, expires_at INTEGER,
      last_used_at INTEGER, revoked_at INTEGER, rotated_at INTEGER)`);
    this.#sql.exec("CREATE INDEX IF NOT EXISTS tokens_prev_hash ON tokens (prev_hash)");
    this.#sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  }

  /** The key of the secrets' check, made on first use. */
  #checkKey(): string {
    if (this.#key) return this.#key;
    const row = this.#sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'check'").toArray()[0];
    this.#key = row?.value ?? newKey();
    if (!row) this.#sql.exec("INSERT INTO meta (key, value) VALUES ('check', ?)", this.#key);
    return this.#key;
  }

  async #newSecret(): Promise<{ secret: string; hash: string }> {
    const secret = await newSecret(this.#checkKey());
    return { secret, hash: await hashOf(secret) };
  }

  #all(): TokenRecord[] {
    return this.#sql.exec<Row>(`SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id`).toArray().map(recordOf);
  }

  #one(id: string): TokenRecord | null {
    const row = this.#sql.exec<Row>(`SELECT ${COLUMNS} FROM tokens WHERE id = ?`, id).toArray()[0];
    return row ? recordOf(row) : null;
  }

  /**
   * Store a new token with a fresh secret, answered this once. Past TOKENS_MAX records, dead tokens' records give
   * way first; when only live ones are left, nothing is stored.
   */
  async create(spec: TokenSpec, max: number): Promise<{ token: TokenRecord; secret: string } | null> {
    // Every await before the count: from it to the insert nothing else runs, so TOKENS_MAX holds under concurrency.
    const { secret, hash } = await this.#newSecret();
    const now = Date.now();
    const { remove, fits } = makeRoom(this.#all(), max, this.#retentionMs(), now);
    for (const id of remove) this.#sql.exec("DELETE FROM tokens WHERE id = ?", id);
    if (!fits) return null;
    const id = `tok_${Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("")}`;
    this.#sql.exec(
      `INSERT INTO tokens (id, name, hash, scopes, names, namespace, rate, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      spec.name,
      hash,
      JSON.stringify(spec.scopes),
      spec.names ? JSON.stringify(spec.names) : null,
      spec.namespace ?? null,
      spec.rate ? JSON.stringify(spec.rate) : null,
      now,
      spec.expiresInSeconds === undefined ? null : now + spec.expiresInSeconds * 1_000,
    );
    await this.#arm();
    return { token: this.#one(id) as TokenRecord, secret };
  }

  list(): TokenRecord[] {
    return this.#all();
  }

  get(id: string): TokenRecord | null {
    return this.#one(id);
  }

  /** Revoke (again: a no-op); the token's record as it is now, or null when there is none. */
  async revoke(id: string): Promise<TokenRecord | null> {
    this.#sql.exec("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", Date.now(), id);
    await this.#arm();
    return this.#one(id);
  }

  /**
   * A new secret for a live token; the current one keeps working for `graceMs` (the one before it, if still in its
   * grace, stops at once). Null when there is no such token; its state when it is revoked or expired.
   */
  async rotate(
    id: string,
    graceMs: number,
  ): Promise<{ token: TokenRecord; secret: string } | { refused: "revoked" | "expired" } | null> {
    // The secret first: from the read to the write nothing else runs (a revocation cannot slip in between).
    const { secret, hash } = await this.#newSecret();
    const now = Date.now();
    const token = this.#one(id);
    if (!token) return null;
    const state = stateOf(token, now);
    if (state !== "active") return { refused: state };
    this.#sql.exec(
      "UPDATE tokens SET prev_hash = hash, prev_until = ?, hash = ?, rotated_at = ? WHERE id = ?",
      now + graceMs,
      hash,
      now,
      id,
    );
    return { token: this.#one(id) as TokenRecord, secret };
  }

  /** The token a secret's hash opens (its current or its previous secret), and the key of the secrets' check. */
  lookup(hash: string): { found: Found | null; key: string } {
    const row = this.#sql
      .exec<Row & { current: number }>(
        `SELECT ${COLUMNS}, hash = ? AS current FROM tokens WHERE hash = ? OR prev_hash = ? LIMIT 1`,
        hash,
        hash,
        hash,
      )
      .toArray()[0];
    if (!row) return { found: null, key: this.#checkKey() };
    const { current, ...rest } = row;
    return { found: { ...recordOf(rest), matched: current ? "current" : "previous" }, key: this.#checkKey() };
  }

  /** Note a use (coarse: each isolate writes at most once per LAST_USED_EVERY_MS per token). */
  touch(id: string, at: number): void {
    this.#sql.exec("UPDATE tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?", at, id);
  }

  /** Delete the records whose retention is over; the alarm then waits for the next one due. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const retention = this.#retentionMs();
    for (const t of this.#all()) {
      const at = deleteAt(t, retention);
      if (at !== null && at <= now) this.#sql.exec("DELETE FROM tokens WHERE id = ?", t.id);
    }
    await this.#arm();
  }

  #retentionMs(): number {
    return settings(this.env).TOKENS_RETENTION_DAYS * 86_400_000;
  }

  /** The alarm at the first record due for deletion (none while no token is revoked or expiring). */
  async #arm(): Promise<void> {
    const retention = this.#retentionMs();
    const due = this.#all()
      .map((t) => deleteAt(t, retention))
      .filter((at): at is number => at !== null);
    if (due.length === 0) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.min(...due));
  }
}
