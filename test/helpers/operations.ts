/**
 * The route table as a test sees it: every operation of the worker's own OpenAPI document, with the scope it declares
 * and the path parameter its names are checked on, and a valid request for it built from the document (each body's
 * example, its URLs pointed at a loopback upstream). Sweeps generated from it cover a route as soon as it is mounted.
 */
import { exports } from "cloudflare:workers";
import { BASE } from "./api";

interface DocOperation {
  operationId: string;
  security?: { bearer?: string[] }[];
  "x-edgeloop-name"?: string;
  parameters?: { name: string; in: string; required?: boolean; schema: { pattern?: string } }[];
  requestBody?: { content: Record<string, { example?: unknown }> };
}

export interface Operation {
  method: string;
  /** The document's path, `{param}` and all. */
  path: string;
  operationId: string;
  /** The bearer scope it declares; undefined for an operation outside the bearer token (`security: []`). */
  scope?: string;
  /** The path parameter the token's name patterns check. */
  nameParam?: string;
  pathParams: { name: string; pattern?: string }[];
  /** Required header parameters (Idempotency-Key). */
  headers: string[];
  example?: unknown;
}

export const opName = (op: Pick<Operation, "method" | "path">) => `${op.method} ${op.path}`;

/** Every operation of the served document. */
export async function operations(): Promise<Operation[]> {
  const doc = await (await exports.default.fetch(`${BASE}/openapi.json`)).json<{
    paths: Record<string, Record<string, DocOperation>>;
  }>();
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => {
      const declared = op.security?.[0]?.bearer?.[0];
      return {
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        scope: op.security?.length === 0 ? undefined : declared,
        nameParam: op["x-edgeloop-name"],
        pathParams: (op.parameters ?? [])
          .filter((p) => p.in === "path")
          .map((p) => ({ name: p.name, pattern: p.schema.pattern })),
        headers: (op.parameters ?? []).filter((p) => p.in === "header" && p.required).map((p) => p.name),
        example: op.requestBody?.content["application/json"]?.example,
      };
    }),
  );
}

/** A fresh value for a path parameter: a name, a job id (32 hex) or a token id, as its pattern asks. */
export function freshParam(pattern: string | undefined, prefix = ""): string {
  const hex = crypto.randomUUID().replaceAll("-", "");
  const candidates = [`${prefix}${hex}`, hex, `tok_${hex.slice(0, 24)}`];
  const fits = pattern ? candidates.find((c) => new RegExp(pattern, "u").test(c)) : candidates[0];
  if (fits === undefined)
    throw new Error(`no fresh value fits ${pattern}: add a candidate in test/helpers/operations.ts`);
  return fits;
}

/** `value` with every URL in it pointing at `url` instead (examples name public hosts). */
function pointed(value: unknown, url: string): unknown {
  if (typeof value === "string") return /^https?:\/\//.test(value) ? url : value;
  if (Array.isArray(value)) return value.map((v) => pointed(v, url));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, pointed(v, url)]));
  }
  return value;
}

export interface Built {
  path: string;
  init: RequestInit;
  /** The values of the path parameters and required headers it used. */
  params: Record<string, string>;
  headerValues: string[];
}

/**
 * A valid request for `op`: fresh path parameters (or those given), fresh required headers, the example body with
 * its URLs at `upstream`; sent with `headers` (the token).
 */
export function validRequest(
  op: Operation,
  upstream: string,
  headers: Record<string, string>,
  params: Record<string, string> = {},
): Built {
  const values = Object.fromEntries(op.pathParams.map((p) => [p.name, params[p.name] ?? freshParam(p.pattern)]));
  const headerValues = op.headers.map(() => crypto.randomUUID().replaceAll("-", ""));
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? ""));
  const body = op.example === undefined ? undefined : JSON.stringify(pointed(op.example, upstream));
  return {
    path,
    params: values,
    headerValues,
    init: {
      method: op.method,
      headers: {
        ...headers,
        ...Object.fromEntries(op.headers.map((h, i) => [h, headerValues[i] as string])),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body,
    },
  };
}

/** Send a built request to the worker; the status and the parsed body (null when empty or not JSON). */
export async function send(
  b: Pick<Built, "path" | "init">,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await exports.default.fetch(`${BASE}${b.path}`, b.init);
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

/** The GET that reads back what `op` changes: the same path, or the path without its last segments. */
export function readerOf(op: Operation, all: Operation[]): Operation | undefined {
  const segments = op.path.split("/");
  for (let n = segments.length; n > 2; n--) {
    const path = segments.slice(0, n).join("/");
    const reader = all.find((o) => o.method === "GET" && o.path === path && /\{\w+\}$/.test(path) && o.scope);
    if (reader) return reader;
  }
  return undefined;
}
