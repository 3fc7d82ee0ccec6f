/**
 * Who a Worker calling through the service binding acts as (src/binding/): the `Edgeloop` entrypoint's `fetch` runs
 * the HTTP API with the binding's props as the principal, enforced exactly like a token's fields: scopes, name
 * patterns, a namespace that no name or header leaves, a rate of its own. No props: the root itself (its names, its
 * schedules, its idempotency keys). Props that do not parse refuse every call (503) and touch nothing.
 *
 * `exports.Edgeloop({ props })` is the loopback binding workerd gives the Worker's own entrypoint: the same call a
 * bound Worker makes. Where a setting must differ, the entrypoint is constructed with that env (`entrypointWith`).
 */
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { Edgeloop } from "../../functions/index";
import { BASE, call, unique } from "../helpers/api";

type Props = Record<string, unknown>;

/** The binding a Worker with these props gets. */
const boundAs = (props?: Props): Fetcher => (props === undefined ? exports.Edgeloop : exports.Edgeloop({ props }));

/** The entrypoint as a binding with `props` reaches it, in a worker whose settings `vars` override. */
function entrypointWith(props: Props, vars: Record<string, string | undefined>): Pick<Fetcher, "fetch"> {
  const ctx = Object.assign(createExecutionContext(), { props });
  const entrypoint = new Edgeloop(ctx as ExecutionContext<never>, { ...env, ...vars } as Env);
  return { fetch: (input, init) => entrypoint.fetch(new Request(input, init)) };
}

/** Send `body` as JSON through `binding` (no token), and parse the answer. */
async function through<T = Record<string, unknown>>(
  binding: Pick<Fetcher, "fetch">,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const res = await binding.fetch(`${BASE}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

describe("a binding without props", () => {
  it("is the root: no token, and the counters it increments are the ones the root token reads", async () => {
    const name = unique("root");
    const res = await through(boundAs(), "POST", `/v1/counters/${name}/increment`, { by: 2 });
    expect(res).toMatchObject({ status: 200, body: { name, value: 2 } });
    expect((await call("GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 2 });
  });

  it("ignores an Authorization header: its caller is whoever the deployer bound, not a token it sends", async () => {
    const name = unique("header");
    const res = await through(
      boundAs(),
      "POST",
      `/v1/counters/${name}/increment`,
      { by: 1 },
      {
        authorization: "Bearer not-a-token",
      },
    );
    expect(res).toMatchObject({ status: 200, body: { value: 1 } });
  });

  it("shares the root token's schedules and idempotency keys (they are keyed by API_TOKEN's hash)", async () => {
    const name = unique("nightly");
    const job = { type: "webhook", url: "http://127.0.0.1:9/hook", payload: {} };
    const made = await through(boundAs(), "POST", "/v1/schedules", { name, cron: "30 2 * * *", job });
    expect(made.status).toBe(201);
    expect((await call("GET", `/v1/schedules/${name}`)).body).toMatchObject({ name, cron: "30 2 * * *" });

    const key = unique("key");
    const spec = { type: "webhook", url: "http://127.0.0.1:9/hook", payload: { n: 1 }, delayMs: 3_600_000 };
    const created = await through<{ id: string }>(boundAs(), "POST", "/v1/jobs", spec, { "idempotency-key": key });
    expect(created.status).toBe(202);
    const again = await call<{ id: string }>("POST", "/v1/jobs", spec, { headers: { "idempotency-key": key } });
    expect(again.body.id).toBe(created.body.id);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
  });

  it("acts in a namespace named by Edgeloop-Namespace, as the root token does", async () => {
    const name = unique("ns");
    await call("POST", `/v1/counters/${name}/increment`, { by: 5 }, { headers: { "edgeloop-namespace": "nsx" } });
    const inside = await through(boundAs(), "GET", `/v1/counters/${name}`, undefined, { "edgeloop-namespace": "nsx" });
    expect(inside.body).toMatchObject({ value: 5 });
    expect((await through(boundAs(), "GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 0 });
  });

  it("is refused with 503 when API_TOKEN is not set (the root's identity is its hash); a namespaced binding is not", async () => {
    const name = unique("no-token");
    const root = entrypointWith({}, { API_TOKEN: undefined });
    const refused = await through(root, "POST", `/v1/counters/${name}/increment`, { by: 1 });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ type: "urn:edgeloop:problem:not-configured" });
    expect(String(refused.body.detail)).toContain("API_TOKEN");
    expect((await call("GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 0 });

    const tenant = entrypointWith({ namespace: "nt" }, { API_TOKEN: undefined });
    expect(await through(tenant, "POST", `/v1/counters/${name}/increment`, { by: 1 })).toMatchObject({
      status: 200,
      body: { value: 1 },
    });
  });

  it("has no /v1 rate limit: API_RATE_LIMIT counts bearer tokens, not bindings", async () => {
    const root = entrypointWith({}, { API_RATE_LIMIT: "1" });
    const name = unique("unlimited");
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await through(root, "GET", `/v1/counters/${name}`)).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
  });
});

describe("a binding whose props give a namespace and scopes", () => {
  const reader = () => boundAs({ namespace: "a", scopes: ["counters:read"] });

  it("cannot do what its scopes leave out: 403 scope-missing, and nothing changes", async () => {
    const name = unique("ro");
    const res = await through(reader(), "POST", `/v1/counters/${name}/increment`, { by: 1 });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ type: "urn:edgeloop:problem:scope-missing", scope: "counters:write" });
    const root = await call("GET", `/v1/counters/${name}`, undefined, { headers: { "edgeloop-namespace": "a" } });
    expect(root.body).toMatchObject({ value: 0, updatedAt: null });
  });

  it("sees its namespace only: not namespace b's counter, not the root's plain one, and no header moves it", async () => {
    const name = unique("shared");
    await call("POST", `/v1/counters/${name}/increment`, { by: 3 }, { headers: { "edgeloop-namespace": "a" } });
    await call("POST", `/v1/counters/${name}/increment`, { by: 7 }, { headers: { "edgeloop-namespace": "b" } });
    await call("POST", `/v1/counters/${name}/increment`, { by: 11 });
    expect((await through(reader(), "GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 3 });

    const moved = await through(reader(), "GET", `/v1/counters/${name}`, undefined, { "edgeloop-namespace": "b" });
    expect(moved.status).toBe(403);
    expect(moved.body).toMatchObject({ type: "urn:edgeloop:problem:namespace-refused" });
  });

  it("without scopes may do everything a token may, inside its namespace, but manage tokens", async () => {
    const tenant = boundAs({ namespace: "c" });
    const name = unique("tenant");
    expect((await through(tenant, "POST", `/v1/counters/${name}/increment`, { by: 4 })).body).toMatchObject({
      value: 4,
    });
    const inC = await call("GET", `/v1/counters/${name}`, undefined, { headers: { "edgeloop-namespace": "c" } });
    expect(inC.body).toMatchObject({ value: 4 });
    expect((await call("GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 0 });
    const tokens = await through(tenant, "GET", "/v1/tokens");
    expect(tokens).toMatchObject({ status: 403, body: { type: "urn:edgeloop:problem:scope-missing" } });
  });
});

describe("a binding whose props give name patterns, a name or a rate", () => {
  it("may use only the names its patterns allow: 403 name-refused for another", async () => {
    const orders = boundAs({ scopes: ["counters:*"], names: { counters: ["orders-*"] } });
    expect((await through(orders, "POST", "/v1/counters/orders-7/increment", { by: 1 })).status).toBe(200);
    const other = await through(orders, "POST", `/v1/counters/${unique("stock")}/increment`, { by: 1 });
    expect(other).toMatchObject({ status: 403, body: { type: "urn:edgeloop:problem:name-refused" } });
  });

  it("is a tenant of its own by name without a namespace: another binding cannot read its jobs, the root can", async () => {
    const billing = boundAs({ name: "billing", scopes: ["jobs:*"] });
    const spec = { type: "webhook", url: "http://127.0.0.1:9/hook", payload: {}, delayMs: 3_600_000 };
    const job = await through<{ id: string }>(billing, "POST", "/v1/jobs", spec, { "idempotency-key": unique("k") });
    expect(job.status).toBe(202);
    expect((await through(billing, "GET", `/v1/jobs/${job.body.id}`)).status).toBe(200);
    const other = boundAs({ name: "shipping", scopes: ["jobs:*"] });
    expect((await through(other, "GET", `/v1/jobs/${job.body.id}`)).status).toBe(404);
    expect((await call("GET", `/v1/jobs/${job.body.id}`)).status).toBe(200);
    const list = await through<{ items: { id: string }[] }>(billing, "GET", "/v1/jobs");
    expect(list.body.items.map((j) => j.id)).toContain(job.body.id);
    expect((await through<{ items: unknown[] }>(other, "GET", "/v1/jobs")).body.items).toEqual([]);
  });

  it("is limited by its own rate when its props give one: 429 naming `rate`", async () => {
    const limited = entrypointWith({ name: unique("rated"), rate: { limit: 2, periodMs: 60_000 } }, {});
    const name = unique("rated");
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await through(limited, "GET", `/v1/counters/${name}`));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
    expect(answers[2]?.body).toMatchObject({ type: "urn:edgeloop:problem:rate-limited", limit: "rate" });
  });
});

describe("props that do not parse", () => {
  it.each<[string, Props, string]>([
    ["an unknown field", { scope: ["counters:read"] }, "(root): Unrecognized key"],
    ["a scope this API does not have", { scopes: ["widgets:read"] }, "scopes: widgets:read is no scope"],
    ["a namespace that is no name", { namespace: "a/b" }, "namespace:"],
    ["a name with a slash (it would spell another tenant)", { name: "x/ns:y", scopes: ["*"] }, "name:"],
    ["name patterns for a family without names", { scopes: ["*"], names: { fanout: ["x"] } }, "names: fanout"],
    ["a rate of 0", { rate: { limit: 0, periodMs: 1_000 } }, "rate.limit:"],
    ["scopes that are not a list", { scopes: "counters:read" }, "scopes:"],
  ])("refuse every call with 503 not-configured naming the field: %s", async (_, props, named) => {
    const name = unique("bad-props");
    const res = await through<{ type: string; detail: string }>(
      boundAs(props),
      "POST",
      `/v1/counters/${name}/increment`,
      {
        by: 1,
      },
    );
    expect(res.status).toBe(503);
    expect(res.body.type).toBe("urn:edgeloop:problem:not-configured");
    expect(res.body.detail).toContain(named);
    expect((await call("GET", `/v1/counters/${name}`)).body).toMatchObject({ value: 0 });
  });
});
