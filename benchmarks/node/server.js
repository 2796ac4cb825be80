// The Node reference: socket.io 4.8 written the way its chat tutorial writes it.
//
//     node benchmarks/node/server.js PORT
//
// Started by benchmarks/run.py (pinned to the server core, like the Python
// servers) after `npm ci` has installed socket.io into benchmarks/node/node_modules.
// Every client joins one room; "message broadcast" is sent on to the room (or
// the one it names) as "message receive", and acknowledged when the client asks
// for an ack; "join" and "leave" move a client between rooms. No store,
// no identity, no limits: the same job as benchmarks/baseline_app.py.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || process.env.PORT || 5000);
const ROOM = "lobby";

const httpServer = http.createServer((req, res) => {
  if (req.url === "/hello") {
    res.end("hello");
  } else {
    res.statusCode = 404;
    res.end();
  }
});

// socket.io 4 leaves permessage-deflate off by default; stated here so that the
// deflate-offered cases are read knowing that it declines the offer.
const io = new Server(httpServer, { perMessageDeflate: false });

io.on("connection", (socket) => {
  socket.join(ROOM);
  // Rooms, for the reconnect storm: its chatters talk in a room of their own.
  for (const [event, act] of [["join", "join"], ["leave", "leave"]]) {
    socket.on(event, (data, ack) => {
      if (data && typeof data.room === "string") {
        socket[act](data.room);
      }
      if (typeof ack === "function") {
        ack({ ok: true });
      }
    });
  }
  socket.on("message broadcast", (data, ack) => {
    const room = (data && typeof data.room === "string" && data.room) || ROOM;
    io.to(room).emit("message receive", {
      client: socket.id,
      message: data && data.message,
    });
    if (typeof ack === "function") {
      ack({ ok: true });
    }
  });
});

httpServer.listen(port, "127.0.0.1");
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
