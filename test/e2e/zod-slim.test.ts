/**
 * The built worker's `z` is src/http/zod-slim/zod.ts (wrangler.toml `[alias]` "zod"): only the builders it names
 * exist there. Every `z.` member the worker's code uses as a value must be one of them and be zod's own, or the
 * built worker would fail at run time where the tests (which run the whole of zod) pass. Runs in Node: it reads
 * the sources.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z as zod } from "zod";
import { z as slim } from "../../src/http/zod-slim/zod.ts";

const root = new URL("../../", import.meta.url).pathname;
/** Members the code uses only in type positions (`z.infer<…>`, `z.core.$ZodRecordKey`). */
const TYPES = new Set(["infer", "input", "output", "core"]);

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.startsWith("zod-slim") && !f.includes("/zod-slim/"))
    .map((f) => join(root, dir, f));
}

describe("the built worker's slim zod", () => {
  const used = new Set<string>();
  for (const file of [...sources("src"), ...sources("functions")]) {
    for (const [, member] of readFileSync(file, "utf8").matchAll(/\bz\.([A-Za-z]+)\b/g)) used.add(member as string);
  }

  it("has every z. member the code uses, each zod's own", () => {
    expect(used.size).toBeGreaterThan(10);
    const values = [...used].filter((m) => !TYPES.has(m)).sort();
    const missing = values.filter((m) => !(m in slim));
    expect(missing).toEqual([]);
    for (const m of values) expect(slim[m as keyof typeof slim], m).toBe(zod[m as keyof typeof zod]);
  });
});
