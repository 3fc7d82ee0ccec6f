/**
 * The bad-input sweep: every operation of the app's own OpenAPI document (under /v1, and /demo with DEMO_MODE on) gets a battery of
 * bad requests generated from its schemas — no or wrong token, malformed JSON, wrong top-level types, unknown
 * fields, each field missing / of the wrong type / out of range, names breaking the name pattern, bad query and
 * header values, wrong content types, oversize bodies — plus hand-written cases for the rules a schema cannot say.
 * Each must be a 4xx `application/problem+json` with a consistent body and no stack, and must change nothing: no
 * Durable Object is created for any name the bad requests used, the resource reads as a never-touched one, and the
 * loopback upstream is never called. New routes are swept as soon as they are in the document.
 *
 * Every /v1 operation's bad requests are sent again through the service binding's `fetch` (the `Edgeloop`
 * entrypoint, acting as the root: no props) and must get the same status as over HTTP, but the cases about the bearer
 * token, which a binding does not present.
 *
 * The second half sends hostile URLs to the outbound paths (POST /v1/fanout, POST /v1/jobs, POST /v1/pages) and to
 * what creates jobs later (POST /v1/schedules).
 */
import { createExecutionContext, listDurableObjectIds } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import worker from "../../functions/index";
import type { FanoutResult } from "../../src/fanout/engine";
import { DEMO_SCOPE, jobIdFor } from "../../src/jobs/ids";
import { settings } from "../../src/settings";

const BASE = "http://edgeloop.test";
const TOKEN = "test-token";
const AUTH = `Bearer ${TOKEN}`;
const UPSTREAM = inject("upstream");
/** Whose idempotency keys the sweep's jobs would be under: the SHA-256 of the token, in hex. */
const SCOPE = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(TOKEN))), (b) =>
  b.toString(16).padStart(2, "0"),
).join("");
const LIMITS = settings(env);

// --- The OpenAPI document -------------------------------------------------------------------------------------------

interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  enum?: unknown[];
  const?: unknown;
  example?: unknown;
  default?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
}

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema: JsonSchema;
}

interface Operation {
  method: string;
  path: string;
  security?: unknown[];
  parameters: Parameter[];
  body?: JsonSchema;
}

interface OpenApiDoc {
  paths: Record<string, Record<string, Omit<Operation, "method" | "path"> & { requestBody?: RequestBodyDoc }>>;
  components: { schemas: Record<string, JsonSchema> };
}

interface RequestBodyDoc {
  content: Record<string, { schema: JsonSchema }>;
}

const doc = await (await exports.default.fetch(`${BASE}/openapi.json`)).json<OpenApiDoc>();

const operations: Operation[] = Object.entries(doc.paths)
  .filter(([path]) => path.startsWith("/v1/") || path === "/v1" || path.startsWith("/demo/"))
  .flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      security: op.security,
      parameters: op.parameters ?? [],
      body: op.requestBody?.content["application/json"]?.schema,
    })),
  );

const opName = (op: Operation) => `${op.method} ${op.path}`;
const needsAuth = (op: Operation) => !(Array.isArray(op.security) && op.security.length === 0);

function resolve(schema: JsonSchema): JsonSchema {
  let s = schema;
  while (s.$ref) {
    const name = s.$ref.replace("#/components/schemas/", "");
    const target = doc.components.schemas[name];
    if (!target) throw new Error(`unresolved ${s.$ref}`);
    s = target;
  }
  return s;
}

const typesOf = (s: JsonSchema): string[] => (s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type]);
const mainType = (s: JsonSchema): string | undefined => typesOf(s).find((t) => t !== "null");

// --- Valid values from the schemas ---------------------------------------------------------------------------------

/** A fresh name: 32 hex characters fit the name pattern and the job id pattern alike. */
const freshName = () => crypto.randomUUID().replaceAll("-", "");

/** A fresh name a pattern accepts: the demo routes' names start with demo-, token ids tok_ (add new patterns here). */
function nameFor(pattern: string | undefined): string {
  const candidates = [freshName(), `demo-${freshName()}`, `tok_${freshName().slice(0, 24)}`];
  const fits = pattern ? candidates.find((c) => new RegExp(pattern, "u").test(c)) : candidates[0];
  if (fits === undefined) throw new Error(`no fresh name fits ${pattern}`);
  return fits;
}

/** Where a generated outbound URL points: the loopback upstream, counted under `key`. */
const canary = (key: string) => `${UPSTREAM}/r?key=${key}`;

/** The canary URL, or the demo upstream's path on the loopback upstream where the pattern asks for that path. */
function urlFor(pattern: string | undefined, key: string): string {
  if (!pattern || new RegExp(pattern, "u").test(canary(key))) return canary(key);
  const demo = `${UPSTREAM}/demo/api/upstream/delay?key=${key}`;
  if (!new RegExp(pattern, "u").test(demo)) throw new Error(`no canary URL fits ${pattern}`);
  return demo;
}

/**
 * Fields a valid body cannot have together with another: the sample leaves them out where the other is in (each is
 * swept by hand-written cases instead). A job starts at `runAt` or after `delayMs`.
 */
const LEFT_OUT_WITH: Record<string, string> = { delayMs: "runAt" };

/** A value the schema accepts. Every property is filled in, so that the mutations reach nested fields too. */
function sample(schema: JsonSchema, key: string, urlKey: string): unknown {
  const s = resolve(schema);
  const branches = s.oneOf ?? s.anyOf;
  if (branches?.[0]) return sample(branches[0], key, urlKey);
  if (s.const !== undefined) return s.const;
  if (key === "url" || s.format === "uri" || s.format === "url") return urlFor(s.pattern, urlKey);
  if (s.format === "uuid") return crypto.randomUUID();
  // A body field that names an object (a flow key) gets a fresh name, as path names do: its object is this test's.
  if (key === "key" && s.pattern) return nameFor(s.pattern);
  // Whole-object examples may name real hosts: only leaf and payload examples are used.
  if (s.example !== undefined && (typeof s.example !== "object" || !mainType(s))) return s.example;
  if (s.default !== undefined) return s.default;
  if (s.enum) return s.enum[0];
  switch (mainType(s)) {
    case "object": {
      const props = s.properties ?? {};
      const kept = Object.entries(props).filter(([name]) => !(LEFT_OUT_WITH[name] && LEFT_OUT_WITH[name] in props));
      return Object.fromEntries(kept.map(([name, prop]) => [name, sample(prop, name, urlKey)]));
    }
    case "array":
      return Array.from({ length: Math.max(1, s.minItems ?? 1) }, () => sample(s.items ?? {}, key, urlKey));
    case "integer":
    case "number":
      return Math.min(s.maximum ?? Number.MAX_SAFE_INTEGER, Math.max(s.minimum ?? 1, 1));
    case "boolean":
      return true;
    case "string":
      return s.pattern ? nameFor(s.pattern) : "x".repeat(Math.max(1, s.minLength ?? 1));
    case "null":
      return null;
    default:
      return { any: "value" };
  }
}

// --- Bad values from the schemas -----------------------------------------------------------------------------------

/** A JSON body: a value, or raw text (malformed, or too deep to build as a value). */
type BadBody = { value: unknown } | { raw: string };

/** As deep as a body under MAX_BODY_BYTES can nest. */
const DEEP = Math.floor((LIMITS.MAX_BODY_BYTES - 4_096) / 2);
const deepJson = () => `${"[".repeat(DEEP)}${"]".repeat(DEEP)}`;
/** A placeholder replaced in the JSON text (by deep nesting, or by a key JSON.stringify cannot write). */
const MARK = "\u0000mark\u0000";

const PATTERN_BREAKERS = ["has spaces!", "\u0000", "line\r\nbreak", "ünïcødé-€", "x".repeat(300), ""];

function breakPattern(pattern: string): string | undefined {
  const re = new RegExp(pattern, "u");
  return PATTERN_BREAKERS.find((candidate) => !re.test(candidate));
}

/** Values the schema refuses, each with why. */
function badValues(schema: JsonSchema): [string, unknown][] {
  const s = resolve(schema);
  const out: [string, unknown][] = [];
  const branches = s.oneOf ?? s.anyOf;
  if (branches) {
    // A union: only what no branch accepts (each branch's own refusals are generated by walking into it).
    const accepted = new Set(branches.flatMap((b) => typesOf(resolve(b))));
    if (!accepted.has("null")) out.push(["null", null]);
    if (!accepted.has("number") && !accepted.has("integer")) out.push(["a number", 12_345]);
    if (!accepted.has("boolean")) out.push(["a boolean", true]);
    return out;
  }
  const types = typesOf(s);
  if (types.length === 0 && s.const === undefined) return out;
  if (!types.includes("null")) out.push(["null", null]);
  if (s.const !== undefined) out.push(["another constant", `not-${String(s.const)}`]);
  if (s.enum) out.push(["not in the enum", "NOT-IN-ENUM"]);
  switch (mainType(s)) {
    case "string":
      out.push(["a number for a string", 12_345]);
      if (s.maxLength !== undefined) out.push([`longer than ${s.maxLength}`, "x".repeat(s.maxLength + 1)]);
      if ((s.minLength ?? 0) > 0) out.push(["empty", ""]);
      if (s.pattern) {
        const broken = breakPattern(s.pattern);
        if (broken !== undefined) out.push([`breaking ${s.pattern}`, broken]);
      }
      if (s.format === "uuid") out.push(["not a uuid", "not-a-uuid"]);
      if (s.format === "uri" || s.format === "url") out.push(["not a url", "not a url"]);
      break;
    case "integer":
    case "number":
      out.push(["a numeric string", "1"], ["a boolean", true]);
      if (mainType(s) === "integer") out.push(["not an integer", 1.5]);
      if (s.minimum !== undefined) out.push([`below ${s.minimum}`, s.minimum - 1]);
      if (s.maximum !== undefined) out.push([`above ${s.maximum}`, s.maximum + 1]);
      break;
    case "boolean":
      out.push(["a string for a boolean", "true"]);
      break;
    case "array":
      out.push(["a string for an array", "x"]);
      if ((s.minItems ?? 0) > 0) out.push(["empty", []]);
      break;
    case "object":
      out.push(["a string for an object", "x"], ["an array for an object", []]);
      break;
  }
  return out;
}

type Path = (string | number)[];

function setAt(root: unknown, path: Path, value: unknown, remove = false): unknown {
  const copy = structuredClone(root);
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1) as string | number;
  if (remove) delete node[last];
  else node[last] = value;
  return copy;
}

/** Every single-field mutation of a valid body, walking nested objects and the first item of arrays. */
function bodyMutations(schema: JsonSchema, valid: unknown, path: Path = [], inUnion = false): [string, BadBody][] {
  const s = resolve(schema);
  const where = path.length ? `body.${path.join(".")}` : "body";
  const out: [string, BadBody][] = [];
  const set = (value: unknown) => (path.length ? setAt(valid, path, value) : value);
  const value = path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], valid);
  if (!inUnion) for (const [why, bad] of badValues(s)) out.push([`${where} ${why}`, { value: set(bad) }]);
  const branch = (s.oneOf ?? s.anyOf)?.[0];
  // Inside the branch the sample took, only nested fields are broken: another branch may accept the whole value.
  if (branch) return [...out, ...bodyMutations(branch, valid, path, true)];
  if (mainType(s) === "object" && value && typeof value === "object") {
    if (s.additionalProperties === false) {
      out.push([`${where} with an unknown field`, { value: set({ ...value, unexpected: true }) }]);
    } else if (typeof s.additionalProperties === "object" && !s.properties) {
      // A record: one more entry whose value breaks the value schema.
      for (const [why, bad] of badValues(s.additionalProperties)) {
        out.push([`${where}["x-sweep"] ${why}`, { value: set({ ...value, "x-sweep": bad }) }]);
      }
      // An entry keyed "__proto__" (a valid value): assigning it sets a prototype, so it would silently vanish.
      const entry = sample(s.additionalProperties, "", "unused");
      const text = JSON.stringify(set({ ...value, [MARK]: entry })).replace(JSON.stringify(MARK), '"__proto__"');
      out.push([`${where} with an entry keyed __proto__`, { raw: text }]);
    }
    for (const [name, prop] of Object.entries(s.properties ?? {})) {
      if (!(name in value)) continue;
      if (s.required?.includes(name)) {
        out.push([`${where}.${name} missing`, { value: setAt(valid, [...path, name], undefined, true) }]);
      }
      out.push(...bodyMutations(prop, valid, [...path, name]));
    }
  }
  if (mainType(s) === "array" && Array.isArray(value) && value.length > 0 && s.items) {
    out.push(...bodyMutations(s.items, valid, [...path, 0]));
  }
  return out;
}

/** Paths of the fields that take any JSON (payloads, outbound bodies), walking like `bodyMutations`. */
function anyJsonPaths(schema: JsonSchema, valid: unknown, path: Path = []): Path[] {
  const s = resolve(schema);
  const branches = s.oneOf ?? s.anyOf;
  const value = path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], valid);
  const isAny = (b: JsonSchema) => {
    const r = resolve(b);
    return (
      (!r.type && r.const === undefined && !(r.oneOf ?? r.anyOf)) ||
      (r.type === "array" && !resolve(r.items ?? {}).type)
    );
  };
  if (path.length && (branches ? branches.some(isAny) : isAny(s))) return [path];
  if (branches?.[0]) return anyJsonPaths(branches[0], valid, path);
  if (mainType(s) === "object" && value && typeof value === "object") {
    return Object.entries(s.properties ?? {})
      .filter(([name]) => name in value)
      .flatMap(([name, prop]) => anyJsonPaths(prop, valid, [...path, name]));
  }
  if (mainType(s) === "array" && Array.isArray(value) && value.length > 0 && s.items) {
    return anyJsonPaths(s.items, valid, [...path, 0]);
  }
  return [];
}

/** A valid body with the JSON at `path` nested DEEP levels deep (built as text: too deep to build as a value). */
function deepBody(valid: unknown, path: Path): string {
  return JSON.stringify(setAt(valid, path, MARK)).replace(JSON.stringify(MARK), deepJson());
}

/** Query and header values the parameter schema refuses (as the strings a URL or header carries). */
function badParamValues(schema: JsonSchema): [string, string][] {
  const s = resolve(schema);
  const out: [string, string][] = [];
  switch (mainType(s)) {
    case "integer":
    case "number":
      out.push(["not a number", "abc"], ["empty", ""]);
      if (mainType(s) === "integer") out.push(["not an integer", "1.5"]);
      if (s.minimum !== undefined) out.push([`below ${s.minimum}`, String(s.minimum - 1)]);
      if (s.maximum !== undefined) out.push([`above ${s.maximum}`, String(s.maximum + 1)]);
      break;
    case "string":
      if (s.maxLength !== undefined) out.push([`longer than ${s.maxLength}`, "x".repeat(s.maxLength + 1)]);
      if (s.pattern) {
        // Header values cannot carry control characters: only the printable breakers.
        const re = new RegExp(s.pattern, "u");
        for (const candidate of ["has spaces!", "x".repeat(300), "a/b", "a%2Fb"]) {
          if (!re.test(candidate)) out.push([`breaking ${s.pattern}: ${candidate.slice(0, 16)}`, candidate]);
        }
      }
      break;
  }
  return out;
}

/** Names that break the name pattern (already percent-encoded, as they go in a path), and some traversal. */
const BAD_PATH_NAMES: [string, string][] = [
  ["129 characters", "x".repeat(129)],
  ["..", ".."],
  ["encoded ..", "%2e%2e"],
  ["an encoded slash", "a%2Fb"],
  ["an encoded traversal", "..%2F..%2Fhealthz"],
  ["a space", "a%20b"],
  ["unicode", "caf%C3%A9"],
  ["an emoji", "%F0%9F%92%A5"],
  ["a NUL", "a%00b"],
  ["a newline", "a%0Ab"],
  ["a stray percent", "a%"],
  ["broken percent-encoding", "a%ZZ"],
  ["an invalid UTF-8 sequence", "%C3%28"],
  ["a quote and angle brackets", "%22%3Cx%3E"],
];

// --- Requests --------------------------------------------------------------------------------------------------------

interface Case {
  why: string;
  method?: string;
  path: string;
  headers: Record<string, string>;
  body?: BodyInit;
  /** The statuses allowed; any 4xx when absent. */
  expect?: number[];
}

interface Target {
  op: Operation;
  params: Record<string, string>;
  /** Required header parameters (Idempotency-Key): each request gets a fresh value. */
  headerNames: string[];
  /** Upstream key of the URLs inside the bad bodies: it must never be hit. */
  urlKey: string;
  validBody?: unknown;
  /** Every name the bad requests could have addressed an object by. */
  names: Set<string>;
  /** Idempotency keys the bad requests used. */
  keys: Set<string>;
}

function target(op: Operation): Target {
  const params: Record<string, string> = {};
  for (const p of op.parameters.filter((q) => q.in === "path")) params[p.name] = nameFor(resolve(p.schema).pattern);
  const urlKey = `sweep-${freshName()}`;
  const t: Target = {
    op,
    params,
    headerNames: op.parameters.filter((p) => p.in === "header" && p.required).map((p) => p.name),
    urlKey,
    names: new Set(Object.values(params)),
    keys: new Set(),
  };
  // A body that names what it creates (POST /v1/schedules) gets a fresh name, which must stay untouched too.
  if (op.body) t.validBody = named(t, sample(op.body, "", urlKey));
  // A schedule's job starts at each fire time: its runAt (a fixed instant) is refused, so the valid job has none.
  const job = (t.validBody as { job?: { runAt?: unknown } } | undefined)?.job;
  if (op.path === "/v1/schedules" && job) delete job.runAt;
  return t;
}

/** `body` with the target's fresh name, if it has a name (the example name would be the same in every target). */
function named(t: Target, body: unknown): unknown {
  if (typeof (body as { name?: unknown } | null)?.name !== "string") return body;
  const name = [...t.names].find((n) => n.startsWith("body-")) ?? `body-${freshName()}`;
  t.names.add(name);
  return { ...(body as object), name };
}

function pathOf(op: Operation, params: Record<string, string>, query = ""): string {
  return op.path.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? "") + query;
}

/** The headers of a valid request; required header parameters (Idempotency-Key) get a fresh value each time. */
function jsonHeaders(t: Target, extra: Record<string, string> = {}): Record<string, string> {
  const fresh = Object.fromEntries(t.headerNames.map((name) => [name, freshName()]));
  for (const value of Object.values(fresh)) t.keys.add(value);
  return {
    ...(needsAuth(t.op) ? { authorization: AUTH } : {}),
    ...(t.op.body ? { "content-type": "application/json" } : {}),
    ...fresh,
    ...extra,
  };
}

const bodyOf = (b: BadBody) => ("raw" in b ? b.raw : JSON.stringify(b.value));

/** The oversize body: valid-looking JSON one byte over MAX_BODY_BYTES. */
function oversize(): string {
  const filler = LIMITS.MAX_BODY_BYTES + 1 - '{"pad":""}'.length;
  return `{"pad":"${"x".repeat(filler)}"}`;
}

function streamOf(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + 65_536));
      offset += 65_536;
    },
  });
}

/** The generated battery of one operation. */
function generatedCases(t: Target): Case[] {
  const { op } = t;
  const cases: Case[] = [];
  const path = pathOf(op, t.params);
  const validText = t.validBody === undefined ? undefined : JSON.stringify(t.validBody);
  const base = { method: op.method, path, body: validText };
  const hasBody = op.method !== "GET" && op.method !== "HEAD";

  if (needsAuth(op)) {
    const without = jsonHeaders(t);
    delete without.authorization;
    cases.push({ ...base, why: "no token", headers: without, expect: [401] });
    for (const authorization of [
      "Bearer wrong-token",
      "Bearer",
      `Bearer ${TOKEN} extra`,
      `Basic ${btoa(`user:${TOKEN}`)}`,
      `Bearer ${TOKEN.toUpperCase()}`,
      TOKEN,
    ]) {
      cases.push({
        ...base,
        why: `authorization: ${authorization}`,
        headers: { ...without, authorization },
        expect: [401],
      });
    }
  }

  for (const [label, name] of BAD_PATH_NAMES) {
    for (const p of op.parameters.filter((q) => q.in === "path")) {
      const path = pathOf(op, { ...t.params, [p.name]: name });
      cases.push({ ...base, path, why: `path ${p.name} with ${label}`, headers: jsonHeaders(t) });
      try {
        t.names.add(decodeURIComponent(name));
      } catch {
        t.names.add(name);
      }
    }
  }

  for (const p of op.parameters.filter((q) => q.in === "query")) {
    for (const [why, value] of badParamValues(p.schema)) {
      const query = `?${new URLSearchParams({ [p.name]: value })}`;
      cases.push({
        ...base,
        path: pathOf(op, t.params, query),
        why: `query ${p.name} ${why}`,
        headers: jsonHeaders(t),
      });
    }
  }

  for (const p of op.parameters.filter((q) => q.in === "header")) {
    const headers = jsonHeaders(t);
    if (p.required) {
      const without = { ...headers };
      delete without[p.name];
      cases.push({ ...base, why: `header ${p.name} missing`, headers: without });
    }
    for (const [why, value] of badParamValues(p.schema)) {
      cases.push({ ...base, why: `header ${p.name} ${why}`, headers: { ...headers, [p.name]: value } });
      t.keys.add(value);
    }
  }

  if (op.body) {
    const headers = jsonHeaders(t);
    const raw: [string, string][] = [
      ["malformed JSON", "{not json"],
      ["an empty body", ""],
      ["a truncated body", (validText ?? "{}").slice(0, -1)],
      ["a JSON array", "[]"],
      ["a JSON string", '"a string"'],
      ["JSON null", "null"],
      ["a JSON number", "42"],
      [`a JSON array nested ${DEEP} levels deep`, deepJson()],
      ["two JSON documents", `${validText}${validText}`],
      ["a __proto__ field", `{"__proto__":{"polluted":true},${(validText ?? "{}").slice(1)}`],
      ["a constructor field", `{"constructor":{"prototype":{"polluted":true}},${(validText ?? "{}").slice(1)}`],
    ];
    for (const [why, body] of raw) cases.push({ ...base, why, headers, body });
    const branches = resolve(op.body).oneOf ?? [op.body];
    for (const branch of branches) {
      const valid = named(t, sample(branch, "", t.urlKey));
      for (const [why, bad] of bodyMutations(branch, valid)) {
        cases.push({ ...base, why, headers, body: bodyOf(bad) });
      }
    }
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      cases.push({ ...base, why: `content-type ${type}`, headers: { ...headers, "content-type": type } });
    }
    const untyped = { ...headers };
    delete untyped["content-type"];
    // A byte body: fetch adds no content-type of its own.
    cases.push({ ...base, why: "no content-type", headers: untyped, body: new TextEncoder().encode(validText) });
  }

  if (hasBody) {
    const headers = jsonHeaders(t, { "content-type": "application/json" });
    cases.push({ ...base, why: "a body over MAX_BODY_BYTES", headers, body: oversize(), expect: [413] });
    cases.push({
      ...base,
      why: "a streamed body over MAX_BODY_BYTES (no content-length)",
      headers,
      body: streamOf(oversize()),
      expect: [413],
    });
  }

  cases.push({ method: "PATCH", path, why: "an unsupported method", headers: jsonHeaders(t), expect: [404, 405] });
  return cases;
}

/** Rules the schemas cannot express, by operation (each names the setting or rule it breaks). */
interface HandWritten {
  why: string;
  /** The body (the operation's valid body when absent), or raw text. */
  body?: unknown;
  /** Path parameters instead of the target's (each is added to the names that must stay untouched). */
  params?: Record<string, string>;
  raw?: string;
  query?: string;
  /** Headers added to the operation's usual ones (e.g. a WebSocket upgrade). */
  headers?: Record<string, string>;
  expect?: number[];
}

/** A correctly signed room ticket of the first format (no `jti`, so it could not be single-use): refused. */
const TICKET_WITHOUT_JTI = await (async () => {
  const b64url = (bytes: Uint8Array) =>
    btoa(String.fromCharCode(...bytes))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
  const claims = { v: 1, room: "any", user: "ada", exp: Date.now() + 60_000 };
  const payload = b64url(new TextEncoder().encode(JSON.stringify(claims)));
  const secret = new TextEncoder().encode(env.ROOM_TICKET_SECRET as string);
  const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `${payload}.${b64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(payload))))}`;
})();

/** Shaped like a fencing proof (43 base64url characters), issued by no lock. */
const FORGED_SIG = "A".repeat(43);

const HAND_WRITTEN: Record<string, (t: Target) => HandWritten[]> = {
  "POST /demo/api/rooms/{room}/tickets": () => [
    { why: "a demo ticket for a room not named demo-", params: { room: `lobby-${freshName()}` } },
    { why: "a demo ticket for a job room whose id is not a job id", params: { room: `job:${freshName()}x` } },
    {
      why: "a demo ticket for the room of a job the demo did not create",
      params: { room: `job:${crypto.randomUUID().replaceAll("-", "")}` },
      expect: [404],
    },
    { why: "a demo ticket for the reserved name server", body: { user: "server" } },
    { why: "a demo ticket for the reserved name jobs", body: { user: "Jobs" } },
    { why: "a demo ticket for a name with a zero-width space", body: { user: "ad\u200ba" } },
    { why: "a demo ticket with a ttlSec (the demo's is fixed)", body: { user: "ada", ttlSec: 3_600 } },
  ],
  "GET /demo/api/jobs/{id}": () => [
    {
      why: "the status of a job the demo did not create",
      params: { id: crypto.randomUUID().replaceAll("-", "") },
      expect: [404],
    },
  ],
  "GET /demo/api/counters/{name}": () => [
    { why: "a demo read of a counter not named demo-", params: { name: `orders-${freshName()}` } },
  ],
  "POST /demo/api/counters/{name}/increment": () => [
    { why: "a demo increment of a counter not named demo-", params: { name: `orders-${freshName()}` } },
    { why: "a demo increment without a body", raw: "" },
    { why: "a demo name one character too long", params: { name: `demo-${"x".repeat(33)}` } },
    { why: "a demo increment by more than one", body: { by: 1_000 } },
  ],
  "POST /demo/api/locks/{name}/acquire": () => [
    { why: "a demo lock not named demo-", params: { name: `orders-${freshName()}` } },
    { why: "a demo lock held longer than 10 s", body: { owner: "a", ttlMs: 60_000 } },
    { why: "a demo lock waited for longer than 10 s", body: { owner: "a", ttlMs: 1_000, waitMs: 30_000 } },
  ],
  "POST /demo/api/fanout": (t) => [
    { why: "a demo fan-out of more than 8 calls", body: { requests: demoCalls(t, 9) } },
    { why: "a demo fan-out to another path", body: { requests: [{ url: canary(t.urlKey) }] } },
  ],
  "POST /demo/api/jobs": (t) => [
    { why: "a demo job of more than 20 calls", body: { type: "fanout", requests: demoCalls(t, 21) } },
    { why: "a demo job calling another path", body: { type: "fanout", requests: [{ url: canary(t.urlKey) }] } },
  ],
  "GET /demo/api/upstream/delay": () => [
    { why: "a demo upstream status without a body", query: "?status=204" },
    { why: "a demo upstream wait over 5 s", query: "?ms=60000" },
  ],
  "GET /v1/counters/{name}": () => [
    { why: "a fenced read with a lock and no token", query: "?lock=some-lock" },
    { why: "a fenced read with a token and no lock", query: "?token=3" },
    { why: "a fenced read without the lock's proof", query: "?lock=inv&token=3" },
    {
      why: "a fenced read of a token the lock never issued",
      query: `?lock=inv&token=9&sig=${FORGED_SIG}`,
      expect: [403],
    },
  ],
  "POST /v1/counters/{name}/increment": () => [
    { why: "min above max", body: { by: 1, min: 5, max: 1 } },
    {
      why: "a made-up fencing token without the lock's proof",
      body: { by: 1, fence: { lock: "inv", token: Number.MAX_SAFE_INTEGER } },
      expect: [400],
    },
    {
      why: "a made-up fencing token with a proof the lock never issued",
      body: { by: 1, fence: { lock: "inv", token: Number.MAX_SAFE_INTEGER, sig: FORGED_SIG } },
      expect: [403],
    },
  ],
  "PUT /v1/counters/{name}/shards": () => [
    { why: "shards above COUNTER_MAX_SHARDS", body: { shards: LIMITS.COUNTER_MAX_SHARDS + 1 }, expect: [400] },
    { why: "0 shards", body: { shards: 0 }, expect: [400] },
    { why: "a fraction of a shard", body: { shards: 1.5 }, expect: [400] },
    { why: "shards as a string", body: { shards: "4" }, expect: [400] },
  ],
  "PUT /v1/counters/{name}": () => [
    {
      why: "a set fenced with a proof the lock never issued",
      body: { value: 1, fence: { lock: "inv", token: 1, sig: FORGED_SIG } },
      expect: [403],
    },
  ],
  "POST /v1/locks/{name}/acquire": () => [
    { why: "ttlMs below LEASE_MIN_TTL_MS", body: { owner: "o", ttlMs: LIMITS.LEASE_MIN_TTL_MS - 1 } },
    { why: "ttlMs above LEASE_MAX_TTL_MS", body: { owner: "o", ttlMs: LIMITS.LEASE_MAX_TTL_MS + 1 } },
    { why: "waitMs above LEASE_MAX_WAIT_MS", body: { owner: "o", ttlMs: 1_000, waitMs: LIMITS.LEASE_MAX_WAIT_MS + 1 } },
  ],
  "POST /v1/locks/{name}/renew": () => [
    { why: "ttlMs above LEASE_MAX_TTL_MS", body: { owner: "o", token: 1, ttlMs: LIMITS.LEASE_MAX_TTL_MS + 1 } },
  ],
  "POST /v1/semaphores/{name}/acquire": () => [
    {
      why: "limit above SEMAPHORE_MAX_LIMIT",
      body: { holder: "h", limit: LIMITS.SEMAPHORE_MAX_LIMIT + 1, ttlMs: 1_000 },
    },
    { why: "permits above limit", body: { holder: "h", permits: 3, limit: 2, ttlMs: 1_000 } },
    { why: "ttlMs below LEASE_MIN_TTL_MS", body: { holder: "h", limit: 2, ttlMs: LIMITS.LEASE_MIN_TTL_MS - 1 } },
  ],
  "POST /v1/semaphores/{name}/renew": () => [
    {
      why: "ttlMs above LEASE_MAX_TTL_MS",
      body: { leaseId: crypto.randomUUID(), holder: "h", ttlMs: LIMITS.LEASE_MAX_TTL_MS + 1 },
    },
  ],
  "POST /v1/ratelimits/{key}": () => [
    { why: "cost above burst", body: { cost: 5, limit: 10, periodMs: 1_000, burst: 4 } },
  ],
  "POST /v1/rooms/{room}/tickets": () => [
    {
      why: "ttlSec above ROOM_TICKET_MAX_TTL_SECONDS",
      body: { user: "ada", ttlSec: LIMITS.ROOM_TICKET_MAX_TTL_SECONDS + 1 },
    },
    { why: "a user name with a control character", body: { user: "a\u0007b" } },
    { why: "a ticket for the reserved name server", body: { user: "server" } },
    { why: "a ticket for the reserved name jobs, in fullwidth capitals", body: { user: "\uff2a\uff2f\uff22\uff33" } },
    { why: "a user name with a zero-width space", body: { user: "se\u200brver" } },
    { why: "a user name mixing a Cyrillic letter into Latin ones", body: { user: "\u0455erver" } },
    { why: "a user name with a right-to-left override", body: { user: "ada\u202e" } },
    { why: "a user name in fullwidth letters", body: { user: "\uff41\uff44\uff41" } },
  ],
  "PUT /v1/rooms/{room}/shards": () => [
    { why: "shards above ROOM_MAX_SHARDS", body: { shards: LIMITS.ROOM_MAX_SHARDS + 1 } },
    { why: "shards 0", body: { shards: 0 } },
    { why: "shards not an integer", body: { shards: 1.5 } },
    { why: "shards as a string", body: { shards: "4" } },
    { why: "malformed JSON", raw: '{"shards": 4' },
  ],
  "POST /v1/rooms/{room}/messages": () => [
    { why: "no data", body: { from: "server" } },
    { why: "from the name only a job's progress carries", body: { data: { kind: "job-progress" }, from: "jobs" } },
    { why: "from a name with a control character", body: { data: 1, from: "ci\u0000" } },
    { why: "from a name with a zero-width space", body: { data: 1, from: "se\u200brver" } },
    { why: "from a name mixing scripts", body: { data: 1, from: "\u0455erver" } },
    { why: "data over ROOM_MAX_MESSAGE_BYTES", body: { data: "x".repeat(LIMITS.ROOM_MAX_MESSAGE_BYTES + 1) } },
  ],
  "GET /v1/rooms/{room}/ws": () => [
    { why: "a WebSocket request without a ticket (not an upgrade either)", query: "" },
    { why: "a forged ticket", query: "?ticket=forged.ticket" },
    {
      why: "a signed ticket without a jti (not single-use)",
      query: `?ticket=${TICKET_WITHOUT_JTI}`,
      headers: { upgrade: "websocket" },
      expect: [401],
    },
  ],
  "POST /v1/fanout": (t) => [
    ...flowCases({ requests: [{ url: canary(t.urlKey) }] }),
    {
      why: "more requests than FANOUT_MAX_REQUESTS",
      body: { requests: Array.from({ length: LIMITS.FANOUT_MAX_REQUESTS + 1 }, () => ({ url: canary(t.urlKey) })) },
    },
    {
      why: "more headers than FANOUT_MAX_HEADERS",
      body: { requests: [{ url: canary(t.urlKey), headers: manyHeaders(LIMITS.FANOUT_MAX_HEADERS + 1) }] },
    },
    { why: "a hop-by-hop header", body: { requests: [{ url: canary(t.urlKey), headers: { host: "example.com" } }] } },
    { why: "a header value with CR LF", body: { requests: [{ url: canary(t.urlKey), headers: { "x-a": "a\r\nb" } }] } },
    { why: "requests keyed by a bad name", body: { requests: { "bad name!": { url: canary(t.urlKey) } } } },
    { why: "an empty object of requests", body: { requests: {} } },
    {
      why: "a request keyed __proto__ (it would vanish from the answer)",
      raw: `{"requests":{"a":{"url":"${canary(t.urlKey)}"},"__proto__":{"url":"${canary(t.urlKey)}"}}}`,
    },
  ],
  "POST /v1/jobs": (t) => [
    ...flowCases({ type: "fanout", requests: [{ url: canary(t.urlKey) }] }),
    ...flowCases({ type: "webhook", url: canary(t.urlKey), payload: {} }),
    ...flowCases({ type: "hash", items: [{ url: canary(t.urlKey) }] }),
    ...flowCases({ type: "service", items: [{ url: canary(t.urlKey) }] }),
    {
      why: "a hash job with more URLs than JOBS_MAX_REQUESTS",
      body: {
        type: "hash",
        items: Array.from({ length: LIMITS.JOBS_MAX_REQUESTS + 1 }, () => ({ url: canary(t.urlKey) })),
      },
      expect: [413],
    },
    {
      why: "a service job with more items than JOBS_MAX_REQUESTS",
      body: { type: "service", items: Array.from({ length: LIMITS.JOBS_MAX_REQUESTS + 1 }, (_, i) => i) },
      expect: [413],
    },
    { why: "a service job without items", body: { type: "service" } },
    {
      why: "a hash job with a digest no one asked for",
      body: { type: "hash", items: [{ url: canary(t.urlKey), algorithm: "MD5" }] },
    },
    { why: "a hash job with requests instead of items", body: { type: "hash", requests: [{ url: canary(t.urlKey) }] } },
    {
      why: "a fan-out job with more headers than FANOUT_MAX_HEADERS",
      body: {
        type: "fanout",
        requests: [{ url: canary(t.urlKey), headers: manyHeaders(LIMITS.FANOUT_MAX_HEADERS + 1) }],
      },
    },
    { why: "an unknown job type", body: { type: "cron", requests: [{ url: canary(t.urlKey) }] } },
    { why: "no job type", body: { requests: [{ url: canary(t.urlKey) }] } },
    {
      why: "a webhook header value with CR LF",
      body: { type: "webhook", url: canary(t.urlKey), payload: {}, headers: { "x-a": "a\r\nb" } },
    },
    {
      why: "a webhook header named __proto__ (it would vanish from the delivery)",
      raw: `{"type":"webhook","url":"${canary(t.urlKey)}","payload":{},"headers":{"__proto__":"x"}}`,
    },
    {
      why: "a webhook header the service signs with",
      body: { type: "webhook", url: canary(t.urlKey), payload: {}, headers: { "webhook-signature": "v1,forged" } },
    },
    {
      why: "a webhook hop-by-hop header",
      body: { type: "webhook", url: canary(t.urlKey), payload: {}, headers: { host: "example.com" } },
    },
    {
      why: "a webhook with more headers than FANOUT_MAX_HEADERS",
      body: {
        type: "webhook",
        url: canary(t.urlKey),
        payload: {},
        headers: manyHeaders(LIMITS.FANOUT_MAX_HEADERS + 1),
      },
    },
    ...jobTimingCases(t),
  ],
  "GET /v1/jobs": () => [
    { why: "a state no job has", query: "?state=sleeping" },
    { why: "limit above JOBS_LIST_PAGE_MAX", query: `?limit=${LIMITS.JOBS_LIST_PAGE_MAX + 1}` },
    { why: "a results cursor for a list", query: `?cursor=${btoa("r1:5")}` },
    { why: "a forged list cursor", query: `?cursor=${btoa(`l1:-5:${"0".repeat(32)}`)}` },
    { why: "a cursor that is not base64", query: "?cursor=%%%" },
  ],
  "POST /v1/pages": (t) => [
    ...flowCases({ url: canary(t.urlKey), next: "link" }),
    {
      why: "maxPages above PAGES_MAX_PAGES",
      body: { url: canary(t.urlKey), next: "link", maxPages: LIMITS.PAGES_MAX_PAGES + 1 },
    },
    { why: "prefetch on a link crawl", body: { url: canary(t.urlKey), next: "link", prefetch: 2 } },
    {
      why: "a cursor crawl that does not read JSON",
      body: { url: canary(t.urlKey), next: { cursor: "/next", param: "cursor" }, responseBody: "base64" },
    },
    { why: "a page crawl without a parameter name", body: { url: canary(t.urlKey), next: { page: "" } } },
    { why: "an items pointer with a bare ~", body: { url: canary(t.urlKey), next: "link", items: "/a~b" } },
    {
      why: "more headers than FANOUT_MAX_HEADERS",
      body: { url: canary(t.urlKey), next: "link", headers: manyHeaders(LIMITS.FANOUT_MAX_HEADERS + 1) },
    },
    { why: "a hop-by-hop header", body: { url: canary(t.urlKey), next: "link", headers: { host: "example.com" } } },
    { why: "a header value with CR LF", body: { url: canary(t.urlKey), next: "link", headers: { "x-a": "a\r\nb" } } },
    { why: "a url that does not parse", body: { url: "no scheme, no host", next: "link" } },
    { why: "a url without a scheme the guard allows", body: { url: "ftp://files.example.com/list", next: "link" } },
  ],
  "POST /v1/schedules": (t) => [
    { why: "an unknown time zone", body: { ...schedule(t), timezone: "Mars/Olympus" } },
    { why: "a UTC offset for a time zone", body: { ...schedule(t), timezone: "+01:00" } },
    { why: "a cron of four fields", body: { ...schedule(t), cron: "* * * *" } },
    { why: "a cron of seven fields (with a year)", body: { ...schedule(t), cron: "0 0 0 * * * 2030" } },
    { why: "a cron with a minute out of range", body: { ...schedule(t), cron: "61 * * * *" } },
    { why: "a cron that never fires", body: { ...schedule(t), cron: "0 0 30 2 *" } },
    {
      why: "a cron firing more often than SCHEDULES_MIN_INTERVAL_SECONDS",
      body: { ...schedule(t), cron: "* * * * * *" },
    },
    {
      why: "a job with more headers than FANOUT_MAX_HEADERS",
      body: {
        ...schedule(t),
        job: {
          type: "fanout",
          requests: [{ url: canary(t.urlKey), headers: manyHeaders(LIMITS.FANOUT_MAX_HEADERS + 1) }],
        },
      },
    },
    { why: "a job of an unknown type", body: { ...schedule(t), job: { type: "cron", requests: [] } } },
    { why: "a job without its type", body: { ...schedule(t), job: { requests: [{ url: canary(t.urlKey) }] } } },
    {
      why: "a webhook job setting a header the service signs with",
      body: {
        ...schedule(t),
        job: { type: "webhook", url: canary(t.urlKey), payload: {}, headers: { "webhook-id": "forged" } },
      },
    },
  ],
  "GET /v1/schedules": () => [
    { why: "a forged cursor", query: `?cursor=${btoa("has spaces!")}` },
    { why: "a cursor that is not base64", query: "?cursor=%%%" },
  ],
  "POST /v1/tokens": () => [
    { why: "a scope no route declares", body: { name: "t", scopes: ["counter:write"] } },
    { why: "the root token's own scope", body: { name: "t", scopes: ["tokens"] } },
    { why: "a verb no route has", body: { name: "t", scopes: ["*:delete"] } },
    { why: "names for a family whose routes take none", body: { name: "t", scopes: ["*"], names: { jobs: ["a*"] } } },
    { why: "a name pattern with a slash", body: { name: "t", scopes: ["*"], names: { "*": ["a/*"] } } },
    { why: "a namespace with a slash", body: { name: "t", scopes: ["*"], namespace: "a/b" } },
    { why: "no scopes", body: { name: "t", scopes: [] } },
  ],
  "POST /v1/tokens/{id}/rotate": () => [
    { why: "graceSeconds above TOKENS_MAX_GRACE_SECONDS", body: { graceSeconds: LIMITS.TOKENS_MAX_GRACE_SECONDS + 1 } },
  ],
  "GET /v1/jobs/{id}/results": () => [
    { why: "limit above JOBS_RESULTS_PAGE_MAX", query: `?limit=${LIMITS.JOBS_RESULTS_PAGE_MAX + 1}` },
    { why: "a forged cursor", query: `?cursor=${btoa("r1:-5")}` },
    { why: "a cursor that is not base64", query: "?cursor=%%%" },
  ],
};

/** The rules of `flow` a schema cannot say, on an otherwise valid body. */
function flowCases(body: Record<string, unknown>): HandWritten[] {
  const max = LIMITS.FLOW_MAX_PARALLELISM;
  return [
    { why: "a flow with neither parallelism nor rate", body: { ...body, flow: { key: freshName() } } },
    {
      why: "flow.parallelism above FLOW_MAX_PARALLELISM",
      body: { ...body, flow: { key: freshName(), parallelism: max + 1 } },
      expect: [400],
    },
  ];
}

/** A valid schedule body (the target's name, a daily cron, a job calling the canary). */
function schedule(t: Target) {
  return {
    ...(t.validBody as object),
    cron: "0 3 * * *",
    job: { type: "fanout", requests: [{ url: canary(t.urlKey) }] },
  };
}

/** A job's start, retry, timeout and callback rules (cross-field ones, and those of the settings in force). */
function jobTimingCases(t: Target): HandWritten[] {
  const fanout = { type: "fanout", requests: [{ url: canary(t.urlKey) }] };
  const webhook = { type: "webhook", url: canary(t.urlKey), payload: {} };
  const hash = { type: "hash", items: [{ url: canary(t.urlKey) }] };
  const service = { type: "service", items: [{ url: canary(t.urlKey) }] };
  const day = 86_400_000;
  const tooFar = new Date(Date.now() + (LIMITS.JOBS_MAX_DELAY_DAYS + 1) * day).toISOString();
  return [
    { why: "runAt and delayMs together", body: { ...fanout, runAt: new Date().toISOString(), delayMs: 1_000 } },
    { why: "delayMs beyond JOBS_MAX_DELAY_DAYS", body: { ...fanout, delayMs: LIMITS.JOBS_MAX_DELAY_DAYS * day + 1 } },
    { why: "runAt beyond JOBS_MAX_DELAY_DAYS", body: { ...webhook, runAt: tooFar } },
    { why: "runAt without its offset", body: { ...fanout, runAt: "2026-12-24T18:00:00" } },
    { why: "runAt that is no time", body: { ...fanout, runAt: "next tuesday" } },
    { why: "runAt as a number", body: { ...fanout, runAt: Date.now() } },
    { why: "delayMs negative", body: { ...fanout, delayMs: -1 } },
    { why: "delayMs not an integer", body: { ...fanout, delayMs: 1.5 } },
    { why: "delayMs as a string", body: { ...webhook, delayMs: "60000" } },
    { why: "retry.attempts above max_retries + 1", body: { ...fanout, retry: { attempts: 7 } } },
    { why: "retry.maxMs above JOBS_RETRY_MAX_SECONDS", body: { ...webhook, retry: { maxMs: 300_001 } } },
    { why: "retry.baseMs above JOBS_RETRY_MAX_SECONDS", body: { ...fanout, retry: { baseMs: 86_400_000 } } },
    { why: "a webhook timeoutMs above JOBS_MAX_TIMEOUT_MS", body: { ...webhook, timeoutMs: 300_001 } },
    { why: "a hash job's timeoutMs above JOBS_MAX_TIMEOUT_MS", body: { ...hash, timeoutMs: 300_001 } },
    { why: "a service job's timeoutMs above JOBS_MAX_TIMEOUT_MS", body: { ...service, timeoutMs: 300_001 } },
    { why: "a service job starting beyond JOBS_MAX_DELAY_DAYS", body: { ...service, runAt: tooFar } },
    {
      why: "a callback for a state no job ends in",
      body: { ...fanout, callback: { url: canary(t.urlKey), on: ["running"] } },
    },
    { why: "a callback without a url", body: { ...webhook, callback: { on: ["failed"] } } },
    { why: "a callback url that does not parse", body: { ...fanout, callback: { url: "no scheme, no host" } } },
  ];
}

/** `n` calls to the demo upstream on the loopback upstream (counted under the target's key). */
function demoCalls(t: Target, n: number): { url: string }[] {
  return Array.from({ length: n }, () => ({ url: `${UPSTREAM}/demo/api/upstream/delay?key=${t.urlKey}` }));
}

function manyHeaders(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, "v"]));
}

function handWrittenCases(t: Target): Case[] {
  const make = HAND_WRITTEN[opName(t.op)];
  if (!make) return [];
  const valid = t.validBody === undefined ? undefined : JSON.stringify(t.validBody);
  return make(t).map(({ why, body, raw, query, params, headers, expect }) => {
    for (const name of Object.values(params ?? {})) t.names.add(name);
    return {
      why,
      method: t.op.method,
      path: pathOf(t.op, { ...t.params, ...params }, query),
      headers: jsonHeaders(t, headers),
      body: raw ?? (body === undefined ? valid : JSON.stringify(body)),
      expect,
    };
  });
}

// --- Checks ------------------------------------------------------------------------------------------------------------

const STACK = [
  /^\s*at\s/m,
  /\bat .*:\d+:\d+/,
  /\.(ts|js|mjs|cjs):\d+/,
  /\/(work|src|functions|node_modules)\//,
  /\b(TypeError|RangeError|ReferenceError|SyntaxError|InternalError)\b/,
];

/** What is wrong with this answer to a bad request, or undefined when it is a proper problem. */
async function judge(res: Response, c: Case): Promise<string | undefined> {
  const text = await res.text();
  const got = `${res.status} ${text.slice(0, 160)}`;
  if (res.status < 400 || res.status > 499) return `status ${got}`;
  if (c.expect && !c.expect.includes(res.status)) return `status ${res.status}, expected ${c.expect.join("/")}: ${got}`;
  if (res.headers.get("content-type") !== "application/problem+json") {
    return `content-type ${res.headers.get("content-type")}: ${got}`;
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return `not JSON: ${got}`;
  }
  for (const field of ["type", "title", "detail"]) {
    if (typeof body[field] !== "string" || body[field] === "") return `no ${field}: ${got}`;
  }
  if (body.status !== res.status) return `body status ${String(body.status)} for HTTP ${res.status}`;
  const leak = STACK.find((re) => re.test(text));
  if (leak) return `stack or file path (${leak}) in ${text.slice(0, 300)}`;
  return undefined;
}

/** Outbound URLs in a generated request: only the loopback upstream may ever be named. */
const FOREIGN_URL = /\b(https?|wss?):\/\/(?!127\.0\.0\.1[:/])/;

/**
 * The demo routes' settings: on, and without their shared limit (one bucket for all callers, which the sweep's
 * hundreds of requests would empty: test/demo/demo.test.ts tests it).
 */
const DEMO_ENV = { ...env, DEMO_MODE: "true", DEMO_RATE_LIMIT: "0" };

/** Call the worker as a client does; the demo routes with DEMO_MODE on. */
async function fetchApp(path: string, init: RequestInit): Promise<Response> {
  if (!path.startsWith("/demo/")) return exports.default.fetch(`${BASE}${path}`, init);
  return worker.fetch(new Request(`${BASE}${path}`, init), DEMO_ENV, createExecutionContext());
}

/** How a case reaches the worker: over HTTP as a client, or through the service binding as its root (no props). */
type Via = "http" | "binding";

async function send(c: Case, via: Via = "http"): Promise<Response> {
  if (typeof c.body === "string" && FOREIGN_URL.test(c.body))
    throw new Error(`a generated body names a host: ${c.body}`);
  const init = { method: c.method, headers: c.headers, body: c.body };
  return via === "binding" ? exports.Edgeloop.fetch(`${BASE}${c.path}`, init) : fetchApp(c.path, init);
}

/**
 * Run `cases` a few at a time; every failure is collected, so one run lists every defect. `answers` receives each
 * case's status and problem type (`401 urn:edgeloop:problem:unauthorized`), by its index.
 */
async function runAll(cases: Case[], via: Via = "http", answers: string[] = []): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < cases.length) {
      const i = next++;
      const c = cases[i] as Case;
      try {
        const res = await send(c, via);
        const type = await res
          .clone()
          .json<{ type?: string }>()
          .then((b) => b.type)
          .catch(() => undefined);
        answers[i] = `${res.status} ${type}`;
        const problem = await judge(res, c);
        if (problem) failures.push(`${c.why}: ${problem}`);
      } catch (err) {
        failures.push(`${c.why}: the request threw ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return failures;
}

/**
 * The cases about the bearer token, which a binding does not send (its caller is who its props say): the token
 * cases, and any case refused over HTTP for the token it did not send (a path that leaves a route without bearer
 * security, `/v1/rooms/../ws`, for one).
 */
const aboutToken = (c: Case, http: string | undefined) =>
  c.why === "no token" || c.why.startsWith("authorization: ") || http === "401 urn:edgeloop:problem:unauthorized";

/** Every Durable Object namespace bound to the worker, found in env. */
const namespaces = Object.entries(env).filter(
  (entry): entry is [string, DurableObjectNamespace] =>
    typeof entry[1] === "object" && entry[1]?.constructor.name === "DurableObjectNamespace",
);

/** Names (in every namespace, raw and as a rate-limit key) and job ids that have an object. */
async function objectsFor(names: Iterable<string>, jobKeys: Iterable<string>): Promise<string[]> {
  // The demo's job route keeps its keys in a scope of its own: a job it created would be under that scope.
  const jobIds = (
    await Promise.all([...jobKeys].map((key) => Promise.all([jobIdFor(SCOPE, key), jobIdFor(DEMO_SCOPE, key)])))
  ).flat();
  const found: string[] = [];
  for (const [binding, ns] of namespaces) {
    const existing = new Set((await listDurableObjectIds(ns)).map((id) => id.toString()));
    const candidates = [...names]
      .flatMap((n) => [
        n,
        `user:${n}`,
        ...(binding === "FLOW" ? [`${SCOPE}:flow:${n}`] : []),
        ...(binding === "SCHEDULE" ? [`${SCOPE}:${n}`] : []),
      ])
      .concat(binding === "JOB" ? jobIds : []);
    for (const name of candidates) {
      if (existing.has(ns.idFromName(name).toString())) found.push(`${binding}:${JSON.stringify(name)}`);
    }
  }
  return found;
}

/** The GET operation that reads the resource `op` writes (same path, or the path without its last segments). */
function readerOf(op: Operation): Operation | undefined {
  const segments = op.path.split("/");
  for (let n = segments.length; n > 2; n--) {
    const path = segments.slice(0, n).join("/");
    const reader = operations.find((o) => o.method === "GET" && o.path === path && /\{\w+\}$/.test(path));
    if (reader && reader.path !== "/v1/rooms/{room}/ws") return reader;
  }
  return undefined;
}

/**
 * Operations no GET reads back, so the sweep cannot compare their resource with an untouched one; each says what
 * shows instead that nothing changed. An operation without a reader that is not listed here fails the sweep.
 */
const NO_READER: Record<string, string> = {
  "POST /demo/api/rooms/{room}/tickets":
    "mints a signed ticket and stores nothing: the ROOM check shows no room touched",
  "POST /v1/ratelimits/{key}": "no GET for a key: the object check (RATE_LIMITER, raw and user: keys) covers it",
  "POST /v1/fanout": "stores nothing: the upstream count shows nothing was called",
  "POST /v1/jobs": "no id before a job exists: the JOB check (ids of the idempotency keys) and the upstream count",
  "POST /demo/api/fanout": "stores nothing: the upstream count shows nothing was called",
  "POST /demo/api/jobs": "no id before a job exists: the JOB check (ids of the demo's keys) and the upstream count",
  "GET /demo/api/upstream/delay": "the demo upstream: answers after a wait and stores nothing",
  "POST /v1/pages": "stores nothing: the upstream count shows nothing was called",
  "POST /v1/schedules":
    "names its schedule in the body: the SCHEDULE check (the object of the caller's scope and that name) and the list",
  "GET /v1/schedules": "reads the caller's schedules and changes nothing",
  "POST /v1/tokens": "no id before a token exists: the token list reads the same before and after",
  "GET /v1/tokens": "a list: the token list reads the same before and after",
  "GET /v1/jobs": "a list: it writes nothing (its index is named by the token, not by anything a request names)",
};

/**
 * Operations with a body in which no field takes any JSON (every field is typed and swept field by field), so
 * there is nothing to nest deeply. An operation with a body that gets no deep-JSON test and is not listed here
 * fails the sweep.
 */
const TYPED_BODIES = [
  "POST /v1/rooms/{room}/tickets",
  "PUT /v1/rooms/{room}/shards",
  "POST /demo/api/rooms/{room}/tickets",
  "POST /demo/api/counters/{name}/increment",
  "POST /demo/api/locks/{name}/acquire",
  "POST /demo/api/locks/{name}/renew",
  "POST /demo/api/locks/{name}/release",
  "POST /demo/api/fanout",
  "POST /demo/api/jobs",
  "PUT /v1/counters/{name}",
  "POST /v1/counters/{name}/increment",
  "PUT /v1/counters/{name}/shards",
  "POST /v1/locks/{name}/acquire",
  "POST /v1/locks/{name}/renew",
  "POST /v1/locks/{name}/release",
  "POST /v1/semaphores/{name}/acquire",
  "POST /v1/semaphores/{name}/renew",
  "POST /v1/semaphores/{name}/release",
  "POST /v1/ratelimits/{key}",
  "POST /v1/pages",
  "POST /v1/tokens",
  "POST /v1/tokens/{id}/rotate",
];

async function read(reader: Operation, params: Record<string, string>) {
  const res = await fetchApp(pathOf(reader, params), { headers: { authorization: AUTH } });
  const text = await res.text();
  // The resource's own name aside, a never-touched one reads the same.
  const normal = Object.values(params).reduce((s, name) => s.replaceAll(name, "<name>"), text);
  return { status: res.status, body: normal.replace(/"(updatedAt|createdAt)":"[^"]*"/g, '"$1":"<time>"') };
}

/** Every token GET /v1/tokens lists, with when it was revoked or rotated (its state may expire meanwhile). */
async function tokenList(): Promise<string[]> {
  const res = await fetchApp("/v1/tokens", { headers: { authorization: AUTH } });
  const { tokens } = await res.json<{ tokens: { id: string; revokedAt?: string; rotatedAt?: string }[] }>();
  return tokens.map((t) => `${t.id} ${t.revokedAt} ${t.rotatedAt}`);
}

async function upstreamHits(key: string): Promise<number> {
  const res = await fetch(`${UPSTREAM}/__stats?key=${encodeURIComponent(key)}`);
  return (await res.json<{ hits: number }>()).hits;
}

// --- The sweep ---------------------------------------------------------------------------------------------------------

describe("the bad-input sweep over the OpenAPI document", () => {
  it("finds every family's operations in the document, and a hand-written case only for a real operation", () => {
    const families = new Set(operations.map((op) => op.path.split("/")[2]));
    const expected = ["counters", "locks", "semaphores", "ratelimits", "rooms", "fanout", "pages", "jobs", "flow"];
    for (const family of [...expected, "schedules", "api"]) {
      expect(families).toContain(family);
    }
    for (const name of Object.keys(HAND_WRITTEN)) expect(operations.map(opName)).toContain(name);
  });

  it("generates requests the API accepts as valid, so each bad one breaks exactly one thing", async () => {
    const refused: string[] = [];
    for (const op of operations) {
      const t = target(op);
      const res = await send({
        why: "valid",
        method: op.method,
        path: pathOf(op, t.params),
        headers: jsonHeaders(t),
        body: t.validBody === undefined ? undefined : JSON.stringify(t.validBody),
      });
      const text = await res.text();
      // 404 (no such job, demo off), 409 (a release without a grant) and 426 (ws without upgrade) are past validation.
      if ([400, 401, 413, 415, 422].includes(res.status) || res.status >= 500) {
        refused.push(`${opName(op)}: ${res.status} ${text.slice(0, 200)}`);
      }
    }
    expect(refused).toEqual([]);
  });

  for (const op of operations) {
    it(`${opName(op)}: every bad request is a 4xx problem+json and changes nothing`, async () => {
      const t = target(op);
      const cases = [...generatedCases(t), ...handWrittenCases(t)];
      expect(cases.length).toBeGreaterThan(0);
      // The flow keys the bodies name must stay untouched too (their Flow objects are <scope>:flow:<key>).
      for (const c of cases) {
        if (typeof c.body !== "string") continue;
        for (const [, key] of c.body.matchAll(/"flow":\{"key":"([^"]*)"/g)) if (key) t.names.add(key);
      }
      const tokensBefore = await tokenList();
      const answers: string[] = [];
      const failures = await runAll(cases, "http", answers);
      expect(failures, `${failures.length} of ${cases.length} bad requests were mishandled`).toEqual([]);

      // The same requests through the service binding (src/binding/) get the same answers, the token's aside. They are
      // generated again (a streamed body is read once), in the same order, with fresh names the checks below cover.
      if (op.path.startsWith("/v1/")) {
        const again = [...generatedCases(t), ...handWrittenCases(t)];
        expect(again.map((c) => c.why)).toEqual(cases.map((c) => c.why));
        const replayed = again.filter((c, i) => !aboutToken(c, answers[i]));
        const viaBinding: string[] = [];
        const bindingFailures = await runAll(replayed, "binding", viaBinding);
        expect(bindingFailures, "through the binding").toEqual([]);
        const differ = replayed.flatMap((c, i) => {
          const http = answers[again.indexOf(c)];
          return viaBinding[i] === http ? [] : [`${c.why}: ${viaBinding[i]} through the binding, ${http} over HTTP`];
        });
        expect(differ).toEqual([]);
      }

      // Nothing was created: no object for any name or idempotency key used, no call to the upstream.
      expect(await objectsFor(t.names, t.keys)).toEqual([]);
      expect(await upstreamHits(t.urlKey)).toBe(0);
      // No token was made, revoked or rotated (the Tokens object is one for the service: not a name's object).
      expect(await tokenList()).toEqual(tokensBefore);
      // And the resource reads exactly like one nobody touched (or NO_READER says what shows it instead).
      const reader = readerOf(op);
      if (reader) {
        const untouched = Object.fromEntries(
          op.parameters.filter((p) => p.in === "path").map((p) => [p.name, nameFor(resolve(p.schema).pattern)]),
        );
        expect(await read(reader, t.params)).toEqual(await read(reader, untouched));
      } else {
        expect(NO_READER[opName(op)], `${opName(op)} has no GET reading it back: list it in NO_READER`).toBeDefined();
      }
    });
  }

  it("reads back every operation's resource but the ones NO_READER lists, each for a reason", () => {
    const unread = operations.filter((op) => !readerOf(op)).map(opName);
    expect(unread.sort()).toEqual(Object.keys(NO_READER).sort());
  });

  it("publishes patterns a client can use: each compiles as a regular expression and its example matches", () => {
    const found: string[] = [];
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) visit(item);
        return;
      }
      if (!node || typeof node !== "object") return;
      const schema = node as JsonSchema;
      if (typeof schema.pattern === "string") {
        const re = new RegExp(schema.pattern, "u");
        if (typeof schema.example === "string" && !re.test(schema.example)) {
          found.push(`${schema.pattern} refuses its own example ${schema.example}`);
        }
        const valid = sample(schema, "", "unused");
        if (typeof valid === "string" && !re.test(valid)) found.push(`${schema.pattern} refuses ${valid}`);
      }
      Object.values(node).forEach(visit);
    };
    visit(doc);
    expect(found).toEqual([]);
  });

  const withoutDeepJson: string[] = [];
  for (const op of operations.filter((o) => o.body)) {
    const t = target(op);
    const branches = resolve(op.body as JsonSchema).oneOf ?? [op.body as JsonSchema];
    const deep = branches.flatMap((branch) => {
      const valid = named(t, sample(branch, "", t.urlKey));
      return anyJsonPaths(branch, valid).map((path) => ({ path, body: deepBody(valid, path) }));
    });
    if (deep.length === 0) {
      withoutDeepJson.push(opName(op));
      continue;
    }
    it(`${opName(op)}: JSON nested as deep as MAX_BODY_BYTES allows in ${deep.map((d) => d.path.join(".")).join(", ")} is never a 5xx`, async () => {
      const failures: string[] = [];
      for (const { path, body } of deep) {
        const c: Case = { why: "", method: op.method, path: pathOf(op, t.params), headers: jsonHeaders(t), body };
        const res = await send(c);
        // Such a body may be fine (an outbound body is sent as given): it must never break the service.
        if (res.status < 400) {
          await res.body?.cancel();
          continue;
        }
        const problem = await judge(res, c);
        if (problem) failures.push(`${path.join(".")}: ${problem}`);
      }
      expect(failures).toEqual([]);
    });
  }

  it("nests deep JSON into every body that takes any JSON; the others are the typed bodies TYPED_BODIES lists", () => {
    expect(withoutDeepJson.sort()).toEqual([...TYPED_BODIES].sort());
  });

  it("sees an object a valid request creates (the checks above can fail)", async () => {
    const name = freshName();
    const res = await exports.default.fetch(`${BASE}/v1/counters/${name}/increment`, {
      method: "POST",
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: JSON.stringify({ by: 2 }),
    });
    expect(res.status).toBe(200);
    expect(await objectsFor([name], [])).toEqual([`COUNTER:${JSON.stringify(name)}`]);

    const key = freshName();
    const job = await exports.default.fetch(`${BASE}/v1/jobs`, {
      method: "POST",
      headers: { authorization: AUTH, "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ type: "fanout", requests: [{ url: canary(`job-${key}`) }] }),
    });
    expect(job.status).toBe(202);
    const { id } = await job.json<{ id: string }>();
    expect(await objectsFor([], [key])).toEqual([`JOB:${JSON.stringify(id)}`]);
  });
});

// --- Hostile URLs on the outbound paths ----------------------------------------------------------------------------

const port = new URL(UPSTREAM).port;

/** Hostile URLs; those pointing at the upstream's port carry `key`, so any connection would be counted. */
function hostileUrls(key: string): string[] {
  return [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/",
    `http://[::ffff:127.0.0.1]:${port}/r?key=${key}`,
    "http://0x7f000001/",
    "file:///etc/passwd",
    "http://user:pw@example.com/",
    `http://user:pw@127.0.0.1:${port}/r?key=${key}`,
    "http://localhost./",
    `http://localhost.:${port}/r?key=${key}`,
    "http://foo.localhost/",
    `http://foo.localhost:${port}/r?key=${key}`,
    `http://[::1]:${port}/r?key=${key}`,
    "http://2130706433/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
  ];
}

/**
 * The worker with only the upstream's own port allowlisted (the test bindings allow every port of 127.0.0.1, so
 * `http://0x7f000001/`, which is 127.0.0.1:80, would otherwise be let through on purpose).
 */
async function callScoped(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const request = new Request(`${BASE}${path}`, {
    method: "POST",
    headers: { authorization: AUTH, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return worker.fetch(request, { ...env, FANOUT_ALLOW_HOSTS: `127.0.0.1:${port}` }, createExecutionContext());
}

describe("hostile URLs on the outbound paths", () => {
  it("POST /v1/fanout answers each hostile URL with a blocked result and never connects", async () => {
    const key = `hostile-${freshName()}`;
    const allowed = `allowed-${freshName()}`;
    const urls = hostileUrls(key);
    const res = await callScoped("/v1/fanout", {
      requests: [...urls.map((url) => ({ url })), { url: canary(allowed) }],
    });
    expect(res.status).toBe(200);
    const { results } = await res.json<{ results: FanoutResult[] }>();
    const verdicts = results.slice(0, -1).map((r) => [r.url, r.outcome, r.error?.kind, r.status, r.attempts]);
    expect(verdicts).toEqual(urls.map((url) => [url, "rejected", "blocked", null, expect.any(Number)]));
    expect(results.at(-1)).toMatchObject({ outcome: "fulfilled", status: 200 });
    expect(await upstreamHits(key)).toBe(0);
    expect(await upstreamHits(allowed)).toBe(1);
  });

  it("POST /v1/pages refuses a hostile first URL (400) and never connects", async () => {
    const key = `hostile-${freshName()}`;
    const failures: string[] = [];
    for (const url of hostileUrls(key)) {
      const res = await callScoped("/v1/pages", { url, next: "link" });
      const problem = await judge(res, { why: "", path: "", headers: {}, expect: [400] });
      if (problem) failures.push(`${url}: ${problem}`);
    }
    expect(failures).toEqual([]);
    expect(await upstreamHits(key)).toBe(0);
  });

  it("POST /v1/pages refuses a next page at a hostile URL as blocked, even across origins allowed, and never connects", async () => {
    const key = `hostile-${freshName()}`;
    const verdicts: unknown[] = [];
    for (const next of hostileUrls(key)) {
      const first = new URL("/pages", UPSTREAM);
      first.searchParams.set("style", "link");
      first.searchParams.set("nextUrl", next);
      const res = await callScoped("/v1/pages", { url: first.href, next: "link", allowCrossOrigin: true });
      const { pages, summary } = await res.json<{
        pages: unknown[];
        summary: { stop: string; error?: { kind: string } };
      }>();
      verdicts.push([next, res.status, pages.length, summary.stop, summary.error?.kind]);
    }
    // file:// is no URL a page can point to across origins: the guard calls it blocked like the rest.
    expect(verdicts).toEqual(hostileUrls(key).map((url) => [url, 200, 1, "error", "blocked"]));
    expect(await upstreamHits(key)).toBe(0);
  });

  it("POST /v1/jobs refuses a webhook, a fan-out or hash job or a callback with a hostile URL (400) and creates and queues nothing", async () => {
    const key = `hostile-${freshName()}`;
    const keys: string[] = [];
    const failures: string[] = [];
    for (const url of hostileUrls(key)) {
      for (const body of [
        { type: "webhook", url, payload: { x: 1 } },
        { type: "fanout", requests: [{ url: canary(`ok-${freshName()}`) }, { url }] },
        { type: "fanout", requests: [{ url: canary(`ok-${freshName()}`) }], callback: { url } },
        { type: "hash", items: [{ url: canary(`ok-${freshName()}`) }, { url }] },
        { type: "service", items: [{ n: 1 }], callback: { url } },
      ]) {
        const idempotencyKey = freshName();
        keys.push(idempotencyKey);
        const res = await callScoped("/v1/jobs", body, { "idempotency-key": idempotencyKey });
        const problem = await judge(res, { why: "", path: "", headers: {}, expect: [400] });
        if (problem) failures.push(`${body.type} ${url}: ${problem}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await objectsFor([], keys)).toEqual([]);
    expect(await upstreamHits(key)).toBe(0);
  });

  it("POST /v1/schedules refuses a schedule whose job has a hostile URL (400) and creates nothing", async () => {
    const key = `hostile-${freshName()}`;
    const names: string[] = [];
    const failures: string[] = [];
    for (const url of hostileUrls(key)) {
      for (const job of [
        { type: "webhook", url, payload: { x: 1 } },
        { type: "fanout", requests: [{ url: canary(`ok-${freshName()}`) }, { url }] },
        { type: "hash", items: [{ url: canary(`ok-${freshName()}`) }, { url }] },
      ]) {
        const name = freshName();
        names.push(name);
        const res = await callScoped("/v1/schedules", { name, cron: "0 3 * * *", job });
        const problem = await judge(res, { why: "", path: "", headers: {}, expect: [400] });
        if (problem) failures.push(`${job.type} ${url}: ${problem}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await objectsFor(names, [])).toEqual([]);
    expect(await upstreamHits(key)).toBe(0);
  });
});
