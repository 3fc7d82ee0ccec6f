// Preloaded (`node --import`) into a tool the tests run, to prove it stays off the network: every outbound TCP or UDP
// socket and every DNS lookup is printed to stderr as a "network:" line, which the test asserts is absent.

import dgram from "node:dgram";
import dc from "node:diagnostics_channel";
import dns from "node:dns";

const report = (what) => process.stderr.write(`network: ${what}\n`);

dc.subscribe("net.client.socket", ({ socket }) => {
  socket.once("connect", () => report(`tcp ${socket.remoteAddress}:${socket.remotePort}`));
  report("tcp socket opened");
});
for (const name of ["lookup", "resolve", "resolve4", "resolve6"]) {
  const original = dns[name];
  dns[name] = (host, ...rest) => {
    report(`dns ${name} ${host}`);
    return original.call(dns, host, ...rest);
  };
  const promised = dns.promises[name];
  dns.promises[name] = (host, ...rest) => {
    report(`dns ${name} ${host}`);
    return promised.call(dns.promises, host, ...rest);
  };
}
const createSocket = dgram.createSocket;
dgram.createSocket = (...args) => {
  report("udp socket");
  return createSocket(...args);
};
