// A Socket.IO client connecting the way peertube-runner does:
//   io(url + '/runners', { auth: { runnerToken }, transports: ['websocket'] })
// Usage: node runner-client.js URL TRANSPORTS_JSON AUTH_JSON
//   TRANSPORTS_JSON: null for socket.io-client's default (polling, then upgrade).
// Env FAST_RECONNECT=1 shortens the reconnection backoff (tests of retries).
// Prints one JSON object per line for each event; exits when stdin closes.
"use strict";
const { io } = require("socket.io-client");

const [url, transportsJson, authJson] = process.argv.slice(2);
const transports = JSON.parse(transportsJson);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const options = { auth: JSON.parse(authJson) };
if (transports) options.transports = transports;
if (process.env.FAST_RECONNECT) {
  options.reconnectionDelay = 100;
  options.reconnectionDelayMax = 200;
}
const socket = io(url, options);
const transport = () => socket.io.engine && socket.io.engine.transport.name;

socket.io.on("open", () => {
  socket.io.engine.on("upgrade", (t) => out({ event: "upgrade", transport: t.name }));
});
socket.on("connect", () => out({ event: "connect", transport: transport() }));
socket.on("available-jobs", (...args) =>
  out({ event: "available-jobs", args, transport: transport() })
);
socket.on("connect_error", (err) => out({ event: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => out({ event: "disconnect", reason }));
socket.io.on("reconnect_attempt", (attempt) => out({ event: "reconnect_attempt", attempt }));

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
