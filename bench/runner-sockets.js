// Holds one socket.io-client connection per runner token, the way peertube-runner
// connects: io(url + '/runners', { auth: { runnerToken }, transports: ['websocket'] }).
// Usage: node bench/runner-sockets.js URL TOKEN_FILE   (one runner token per line)
// Needs `npm ci` in tests/ (the pinned socket.io-client).
// Prints `connected N` once every socket joined, then, for each socket the server
// drops, `disconnect <ms since the first drop> <reason>`, and `reconnect_attempt …`
// when socket.io-client starts reconnecting. Runs until killed.
"use strict";
const fs = require("fs");
const path = require("path");
const { io } = require(path.join(__dirname, "..", "tests", "node_modules", "socket.io-client"));

const [url, tokenFile] = process.argv.slice(2);
const tokens = fs.readFileSync(tokenFile, "utf8").split("\n").filter(Boolean);
let connected = 0;
let firstDrop = null;
const since = () => (firstDrop === null ? 0 : Date.now() - firstDrop);

for (const runnerToken of tokens) {
  const socket = io(url + "/runners", {
    auth: { runnerToken },
    transports: ["websocket"],
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5000,
  });
  let joined = false;
  socket.on("connect", () => {
    if (!joined) {
      joined = true;
      connected += 1;
      if (connected === tokens.length) console.log(`connected ${connected}`);
    }
  });
  socket.on("disconnect", (reason) => {
    if (firstDrop === null) firstDrop = Date.now();
    console.log(`disconnect ${since()} ${reason}`);
  });
  socket.io.on("reconnect_attempt", (n) => console.log(`reconnect_attempt ${since()} ${n}`));
  socket.on("connect_error", (err) => console.log(`connect_error ${since()} ${err.message}`));
}

