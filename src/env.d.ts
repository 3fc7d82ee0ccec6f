// Secrets are not in wrangler.toml, so `wrangler types` cannot see them: they are declared here and merge
// with the generated Env. Set them with `wrangler secret put NAME` when deploying.
declare namespace Cloudflare {
  interface Env {
    /** Bearer token every /v1 call must present. Without it /v1 refuses to serve (fail closed). */
    API_TOKEN?: string;
    /** HMAC key for room tickets. Without it tickets are neither issued nor accepted (fail closed). */
    ROOM_TICKET_SECRET?: string;
    /**
     * HMAC key of fencing proofs: lock grants are signed with it, fenced counter calls checked. Without it grants
     * carry no proof and fenced calls are refused (fail closed).
     */
    FENCE_SECRET?: string;
    /**
     * Signing secret of webhook jobs (Standard Webhooks: `whsec_` + base64 of the key bytes). Without it webhook
     * jobs are refused (fail closed).
     */
    JOBS_WEBHOOK_SECRET?: string;
  }
}
interface Env extends Cloudflare.Env {}
