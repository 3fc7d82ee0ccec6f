/**
 * wrangler.toml's Durable Object migrations against the classes the Worker exports: `wrangler deploy` refuses a
 * binding to a class no migration created, and a class a migration created that the Worker no longer exports breaks
 * the objects stored under it. The bundle check (`npm run check:bundle`, part of `npm test`) runs this on the dry-run's
 * metafile; test/e2e/settings.test.ts shows it catching each kind of drift.
 */

/** The Worker's exported classes that are WorkerEntrypoints, not Durable Objects: no migration creates them. */
export const ENTRYPOINTS: ReadonlySet<string> = new Set(["Edgeloop"]);

export interface Migration {
  tag: string;
  new_sqlite_classes?: string[];
  new_classes?: string[];
  renamed_classes?: { from: string; to: string }[];
  deleted_classes?: string[];
}

export interface DurableObjectConfig {
  migrations?: Migration[];
  durable_objects?: { bindings?: { name: string; class_name: string; script_name?: string }[] };
}

/**
 * The classes the migrations leave in place, applied in order: created (`new_sqlite_classes`, `new_classes`), renamed,
 * deleted.
 *
 * @example
 * migratedClasses([{ tag: "v1", new_sqlite_classes: ["Room"] }, { tag: "v2", new_sqlite_classes: ["RoomShard"] }])
 * // Set { "Room", "RoomShard" }
 */
export function migratedClasses(migrations: readonly Migration[]): Set<string> {
  const classes = new Set<string>();
  for (const m of migrations) {
    for (const name of [...(m.new_sqlite_classes ?? []), ...(m.new_classes ?? [])]) classes.add(name);
    for (const { from, to } of m.renamed_classes ?? []) {
      classes.delete(from);
      classes.add(to);
    }
    for (const name of m.deleted_classes ?? []) classes.delete(name);
  }
  return classes;
}

/**
 * What does not line up between the migrations, the Durable Object bindings (of this Worker's own classes) and the
 * classes the Worker exports (its exported names that start with a capital letter: the Durable Object classes; say
 * `notObjects` for an exported class that is not one, such as a WorkerEntrypoint). Empty when all three agree.
 *
 * @example
 * migrationProblems(config, ["Counter", "Job", "app", "default"]) // [] or ["…"]
 */
export function migrationProblems(
  config: DurableObjectConfig,
  exported: readonly string[],
  notObjects: ReadonlySet<string> = new Set(),
): string[] {
  const problems: string[] = [];
  const tags = (config.migrations ?? []).map((m) => m.tag);
  const repeated = tags.filter((tag, i) => tags.indexOf(tag) !== i);
  if (repeated.length > 0) problems.push(`migration tags used twice: ${repeated.join(", ")}`);
  const migrated = migratedClasses(config.migrations ?? []);
  const classes = new Set(exported.filter((name) => /^[A-Z]/.test(name) && !notObjects.has(name)));
  const bound = new Set(
    (config.durable_objects?.bindings ?? []).filter((b) => b.script_name === undefined).map((b) => b.class_name),
  );
  for (const name of classes) {
    if (!migrated.has(name)) problems.push(`the Worker exports ${name}, which no migration creates: add a migration`);
  }
  for (const name of migrated) {
    if (!classes.has(name)) {
      problems.push(
        `a migration creates ${name}, which the Worker does not export: export it, or delete it in a new migration`,
      );
    }
  }
  for (const name of bound) {
    if (!migrated.has(name)) problems.push(`a binding names ${name}, which no migration creates`);
  }
  return problems;
}
