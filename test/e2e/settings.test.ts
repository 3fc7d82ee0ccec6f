/**
 * wrangler.toml's `[vars]` and the defaults in src/settings.ts are one list of settings: every setting in one is in
 * the other, with the same value. Runs in Node because workerd cannot read files, and parses wrangler.toml itself
 * because the workers project's env has bindings that vitest.config.ts overrides.
 */
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import { JOBS_MAX_BATCH_SIZE } from "../../src/jobs/budget.ts";
import { settingsSchema } from "../../src/settings.ts";

const wrangler = parse(readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8"));
const vars = (wrangler.vars ?? {}) as Record<string, unknown>;
const settings = settingsSchema.shape;
const defaults: Record<string, unknown> = settingsSchema.parse({});

describe("wrangler.toml [vars] and src/settings.ts", () => {
  it("name the same settings", () => {
    const onlyInToml = Object.keys(vars).filter((name) => !(name in settings));
    const onlyInSettings = Object.keys(settings).filter((name) => !(name in vars));
    expect({ onlyInToml, onlyInSettings }).toEqual({ onlyInToml: [], onlyInSettings: [] });
  });

  it.each(Object.keys(settings))("%s has the same default in both", (name) => {
    expect(name in vars, `${name} is missing from wrangler.toml [vars]`).toBe(true);
    const fromToml = settings[name as keyof typeof settings].parse(vars[name]);
    expect(fromToml).toEqual(defaults[name]);
  });
});

describe("wrangler.toml's jobs queue and src/jobs/budget.ts", () => {
  it("agree on max_batch_size, from which a chunk's deadline is derived", () => {
    const consumers = ((wrangler.queues as { consumers?: unknown[] } | undefined)?.consumers ?? []) as {
      queue: string;
      max_batch_size?: number;
    }[];
    expect(consumers.find((c) => c.queue === "edgeloop-jobs")?.max_batch_size).toBe(JOBS_MAX_BATCH_SIZE);
  });
});
