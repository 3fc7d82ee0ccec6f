/**
 * Deterministic job ids and opaque cursors (of a job's results, and of a list of jobs).
 *
 * A job id is derived from the caller's scope (the SHA-256 of its verified bearer token) and its Idempotency-Key, so two POSTs
 * with one key — even concurrent ones — address the same Job Durable Object, which creates the job once.
 */

const encoder = new TextEncoder();

async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(value));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The scope of the jobs the demo routes create: never a token's digest (64 hex characters). */
export const DEMO_SCOPE = "demo";

/**
 * The job id for an idempotency key within a scope: 32 hex characters. A demo job's id is a space of its own: its
 * second half is a tag of its first (`isDemoJobId`), which a /v1 job's id matches once in 2^64.
 *
 * @example
 * await jobIdFor("token-scope", "order-42") // "9f0c…" (always the same for the same pair)
 */
export async function jobIdFor(scope: string, key: string): Promise<string> {
  const hash = await sha256Hex(`edgeloop-job\u0000${scope}\u0000${key}`);
  if (scope !== DEMO_SCOPE) return hash.slice(0, 32);
  return hash.slice(0, 16) + (await demoTag(hash.slice(0, 16)));
}

const demoTag = async (head: string): Promise<string> =>
  (await sha256Hex(`edgeloop-demo-job\u0000${head}`)).slice(0, 16);

/**
 * Whether a job id is a demo job's (the demo routes reach only those): decided from the id alone, without a call.
 *
 * @example
 * await isDemoJobId(await jobIdFor(DEMO_SCOPE, "run-1")) // true
 */
export async function isDemoJobId(id: string): Promise<boolean> {
  return JOB_ID_PATTERN.test(id) && id.slice(16) === (await demoTag(id.slice(0, 16)));
}

/** A fingerprint of a request body, to tell a replay (same body) from a reused key (different body). */
export async function bodyHash(body: unknown): Promise<string> {
  return sha256Hex(canonicalJson(body));
}

/** A piece of JSON text already written out, on canonicalJson's work stack. */
class Text {
  constructor(readonly text: string) {}
}

const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * JSON with object keys sorted, so that key order does not change the fingerprint. It walks the value with its own
 * stack, not by recursion: a body nested as deep as MAX_BODY_BYTES allows must not overflow the call stack.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v instanceof Text) {
      out.push(v.text);
    } else if (Array.isArray(v)) {
      out.push("[");
      todo.push(new Text("]"));
      for (let i = v.length - 1; i >= 0; i--) {
        todo.push(v[i] === undefined ? null : v[i]);
        if (i > 0) todo.push(new Text(","));
      }
    } else if (v !== null && typeof v === "object") {
      const entries = Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(byKey);
      out.push("{");
      todo.push(new Text("}"));
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, x] = entries[i] as [string, unknown];
        todo.push(x, new Text(`${i > 0 ? "," : ""}${JSON.stringify(key)}:`));
      }
    } else {
      out.push(JSON.stringify(v) ?? "null");
    }
  }
  return out.join("");
}

export const JOB_ID_PATTERN = /^[0-9a-f]{32}$/;

/** An opaque cursor for the results page after index `after`. */
export function encodeCursor(after: number): string {
  return btoa(`r1:${after}`).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** The index a cursor stands for, or null if it is not one of ours. */
export function decodeCursor(cursor: string): number | null {
  try {
    const text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const match = /^r1:(\d{1,9})$/.exec(text);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * An opaque cursor for the list of jobs after this one (newest first). It names only a place in the caller's own
 * list (each owner's index is its own object), so a made-up one can show nothing another owner has.
 *
 * @example
 * encodeListCursor(1_796_000_000_000, "3f2a…") // "bDE6MTc5…"
 */
export function encodeListCursor(createdAt: number, id: string): string {
  return btoa(`l1:${createdAt}:${id}`).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** The place a list cursor stands for, or null if it is not one of ours. */
export function decodeListCursor(cursor: string): { createdAt: number; id: string } | null {
  try {
    const text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const match = /^l1:(\d{1,15}):([0-9a-f]{32})$/.exec(text);
    return match ? { createdAt: Number(match[1]), id: match[2] as string } : null;
  } catch {
    return null;
  }
}
