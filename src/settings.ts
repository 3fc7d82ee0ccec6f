/**
 * Named settings: every limit the service enforces, read from wrangler.toml `[vars]` (strings, or values given
 * with `wrangler dev --var`) and validated once per environment. A bad value fails loudly at the first request
 * instead of being silently ignored.
 */
import { z } from "zod";

const int = (fallback: number, min: number, max: number) =>
  z.preprocess(
    (v) => (v === undefined || v === "" ? undefined : typeof v === "string" ? Number(v) : v),
    z.number().int().min(min).max(max).default(fallback),
  );

const hostList = z.preprocess(
  (v) =>
    typeof v === "string"
      ? v
          .split(",")
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean)
      : [],
  z.array(z.string()),
);

export const settingsSchema = z.object({
  MAX_BODY_BYTES: int(1_048_576, 1_024, 100 * 1_048_576),
  FANOUT_MAX_REQUESTS: int(50, 1, 10_000),
  FANOUT_MAX_CONCURRENCY: int(50, 1, 1_000),
  FANOUT_MAX_RESPONSE_BYTES: int(10 * 1_048_576, 1_024, 100 * 1_048_576),
  FANOUT_MAX_HEADERS: int(32, 0, 256),
  FANOUT_MAX_HEADER_BYTES: int(8_192, 64, 65_536),
  FANOUT_ALLOW_HOSTS: hostList,
  JOBS_MAX_REQUESTS: int(10_000, 1, 100_000),
  JOBS_CHUNK_SIZE: int(50, 1, 1_000),
  JOBS_CONSUMER_CONCURRENCY: int(5, 1, 100),
  JOBS_RETRY_BASE_SECONDS: int(2, 0, 3_600),
  JOBS_RETRY_MAX_SECONDS: int(300, 0, 43_200),
  JOBS_MAX_RESULT_BYTES: int(65_536, 1_024, 1_048_576),
  JOBS_RESULTS_PAGE_MAX: int(1_000, 1, 10_000),
  JOBS_WEBHOOK_TIMEOUT_MS: int(10_000, 100, 120_000),
});

export type Settings = z.infer<typeof settingsSchema>;

const cache = new WeakMap<object, Settings>();

/** The validated settings of this environment (parsed once, then cached). */
export function settings(env: object): Settings {
  let parsed = cache.get(env);
  if (!parsed) {
    const result = settingsSchema.safeParse(env);
    if (!result.success) {
      const issues = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      throw new Error(`invalid settings in [vars]: ${issues}`);
    }
    parsed = result.data;
    cache.set(env, parsed);
  }
  return parsed;
}
