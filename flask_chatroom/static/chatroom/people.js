/* flask-chatroom: who is who, who is here and who is typing. No DOM. */

// Typing: "true" at most this often while the user types (the server allows
// 2 a second), "false" after this long without a key, and another user's
// "typing" goes after this long without news from them.
export const TYPING_EVERY_MS = 2000;
export const TYPING_IDLE_MS = 3000;
export const TYPING_EXPIRE_MS = 5000;

// A person's key: the host's id, or the name for a guest.
export function personKey(userId, name) {
  return userId === null || userId === undefined ? "guest name:" + name : "user:" + userId;
}

// This connection's user: the host's id of a signed-in user and the name
// others see, from "welcome" and "nickname".
export class Me {
  constructor() {
    this.userId = null;
    this.name = null;
  }

  setUserId(userId) {
    this.userId = userId === null || userId === undefined ? null : String(userId);
  }

  // Whether a user id and name are this user: by id when signed in, by name
  // for a guest.
  is(userId, name) {
    if (userId !== null && userId !== undefined) {
      return this.userId !== null && String(userId) === this.userId;
    }
    return this.userId === null && name === this.name;
  }

  // Whether a message is a signed-in user's own, from another tab or visit.
  wrote(data) {
    return this.userId !== null && data.user_id !== null && data.user_id !== undefined &&
      String(data.user_id) === this.userId;
  }
}

// Who a message is from: the name to show, and whether it came from the server
// (the host's code posted it: "system": true, which no user's message has).
// *label* is what assistive technology reads for the author.
export function authorOf(data) {
  const name = String(data.client);
  const server = data.system === true;
  return { name: name, server: server, label: server ? name + ", message from the server" : name };
}

// "presence" {room, users: [{id, name, user_id, avatar_url}], count}: the users
// with a name, how many are really here (a large room's list is capped), and
// whether the list is complete.
export function readPresence(data) {
  const users = data.users.filter((user) => user && typeof user.name === "string");
  const count = typeof data.count === "number" ? data.count : users.length;
  return { users: users, count: count, complete: users.length >= count };
}

// "Ada is typing…" for the names given.
export function typingText(names) {
  if (names.length === 1) {
    return names[0] + " is typing…";
  }
  if (names.length === 2) {
    return names[0] + " and " + names[1] + " are typing…";
  }
  return names.length > 2 ? "Several people are typing…" : "";
}

// The others who are typing, each forgotten TYPING_EXPIRE_MS after the last
// news from them; onChange() runs when one expires.
export class Typers {
  constructor({ onChange = () => {}, timers = globalThis, expireMs = TYPING_EXPIRE_MS } = {}) {
    this.onChange = onChange;
    this.timers = timers;
    this.expireMs = expireMs;
    this.typing = new Map(); // personKey -> {name, timer}
  }

  names() {
    return Array.from(this.typing.values(), (entry) => entry.name);
  }

  text() {
    return typingText(this.names());
  }

  // News from a person: typing or stopped.
  set(key, name, typing) {
    this.forget(key);
    if (typing !== true) {
      return;
    }
    const entry = { name: name, timer: null };
    entry.timer = this.timers.setTimeout(() => {
      if (this.typing.get(key) === entry) {
        this.forget(key);
        this.onChange();
      }
    }, this.expireMs);
    this.typing.set(key, entry);
  }

  // Forget a person; true if they were typing.
  forget(key) {
    const entry = this.typing.get(key);
    if (!entry) {
      return false;
    }
    this.timers.clearTimeout(entry.timer);
    this.typing.delete(key);
    return true;
  }

  // Forget everyone whose key is not in *keys*; true if anyone was typing.
  keepOnly(keys) {
    let gone = false;
    for (const key of Array.from(this.typing.keys())) {
      if (!keys.has(key)) {
        gone = this.forget(key) || gone;
      }
    }
    return gone;
  }

  clear() {
    for (const key of Array.from(this.typing.keys())) {
      this.forget(key);
    }
  }
}

// This user's own typing: "true" now and then while they type, "false" after a
// pause or when they stop. emit(typing) sends it and returns false when it
// cannot go out now.
export class TypingSignal {
  constructor({ emit, timers = globalThis, now = Date.now,
                everyMs = TYPING_EVERY_MS, idleMs = TYPING_IDLE_MS }) {
    this.emit = emit;
    this.timers = timers;
    this.now = now;
    this.everyMs = everyMs;
    this.idleMs = idleMs;
    this.sentAt = null; // when "true" last went out
    this.idleTimer = null;
  }

  // The text box changed; *hasText*: whether it holds more than spaces.
  input(hasText) {
    this.timers.clearTimeout(this.idleTimer);
    if (!hasText) {
      this.stop();
      return;
    }
    this.idleTimer = this.timers.setTimeout(() => this.stop(), this.idleMs);
    const now = this.now();
    if (this.sentAt === null || now - this.sentAt >= this.everyMs) {
      if (this.emit(true)) {
        this.sentAt = now;
      }
    }
  }

  stop() {
    this.timers.clearTimeout(this.idleTimer);
    if (this.sentAt !== null) {
      this.sentAt = null;
      this.emit(false);
    }
  }

  // The connection dropped: the server forgot, so nothing needs saying.
  reset() {
    this.sentAt = null;
  }
}

// The users this signed-in user blocks: from the "blocks" acknowledgement and
// from each "block" / "unblock" acknowledgement ({blocked: [ids]}, the whole
// list). Their messages still show (the server decides what is delivered); the
// page only offers no direct conversation with them.
export class Blocked {
  constructor() {
    this.ids = new Set();
    this.loaded = false;
  }

  // The server's list; false when it is not a list (nothing changes).
  load(ids) {
    if (!Array.isArray(ids)) {
      return false;
    }
    this.ids = new Set(ids.map((id) => String(id)));
    this.loaded = true;
    return true;
  }

  has(userId) {
    return userId !== null && userId !== undefined && this.ids.has(String(userId));
  }
}
