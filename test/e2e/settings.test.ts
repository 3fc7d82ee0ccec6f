/**
 * wrangler.toml's `[vars]` and the defaults in src/settings.ts are one list of settings: every setting in one is in
 * the other, with the same value. Runs in Node because workerd cannot read files, and parses wrangler.toml itself
 * because the workers project's env has bindings that vitest.config.ts overrides.
 */
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import { describe, expect, it } from "vitest";
import { type DurableObjectConfig, ENTRYPOINTS, migrationProblems } from "../../scripts/lib/migrations.ts";
import { JOBS_MAX_BATCH_SIZE } from "../../src/jobs/budget.ts";
import { JOBS_MAX_RETRIES } from "../../src/jobs/schema.ts";
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

describe("wrangler.toml's jobs queue and src/jobs (budget.ts, schema.ts)", () => {
  it("agree on max_batch_size, from which a chunk's deadline is derived", () => {
    const consumers = ((wrangler.queues as { consumers?: unknown[] } | undefined)?.consumers ?? []) as {
      queue: string;
      max_batch_size?: number;
    }[];
    expect(consumers.find((c) => c.queue === "edgeloop-jobs")?.max_batch_size).toBe(JOBS_MAX_BATCH_SIZE);
  });

  it("agree on max_retries, which bounds a job's retry.attempts (max_retries + 1 deliveries)", () => {
    const consumers = ((wrangler.queues as { consumers?: unknown[] } | undefined)?.consumers ?? []) as {
      queue: string;
      max_retries?: number;
    }[];
    expect(consumers.find((c) => c.queue === "edgeloop-jobs")?.max_retries).toBe(JOBS_MAX_RETRIES);
  });
});

describe("wrangler.toml's migrations and the Worker's classes (checked on the bundle by npm run check:bundle)", () => {
  const config = wrangler as DurableObjectConfig;
  // What functions/index.ts exports, read from its source (the bundle itself is checked by npm run check:bundle).
  const entry = readFileSync(new URL("../../functions/index.ts", import.meta.url), "utf8");
  const exported = [
    ...[...entry.matchAll(/^export \{ ([^}]+) \} from/gm)].flatMap(([, names]) => (names ?? "").split(", ")),
    ...[...entry.matchAll(/^export const (\w+) =/gm)].map(([, name]) => name ?? ""),
    "app",
    "default",
  ];

  it("agree today: the migrations create every class functions/index.ts exports, and each binding names one", () => {
    expect(migrationProblems(config, exported, ENTRYPOINTS)).toEqual([]);
  });

  it("ask no migration of the WorkerEntrypoints the Worker exports (ENTRYPOINTS), and one of any other class", () => {
    expect(exported).toContain("Edgeloop");
    expect(migrationProblems(config, exported)).toEqual([
      "the Worker exports Edgeloop, which no migration creates: add a migration",
    ]);
  });

  it("catch a class exported without a migration, a migrated class no longer exported, a reused tag", () => {
    expect(migrationProblems(config, [...exported, "Widget"], ENTRYPOINTS)).toEqual([
      "the Worker exports Widget, which no migration creates: add a migration",
    ]);
    expect(
      migrationProblems(
        config,
        exported.filter((e) => e !== "RoomShard"),
        ENTRYPOINTS,
      ),
    ).toEqual([
      "a migration creates RoomShard, which the Worker does not export: export it, or delete it in a new migration",
    ]);
    const reused = { ...config, migrations: [...(config.migrations ?? []), { tag: "v2", new_sqlite_classes: ["X"] }] };
    expect(migrationProblems(reused, [...exported, "X"], ENTRYPOINTS)).toEqual(["migration tags used twice: v2"]);
  });

  it("follow renames and deletions in order", () => {
    const renamed: DurableObjectConfig = {
      migrations: [
        { tag: "v1", new_sqlite_classes: ["Old", "Gone"] },
        { tag: "v2", renamed_classes: [{ from: "Old", to: "New" }], deleted_classes: ["Gone"] },
      ],
      durable_objects: { bindings: [{ name: "NEW", class_name: "New" }] },
    };
    expect(migrationProblems(renamed, ["New", "default"])).toEqual([]);
    expect(migrationProblems(renamed, ["Old", "default"])).toEqual([
      "the Worker exports Old, which no migration creates: add a migration",
      "a migration creates New, which the Worker does not export: export it, or delete it in a new migration",
    ]);
    const unbound = { ...renamed, durable_objects: { bindings: [{ name: "GONE", class_name: "Gone" }] } };
    expect(migrationProblems(unbound, ["New", "default"])).toEqual([
      "a binding names Gone, which no migration creates",
    ]);
  });
});
