/**
 * The `hash` job type, the example of a type added in this repository (docs/jobs.md, "Adding a job type"): each item
 * is a URL whose body is fetched through the URL guard (`ctx.fetch`) and digested as it streams (SHA-256, -384 or
 * -512), at most JOBS_HASH_MAX_BYTES of it. The result gives the digest in hex and as a Subresource Integrity value,
 * so a job can check a release's files, or pin the scripts a page loads. A 404 is a failed result; a 5xx, a 429 or a
 * timeout is retried.
 */
import type { z } from "@hono/zod-openapi";
import { isRetryableStatus } from "../../http/retryable";
import { HashItemSchema } from "../schema";
import { type BodyOf, JobItemError, type JobType } from "./define";

type HashItem = z.output<typeof HashItemSchema>;

/** How many URLs at once, each one's timeout (the consumer reads it), the flow key. */
type HashOptions = Omit<BodyOf<"hash">, "type" | "items">;

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const base64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));

export const hash: JobType<"hash", HashItem, HashOptions> = {
  name: "hash",
  item: HashItemSchema,
  split: ({ type: _type, items, ...options }) => ({ items, options }),
  urls: (items) => items.map((item, i) => ({ path: `items.${i}.url`, url: item.url })),
  concurrency: (options, s) => Math.min(options.concurrency ?? 6, s.FANOUT_MAX_CONCURRENCY),
  handler: async (item, ctx) => {
    const max = ctx.settings.JOBS_HASH_MAX_BYTES;
    const res = await ctx.fetch(item.url);
    const { status } = res;
    const tooLarge = () => new JobItemError("too_large", `the body is larger than JOBS_HASH_MAX_BYTES (${max} bytes)`);
    if (!res.ok || Number(res.headers.get("content-length") ?? 0) > max) {
      await res.body?.cancel();
      if (isRetryableStatus(status)) throw new Error(`HTTP ${status}`);
      if (res.ok) throw tooLarge();
      return { url: item.url, status, ok: false, error: { kind: "status", message: `HTTP ${status}` } };
    }
    const algorithm = item.algorithm ?? "SHA-256";
    const digest = new crypto.DigestStream(algorithm);
    const writer = digest.getWriter();
    let bytes = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        bytes += chunk.value.byteLength;
        if (bytes > max) {
          await reader.cancel();
          throw tooLarge();
        }
        await writer.write(chunk.value);
      }
    }
    await writer.close();
    const sum = new Uint8Array(await digest.digest);
    const integrity = `${algorithm.replace("-", "").toLowerCase()}-${base64(sum)}`;
    return { url: item.url, status, algorithm, bytes, digest: hex(sum), integrity };
  },
};
