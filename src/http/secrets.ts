/**
 * Secrets a feature cannot work without: read one, or refuse with 503 `not-configured` naming it and how to set it
 * (fail closed), so a deployment that forgot a secret never runs the feature unprotected.
 */
import { problem } from "./problem";

/** The names of the optional secrets declared in src/env.d.ts. */
type SecretName = "ROOM_TICKET_SECRET" | "FENCE_SECRET";

/**
 * @example
 * const secret = requireSecret(c.env, "FENCE_SECRET", "fenced calls are refused");
 */
export function requireSecret(env: Env, name: SecretName, refused: string): string {
  const secret = env[name];
  if (!secret) {
    throw problem(503, `${name} is not configured: ${refused} until it is set (wrangler secret put ${name}).`, {
      type: "not-configured",
    });
  }
  return secret;
}
