/**
 * The access decisions without a request: which granted scopes include a route's (`*` forms, never `tokens`), which
 * names a token's patterns allow per family, and the confined environment of a namespace (names outside it refused,
 * global bindings passed through, one environment per namespace).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { grants, nameAllowed, patternsRegExp } from "../../src/http/access";
import { tenantEnv } from "../../src/http/tenant-env";

describe("grants", () => {
  it.each([
    [["counters:write"], "counters:write", true],
    [["counters:read"], "counters:write", false],
    [["counters:*"], "counters:write", true],
    [["counters:*"], "locks:write", false],
    [["*:read"], "locks:read", true],
    [["*:read"], "locks:write", false],
    [["*:read"], "fanout", false],
    [["fanout:*"], "fanout", true],
    [["fanout"], "fanout", true],
    [["fanout"], "fanout:x", false],
    [["*"], "jobs:write", true],
    [["*"], "tokens", false],
    [["tokens"], "tokens", false],
    [[], "fanout", false],
    [["counters"], "counters:write", false],
  ])("%j grants %s: %s", (granted, required, expected) => {
    expect(grants(granted, required)).toBe(expected);
  });
});

describe("name patterns", () => {
  it("matches whole names, `*` standing for any run of name characters (none included)", () => {
    const re = patternsRegExp(["orders-*", "audit", "*.log", "a*b*c"]);
    for (const name of ["orders-", "orders-7", "orders-a.b:c", "audit", ".log", "x.log", "abc", "a-b-c"]) {
      expect(re.test(name), name).toBe(true);
    }
    for (const name of ["orders", "xorders-7", "audit2", "auditx", "xlog", "ab", "a/b/c", "orders-7/x"]) {
      expect(re.test(name), name).toBe(false);
    }
  });

  it("treats a dot as a dot, not as any character", () => {
    expect(patternsRegExp(["v1.0"]).test("v1x0")).toBe(false);
    expect(patternsRegExp(["v1.0"]).test("v1.0")).toBe(true);
  });

  it("allows every name without names; with them, the family's list, else the `*` list, else none", () => {
    expect(nameAllowed(undefined, "counters", "anything")).toBe(true);
    const names = { counters: ["orders-*"], "*": ["shared-*"] };
    expect(nameAllowed(names, "counters", "orders-1")).toBe(true);
    expect(nameAllowed(names, "counters", "shared-1")).toBe(false);
    expect(nameAllowed(names, "locks", "shared-1")).toBe(true);
    expect(nameAllowed(names, "locks", "orders-1")).toBe(false);
    expect(nameAllowed({ counters: ["x"] }, "locks", "x")).toBe(false);
    expect(nameAllowed({ counters: [] }, "counters", "x")).toBe(false);
  });
});

describe("tenantEnv", () => {
  const calls: string[] = [];
  const ns = (binding: string) => ({
    getByName: (name: string) => calls.push(`${binding}.getByName ${name}`),
    idFromName: (name: string) => calls.push(`${binding}.idFromName ${name}`),
    idFromString: (id: string) => calls.push(`${binding}.idFromString ${id}`),
    get: (id: unknown) => calls.push(`${binding}.get ${String(id)}`),
  });
  const base = { LOCK: ns("LOCK"), JOB: ns("JOB"), TOKENS: ns("TOKENS"), API_TOKEN: "t", LIMIT: "3" } as unknown as Env;

  it("refuses a name outside the namespace on every name-addressed binding, and passes the namespace's through", () => {
    const confined = tenantEnv(base, "acme");
    confined.LOCK.getByName("acme/orders");
    confined.LOCK.idFromName("acme/orders");
    expect(calls.splice(0)).toEqual(["LOCK.getByName acme/orders", "LOCK.idFromName acme/orders"]);
    for (const name of ["orders", "acme", "acme-x/orders", "other/orders", "acmeorders"]) {
      expect(() => confined.LOCK.getByName(name), name).toThrow(/outside the caller's namespace/);
      expect(() => confined.LOCK.idFromName(name), name).toThrow(/outside the caller's namespace/);
    }
    expect(() => confined.LOCK.idFromString("0".repeat(64))).toThrow(/refused/);
    expect(calls).toEqual([]);
  });

  it("leaves the global bindings (jobs by id, the tokens) and the settings as they are", () => {
    const confined = tenantEnv(base, "acme");
    confined.JOB.getByName("0123abcd");
    confined.TOKENS.getByName("tokens");
    expect(calls.splice(0)).toEqual(["JOB.getByName 0123abcd", "TOKENS.getByName tokens"]);
    expect(confined.API_TOKEN).toBe("t");
    expect((confined as unknown as { LIMIT: string }).LIMIT).toBe("3");
  });

  it("keeps one environment per namespace (caches keyed by it hold), and none is another's", () => {
    expect(tenantEnv(base, "acme")).toBe(tenantEnv(base, "acme"));
    expect(tenantEnv(base, "acme")).not.toBe(tenantEnv(base, "other"));
    expect(() => tenantEnv(base, "other").LOCK.getByName("acme/orders")).toThrow();
  });

  it("leaves a service binding as it is: its RPC stub answers every method name, getByName included", async () => {
    const service = (env as unknown as Record<string, unknown>).JOBS_SERVICE; // bound in vitest.config.ts
    expect(typeof (service as { getByName?: unknown }).getByName).toBe("function");
    const withService = { ...base, JOBS_SERVICE: service } as unknown as Env;
    const confined = tenantEnv(withService, "acme") as unknown as { JOBS_SERVICE: unknown };
    expect(confined.JOBS_SERVICE).toBe(service);
  });
});
