/* flask-chatroom: the connection to the chat's namespace, and the widget's room
 * in it. No DOM: it is handed the Socket.IO socket and reports through hooks.
 *
 * States: "connecting" (first connection), "online" (connected and in the
 * room), "reconnecting" (connection lost, the client tries again), "offline"
 * (closed by the server or the page), "refused" (the server refused the
 * connection or the room: nothing more is tried).
 *
 * The server's "welcome" says who we are and which room it put the connection
 * in; a widget for another room joins its own and leaves that one. A host's
 * own "connect" handler on a shared namespace means no welcome: after
 * WELCOME_WAIT_MS the widget joins its room by itself. Every (re)connection and
 * join sends `since`, the newest seq shown, so the server sends only what was
 * missed, and `changes_since`, the room's change cursor (changes.js), so it
 * sends the edits, deletions and reactions missed too.
 */

import { describeError } from "./errors.js";

export const ACK_TIMEOUT_MS = 10000;
export const WELCOME_WAIT_MS = 3000;

// The auth payload of a (re)connection: {since: {room: newest seq shown}},
// {changes_since: {room: change cursor}} once the room's changes are known,
// and the guest token of the last welcome, so a guest stays the same guest.
export function authPayload(room, lastSeq, guestToken = null, changesSince = null) {
  const since = {};
  if (room && lastSeq !== null && lastSeq !== undefined) {
    since[room] = lastSeq;
  }
  const auth = { since: since };
  if (room && typeof changesSince === "number") {
    auth.changes_since = { [room]: changesSince };
  }
  if (typeof guestToken === "string" && guestToken) {
    auth.guest_token = guestToken;
  }
  return auth;
}

// Disconnect reasons after which the client does not reconnect by itself.
const FINAL_DISCONNECTS = ["io server disconnect", "io client disconnect"];

const NOOP = () => {};

export class Connection {
  // room: the widget's room (empty: whichever room the server gives);
  // lastSeq(): the newest seq shown, or null;
  // changesSince(room): the room's change cursor, or null;
  // hooks: onState(state), onError(text) (text "" clears the error),
  //   onWelcome(data), onOnline() (in the room: time to send),
  //   onDisconnect() (before the state changes);
  // timers: {setTimeout, clearTimeout}, the global ones by default.
  constructor({ room = "", lastSeq = () => null, changesSince = () => null,
                onState = NOOP, onError = NOOP,
                onWelcome = NOOP, onOnline = NOOP, onDisconnect = NOOP,
                timers = globalThis } = {}) {
    this.room = room;
    this.lastSeq = lastSeq;
    this.changesSince = changesSince;
    this.hooks = { onState, onError, onWelcome, onOnline, onDisconnect };
    this.timers = timers;
    this.socket = null;
    this.state = "connecting";
    this.welcomed = false;
    this.welcomeTimer = null;
    this.welcomeRoom = null; // the room the server put the connection in
    this.joining = false;
    this.inRoom = false; // whether the connection is in this widget's room
    this.inflight = 0; // requests waiting for their acknowledgement
    this.guestToken = null; // from the last welcome of a guest
  }

  // The auth payload for the socket's next (re)connection.
  auth() {
    return authPayload(this.room, this.lastSeq(), this.guestToken,
      this.room ? this.changesSince(this.room) : null);
  }

  // Listen to *socket* (a Socket.IO client socket).
  attach(socket) {
    this.socket = socket;
    socket.on("connect", () => this.connected());
    socket.on("disconnect", (reason) => this.disconnected(reason));
    socket.io.on("reconnect_attempt", () => this.setState("reconnecting"));
    socket.on("connect_error", (err) => this.connectError(err));
    socket.on("welcome", (data) => this.welcome(data || {}));
    socket.on("chat error", (error) => {
      // The widget's own requests report their refusals themselves.
      if (this.inflight === 0 && error && typeof error.message === "string") {
        this.hooks.onError(describeError(error));
      }
    });
    this.setState("connecting");
  }

  setState(state) {
    this.state = state;
    this.hooks.onState(state);
  }

  // Whether a message can go out now.
  canSend() {
    return Boolean(this.socket && this.socket.connected && this.inRoom);
  }

  // Emit a request and call back with (err, ack). While any is waiting, a
  // "chat error" event is left to the callback, which knows what was asked.
  request(event, payload, callback) {
    this.inflight += 1;
    this.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
      this.inflight -= 1;
      callback(err, ack || {});
    });
  }

  connected() {
    this.hooks.onError("");
    this.welcomed = false;
    this.timers.clearTimeout(this.welcomeTimer);
    this.welcomeTimer = this.timers.setTimeout(() => {
      if (this.socket.connected && !this.welcomed && !this.joining && !this.inRoom) {
        this.enterRoom();
      }
    }, WELCOME_WAIT_MS);
  }

  disconnected(reason) {
    this.timers.clearTimeout(this.welcomeTimer);
    this.inRoom = false;
    this.joining = false;
    this.welcomeRoom = null;
    this.hooks.onDisconnect();
    this.setState(FINAL_DISCONNECTS.includes(reason) ? "offline" : "reconnecting");
  }

  connectError(err) {
    if (this.socket.active) {
      this.setState("reconnecting");
      return;
    }
    // The server refused the connection; it will not be retried. The reason
    // is {"message", "data"}; a chat refusal has data {"code", "message"}.
    const data = err && err.data;
    if (data && data.code === "rate_limited") {
      // Connecting too fast (a reconnect storm): try again when told.
      const seconds = Number(data.retry_after);
      const wait = Math.ceil(1000 * (seconds > 0 ? seconds : 1));
      this.setState("reconnecting");
      this.timers.setTimeout(() => this.socket.connect(), wait);
      return;
    }
    const reason = data && typeof data.message === "string" ? data.message
      : err && typeof err.message === "string" ? err.message : "";
    this.setState("refused");
    this.hooks.onError(reason);
  }

  // "welcome" {client, user_id, guest, room, moderator, nicknames}: who we are,
  // and the room the server put us in (the default room, or none).
  welcome(data) {
    this.welcomed = true;
    if (typeof data.guest_token === "string") {
      this.guestToken = data.guest_token;
    }
    this.timers.clearTimeout(this.welcomeTimer);
    this.hooks.onWelcome(data);
    const room = typeof data.room === "string" ? data.room : null;
    if (!this.room || room === this.room) {
      this.inRoom = true;
      this.setState("online");
      this.hooks.onOnline();
      return;
    }
    this.welcomeRoom = room;
    if (this.inRoom) {
      this.leaveWelcomeRoom();
    } else if (!this.joining) {
      this.enterRoom();
    }
  }

  // Join this widget's room, asking only for what was missed if messages are
  // already shown, then say "online".
  enterRoom() {
    const payload = { room: this.room };
    const since = this.lastSeq();
    if (since !== null) {
      payload.since = since;
    }
    const changes = this.changesSince(this.room);
    if (typeof changes === "number") {
      payload.changes_since = changes;
    }
    this.joining = true;
    this.request("join", payload, (err, ack) => {
      this.joining = false;
      if (!this.socket.connected) {
        return; // disconnected meanwhile; the next connection joins again
      }
      if (!err && ack.ok) {
        this.inRoom = true;
        this.setState("online");
        this.leaveWelcomeRoom();
        this.hooks.onOnline();
      } else if (err) {
        this.hooks.onError("The chat did not answer; reload the page to try again.");
      } else {
        this.setState("refused");
        this.hooks.onError(describeError(ack.error));
      }
    });
  }

  // A widget for another room does not stay in the default room: it would only
  // count this user as present there.
  leaveWelcomeRoom() {
    const room = this.welcomeRoom;
    if (this.inRoom && room && this.room && room !== this.room) {
      this.welcomeRoom = null;
      this.socket.emit("leave", { room: room });
    }
  }
}
