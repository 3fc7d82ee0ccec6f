/**
 * Fencing proofs: a lock signs each token it grants over HTTP (`fence: {lock, token, sig}` in the grant), and a
 * fenced counter call must carry that proof, so a token the lock never issued is refused before it reaches the
 * Counter object. `sig` is base64url HMAC-SHA256 of `edgeloop-fence/v1/<lock>/<token>` under the FENCE_SECRET secret
 * ('/' cannot occur in a name, so no two (lock, token) pairs sign the same text). The check is one HMAC in the
 * Worker, no call to the Lock. Without the secret, grants carry no proof and fenced calls are refused (fail closed).
 */
import { hmacSign, hmacVerify } from "../http/hmac";
import { problem } from "../http/problem";
import { requireSecret } from "../http/secrets";

/** A fencing token with the lock's proof that it issued it. */
export interface SignedFence {
  lock: string;
  token: number;
  sig: string;
}

const signed = (lock: string, token: number) => `edgeloop-fence/v1/${lock}/${token}`;

/**
 * The proof of token `token` of lock `lock`.
 *
 * @example
 * const fence = { lock: name, token, sig: await signFence(env.FENCE_SECRET, name, token) };
 */
export const signFence = (secret: string, lock: string, token: number): Promise<string> =>
  hmacSign(secret, signed(lock, token));

/** True when `fence.sig` is the proof of `fence.token` by the lock whose object is named `lock`. */
export const verifyFence = (secret: string, fence: SignedFence, lock = fence.lock): Promise<boolean> =>
  hmacVerify(secret, signed(lock, fence.token), fence.sig);

/**
 * Check a fence from a client and return the `{lock, token}` the Counter object compares, `lock` being the lock's
 * object name (`objectName`: its namespace's lock, whose grants are signed over that name): 503 without the
 * FENCE_SECRET secret, 403 `fence-invalid` when the lock did not issue this token.
 *
 * @example
 * const fence = body.fence && (await checkedFence(c.env, body.fence, objectName(c, body.fence.lock)));
 */
export async function checkedFence(
  env: Env,
  fence: SignedFence,
  lock = fence.lock,
): Promise<{ lock: string; token: number }> {
  const secret = requireSecret(env, "FENCE_SECRET", "fenced calls are refused");
  if (!(await verifyFence(secret, fence, lock))) {
    throw problem(
      403,
      `Token ${fence.token} of lock ${fence.lock} was not issued by that lock: pass the fence of its grant as it came.`,
      { type: "fence-invalid" },
    );
  }
  return { lock, token: fence.token };
}
