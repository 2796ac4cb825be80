import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ACK_TIMEOUT_MS, Connection, WELCOME_WAIT_MS, authPayload,
} from "../../flask_chatroom/static/chatroom/connection.js";
import { FakeSocket, FakeTimers } from "./fakes.mjs";

// A connection for *room* on a fake socket, recording what it reports.
function connect({ room = "lobby", lastSeq = null } = {}) {
  const seen = { states: [], errors: [], welcomes: [], online: 0, calls: [] };
  const timers = new FakeTimers();
  const socket = new FakeSocket();
  const connection = new Connection({
    room,
    lastSeq: () => seen.lastSeq,
    timers,
    onState: (state) => {
      seen.states.push(state);
      seen.calls.push("state " + state);
    },
    onError: (text) => seen.errors.push(text),
    onWelcome: (data) => {
      seen.welcomes.push(data);
      seen.calls.push("welcome");
    },
    onOnline: () => {
      seen.online += 1;
      seen.calls.push("online");
    },
    onDisconnect: () => seen.calls.push("disconnect"),
  });
  seen.lastSeq = lastSeq;
  connection.attach(socket);
  return { connection, socket, timers, seen };
}

test("connection: the auth payload carries since for the room once a seq is known", () => {
  assert.deepEqual(authPayload("lobby", 41), { since: { lobby: 41 } });
  assert.deepEqual(authPayload("lobby", 0), { since: { lobby: 0 } });
  assert.deepEqual(authPayload("lobby", null), { since: {} });
  assert.deepEqual(authPayload("", 5), { since: {} });
});

test("connection: a guest sends back the token of its last welcome", () => {
  const { connection, socket } = connect();
  assert.deepEqual(authPayload("lobby", 3, "tok"), { since: { lobby: 3 }, guest_token: "tok" });
  socket.connect();
  socket.fire("welcome", { room: "lobby", guest_token: "signed.token" });
  assert.deepEqual(connection.auth(), { since: {}, guest_token: "signed.token" });
  socket.fire("welcome", { room: "lobby", guest_token: null }); // signed in now
  assert.equal(connection.auth().guest_token, "signed.token");
});

test("connection: a connection refused for connecting too fast tries again when told", () => {
  const { connection, socket, timers } = connect();
  socket.active = false;
  let reconnects = 0;
  socket.connect = () => { reconnects += 1; };
  const err = new Error("You are doing that too fast; wait a moment.");
  err.data = { code: "rate_limited", retry_after: 2.5 };
  socket.fire("connect_error", err);
  assert.equal(connection.state, "reconnecting");
  assert.equal(reconnects, 0);
  assert.deepEqual(Array.from(timers.pending.values()).map((t) => t.ms), [2500]);
  timers.runAll();
  assert.equal(reconnects, 1);
});

test("connection: auth() asks for the newest seq shown at each (re)connection", () => {
  const { connection, seen } = connect();
  assert.deepEqual(connection.auth(), { since: {} });
  seen.lastSeq = 12;
  assert.deepEqual(connection.auth(), { since: { lobby: 12 } });
});

test("connection: it starts connecting and cannot send yet", () => {
  const { connection, seen } = connect();
  assert.deepEqual(seen.states, ["connecting"]);
  assert.equal(connection.state, "connecting");
  assert.equal(connection.canSend(), false);
});

test("connection: a welcome into its own room is online, after the welcome hook", () => {
  const { connection, socket, seen } = connect();
  socket.connect();
  socket.fire("welcome", { client: "Guest 1234", room: "lobby" });
  assert.equal(connection.state, "online");
  assert.equal(connection.canSend(), true);
  assert.deepEqual(seen.calls.slice(-3), ["welcome", "state online", "online"]);
  assert.equal(socket.requests.length, 0, "no join needed");
});

test("connection: a widget without a room takes the room the server gives", () => {
  const { connection, socket } = connect({ room: "" });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  assert.equal(connection.state, "online");
});

test("connection: a welcome into another room joins the widget's room, then leaves it", () => {
  const { connection, socket, seen } = connect({ room: "garden" });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  assert.equal(connection.state, "connecting");
  assert.equal(connection.canSend(), false);
  const join = socket.last("join");
  assert.deepEqual(join.payload, { room: "garden" });
  join.answer(null, { ok: true });
  assert.equal(connection.state, "online");
  assert.equal(seen.online, 1);
  assert.deepEqual(socket.emitted, [{ event: "leave", payload: { room: "lobby" } }]);
});

test("connection: joining asks only for what was missed", () => {
  const { socket } = connect({ room: "garden", lastSeq: 30 });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  assert.deepEqual(socket.last("join").payload, { room: "garden", since: 30 });
});

test("connection: a refused join is final and says why", () => {
  const { connection, socket, seen } = connect({ room: "vip" });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  socket.last("join").answer(null, { ok: false, error: { code: "forbidden", message: "Not for you." } });
  assert.equal(connection.state, "refused");
  assert.equal(seen.errors.at(-1), "Not for you.");
  assert.equal(seen.online, 0);
  assert.equal(socket.emitted.length, 0, "no leave without being in the room");
});

test("connection: an unanswered join says to reload and stays put", () => {
  const { connection, socket, seen } = connect({ room: "garden" });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  socket.last("join").answer(new Error("timeout"));
  assert.equal(connection.state, "connecting");
  assert.equal(seen.errors.at(-1), "The chat did not answer; reload the page to try again.");
  assert.equal(connection.joining, false);
});

test("connection: a join answered after the connection dropped is ignored", () => {
  const { connection, socket, seen } = connect({ room: "garden" });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  const join = socket.last("join");
  socket.drop();
  join.answer(null, { ok: true });
  assert.equal(connection.state, "reconnecting");
  assert.equal(connection.inRoom, false);
  assert.equal(seen.online, 0);
});

test("connection: without a welcome it joins its room by itself after the wait", () => {
  const { connection, socket, timers } = connect();
  socket.connect();
  assert.equal(timers.count, 1);
  assert.equal([...timers.pending.values()][0].ms, WELCOME_WAIT_MS);
  timers.runAll();
  assert.deepEqual(socket.last("join").payload, { room: "lobby" });
  socket.last("join").answer(null, { ok: true });
  assert.equal(connection.state, "online");
});

test("connection: a welcome in time cancels the wait", () => {
  const { socket, timers } = connect();
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  assert.equal(timers.count, 0);
  assert.equal(socket.requests.length, 0);
});

test("connection: the wait does not join a connection that dropped meanwhile", () => {
  const { socket, timers } = connect();
  socket.connect();
  socket.connected = false;
  timers.runAll();
  assert.equal(socket.requests.length, 0);
});

test("connection: a lost connection is reconnecting, a closed one offline", () => {
  const { connection, socket, seen } = connect();
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  socket.drop("transport close");
  assert.equal(connection.state, "reconnecting");
  assert.equal(connection.canSend(), false);
  assert.deepEqual(seen.calls.slice(-2), ["disconnect", "state reconnecting"]);
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  socket.drop("io server disconnect");
  assert.equal(connection.state, "offline");
  socket.connect();
  socket.drop("io client disconnect");
  assert.equal(connection.state, "offline");
});

test("connection: a disconnect forgets the room the server had put it in", () => {
  const { connection, socket } = connect({ room: "garden" });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  assert.equal(connection.welcomeRoom, "lobby");
  socket.drop();
  assert.equal(connection.welcomeRoom, null);
  assert.equal(connection.joining, false);
});

test("connection: each reconnection attempt says reconnecting", () => {
  const { connection, socket } = connect();
  socket.ioHandlers.get("reconnect_attempt")();
  assert.equal(connection.state, "reconnecting");
});

test("connection: a connect error while retrying is reconnecting, not an error", () => {
  const { connection, socket, seen } = connect();
  socket.fire("connect_error", new Error("xhr poll error"));
  assert.equal(connection.state, "reconnecting");
  assert.deepEqual(seen.errors, []);
});

test("connection: a refused connection is final and shows the server's reason", () => {
  const { connection, socket, seen } = connect();
  socket.active = false;
  const err = new Error("refused");
  err.data = { code: "too_many", message: "You have too many chat windows open." };
  socket.fire("connect_error", err);
  assert.equal(connection.state, "refused");
  assert.deepEqual(seen.errors, ["You have too many chat windows open."]);
});

test("connection: a refusal without the chat's data shows the client's message", () => {
  const { socket, seen } = connect();
  socket.active = false;
  socket.fire("connect_error", new Error("Not authorized"));
  socket.fire("connect_error", null);
  assert.deepEqual(seen.errors, ["Not authorized", ""]);
});

test("connection: a new connection clears the error line", () => {
  const { socket, seen } = connect();
  socket.connect();
  assert.deepEqual(seen.errors, [""]);
});

test("connection: requests time out after ACK_TIMEOUT_MS and get {} for no ack", () => {
  const { connection, socket } = connect();
  const answers = [];
  connection.request("history", { room: "lobby" }, (err, ack) => answers.push([err, ack]));
  assert.equal(socket.last("history").timeout, ACK_TIMEOUT_MS);
  assert.equal(ACK_TIMEOUT_MS, 10000);
  assert.equal(connection.inflight, 1);
  socket.last("history").answer(null, undefined);
  assert.deepEqual(answers, [[null, {}]]);
  assert.equal(connection.inflight, 0);
});

test("connection: a chat error is shown only while no request waits for its answer", () => {
  const { connection, socket, seen } = connect();
  connection.request("nickname", { name: "x" }, () => {});
  socket.fire("chat error", { code: "bad", message: "Refused." });
  assert.deepEqual(seen.errors, [], "the request's own callback reports it");
  socket.last("nickname").answer(null, { ok: false });
  socket.fire("chat error", { code: "muted", message: "Muted.", retry_after: 120 });
  assert.deepEqual(seen.errors, ["Muted. You can write again in 2 minutes."]);
  socket.fire("chat error", { code: "odd" });
  assert.equal(seen.errors.length, 1, "an error without a message is not shown");
});

test("connection: a welcome into another room while in its own leaves that room only", () => {
  const { connection, socket } = connect({ room: "garden" });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  socket.last("join").answer(null, { ok: true });
  socket.fire("welcome", { room: "lobby" });
  assert.equal(socket.requests.filter((r) => r.event === "join").length, 1);
  assert.deepEqual(socket.emitted.map((e) => e.event), ["leave", "leave"]);
  assert.equal(connection.state, "online");
});

test("connection: a second welcome while joining does not join twice", () => {
  const { socket } = connect({ room: "garden" });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  socket.fire("welcome", { room: "lobby" });
  assert.equal(socket.requests.filter((r) => r.event === "join").length, 1);
});

test("connection: in the room but disconnected, nothing can be sent", () => {
  const { connection, socket } = connect();
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  socket.connected = false;
  assert.equal(connection.canSend(), false);
});
