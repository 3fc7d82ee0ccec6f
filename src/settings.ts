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

const bool = z
  .preprocess(
    (v) => (v === undefined || v === "" ? "false" : String(v).trim().toLowerCase()),
    z.enum(["true", "false"]),
  )
  .transform((v) => v === "true");

const accessLogMode = z.preprocess(
  (v) => (v === undefined || v === "" ? "errors" : String(v).trim().toLowerCase()),
  z.enum(["all", "errors"]),
);

const originList = z.preprocess(
  (v) =>
    typeof v === "string"
      ? v
          .split(",")
          .map((s) => s.trim().toLowerCase().replace(/\/$/, ""))
          .filter(Boolean)
      : [],
  z.array(z.string()),
);

/** The name of a binding (a JavaScript identifier), or "" for none. */
const bindingName = z.preprocess(
  (v) => (typeof v === "string" ? v.trim() : ""),
  z.string().regex(/^([A-Za-z_$][A-Za-z0-9_$]{0,63})?$/, "must be the name of a binding, or empty"),
);

export const settingsSchema = z.object({
  MAX_BODY_BYTES: int(1_048_576, 1_024, 100 * 1_048_576),
  ACCESS_LOG: accessLogMode,
  FANOUT_MAX_REQUESTS: int(50, 1, 10_000),
  FANOUT_MAX_CONCURRENCY: int(50, 1, 1_000),
  FANOUT_MAX_RESPONSE_BYTES: int(10 * 1_048_576, 1_024, 100 * 1_048_576),
  FANOUT_MAX_HEADERS: int(32, 0, 256),
  FANOUT_MAX_HEADER_BYTES: int(8_192, 64, 65_536),
  FANOUT_ALLOW_HOSTS: hostList,
  PAGES_MAX_PAGES: int(50, 1, 10_000),
  PAGES_MAX_PREFETCH: int(10, 1, 100),
  ROOM_MAX_CONNECTIONS: int(256, 1, 32_768),
  ROOM_MAX_SOCKETS_PER_USER: int(4, 1, 32_768),
  ROOM_HISTORY: int(100, 0, 10_000),
  ROOM_MAX_MESSAGE_BYTES: int(16_384, 64, 1_048_576),
  ROOM_RATE_MESSAGES: int(20, 1, 10_000),
  ROOM_RATE_WINDOW_SECONDS: int(10, 1, 3_600),
  ROOM_PRESENCE_TICK_MS: int(50, 0, 10_000),
  ROOM_TICKET_MAX_TTL_SECONDS: int(300, 1, 3_600),
  ROOM_ALLOWED_ORIGINS: originList,
  ROOM_MAX_SHARDS: int(16, 1, 1_024),
  ROOM_RETENTION_HOURS: int(24, 1, 87_600),
  ROOM_KIND_STATE_BYTES: int(1_048_576, 1_024, 100 * 1_048_576),
  DEMO_MODE: bool,
  DEMO_RATE_LIMIT: int(600, 0, 1_000_000),
  DEMO_RATE_PERIOD_MS: int(60_000, 1_000, 86_400_000),
  LEASE_MIN_TTL_MS: int(100, 1, 3_600_000),
  LEASE_MAX_TTL_MS: int(300_000, 1, 86_400_000),
  LEASE_MAX_WAIT_MS: int(30_000, 0, 300_000),
  LEASE_MAX_WAITERS: int(1_000, 1, 100_000),
  SEMAPHORE_MAX_LIMIT: int(10_000, 1, 1_000_000),
  FLOW_MAX_PARALLELISM: int(1_000, 1, 100_000),
  FLOW_LEASE_TTL_MS: int(15_000, 1_000, 300_000),
  FLOW_JOB_WAIT_MS: int(1_000, 0, 30_000),
  FLOW_JOB_MAX_DEFER_SECONDS: int(60, 1, 43_200),
  FLOW_PAUSE_RETENTION_HOURS: int(168, 1, 87_600),
  COUNTER_BATCH_WINDOW_MS: int(2, 0, 1_000),
  COUNTER_BATCH_MAX: int(64, 1, 1_000),
  COUNTER_MAX_SHARDS: int(256, 1, 1_024),
  API_RATE_LIMIT: int(100_000, 0, 1_000_000_000),
  API_RATE_PERIOD_MS: int(60_000, 1, 86_400_000),
  API_RATE_LEASE_MAX: int(100, 1, 100_000),
  API_RATE_LEASE_MS: int(1_000, 1, 60_000),
  AUTH_FAIL_LIMIT: int(10, 0, 1_000_000),
  AUTH_FAIL_PERIOD_MS: int(60_000, 1_000, 86_400_000),
  TOKENS_MAX: int(1_000, 1, 100_000),
  TOKENS_MAX_GRACE_SECONDS: int(604_800, 0, 31_536_000),
  TOKENS_CACHE_SECONDS: int(30, 0, 3_600),
  TOKENS_RETENTION_DAYS: int(30, 1, 3_650),
  JOBS_MAX_REQUESTS: int(10_000, 1, 100_000),
  JOBS_CHUNK_SIZE: int(50, 1, 1_000),
  JOBS_CONSUMER_CONCURRENCY: int(5, 1, 100),
  JOBS_RETRY_BASE_SECONDS: int(2, 0, 3_600),
  JOBS_RETRY_MAX_SECONDS: int(300, 0, 43_200),
  JOBS_MAX_RESULT_BYTES: int(65_536, 1_024, 1_048_576),
  JOBS_RESULTS_PAGE_MAX: int(1_000, 1, 10_000),
  JOBS_WEBHOOK_TIMEOUT_MS: int(10_000, 100, 120_000),
  JOBS_STALL_SECONDS: int(900, 1, 86_400),
  JOBS_STALL_RESENDS: int(3, 0, 100),
  JOBS_RETENTION_HOURS: int(168, 1, 87_600),
  JOBS_TOMBSTONE_DAYS: int(30, 1, 3_650),
  SCHEDULES_MAX_PER_CALLER: int(100, 1, 10_000),
  SCHEDULES_MIN_INTERVAL_SECONDS: int(60, 1, 86_400),
  SCHEDULES_GRACE_SECONDS: int(60, 1, 86_400),
  SCHEDULES_HISTORY: int(20, 1, 100),
  JOBS_MAX_DELAY_DAYS: int(30, 0, 3_650),
  JOBS_MAX_TIMEOUT_MS: int(300_000, 100, 900_000),
  JOBS_LIST_PAGE_MAX: int(1_000, 1, 10_000),
  JOBS_LIST_MAX: int(100_000, 1, 10_000_000),
  JOBS_CALLBACK_ATTEMPTS: int(10, 1, 100),
  JOBS_SERVICE_BINDING: bindingName,
  JOBS_HASH_MAX_BYTES: int(10 * 1_048_576, 1, 1_073_741_824),
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
