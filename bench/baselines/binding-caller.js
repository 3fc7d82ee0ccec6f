// The caller of the binding benchmark (bench/binding.bench.ts): a Worker that makes one counter increment per request
// it gets, by one of three paths to edgeloop, so that each path's figure includes the same hop into this Worker.
//   /rpc?name=    the binding's RPC method: env.EDGELOOP.counter(name).increment(1)
//   /fetch?name=  the binding's fetch (what createClient({ binding }) sends): POST /v1/counters/:name/increment
//   /http?name=   no binding: the same request over HTTP to EDGELOOP_URL, with the bearer token TOKEN
const body = JSON.stringify({ by: 1 });
const json = { "content-type": "application/json" };

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const name = encodeURIComponent(url.searchParams.get("name") ?? "bench");
    if (url.pathname === "/rpc") return Response.json(await env.EDGELOOP.counter(name).increment(1));
    const path = `/v1/counters/${name}/increment`;
    if (url.pathname === "/fetch") {
      return env.EDGELOOP.fetch(`https://edgeloop.internal${path}`, { method: "POST", headers: json, body });
    }
    if (url.pathname === "/http") {
      const headers = { ...json, authorization: `Bearer ${env.TOKEN}` };
      return fetch(`${env.EDGELOOP_URL}${path}`, { method: "POST", headers, body });
    }
    return new Response("not found", { status: 404 });
  },
};
