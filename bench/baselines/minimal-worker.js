// The cold-start baseline (bench/startup.bench.ts): the least a worker can be, a constant answer to every request.
export default {
  fetch: () => new Response('{"status":"ok"}', { headers: { "content-type": "application/json" } }),
};
