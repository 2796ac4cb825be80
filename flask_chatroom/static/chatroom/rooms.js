/* flask-chatroom: the conversations this user has, and what they have not read.
 * No DOM.
 *
 * A RoomList holds one entry per room the switcher lists: from the "rooms"
 * acknowledgement (public rooms, then the user's direct conversations and
 * private rooms), from "dm" (a conversation opened here or elsewhere), and
 * the counts from "unread", "read" acknowledgements and live messages.
 *   - unread / mentions: messages after the user's read marker, and how many
 *     of those mention the user. A live message counts once: only a seq after
 *     the room's last_seq is new (the same message reached by "message
 *     receive" and by "notify" counts once).
 *   - The user's own message moves their marker to it (the server does too).
 *   - readSeq: where the marker is, last_seq - unread; the "Unread messages"
 *     divider goes before the first message after it.
 * A ReadMarker sends "read" for the room being looked at, at most once a
 * second per room, with the newest seq shown.
 * JoinedRooms: the connection stays in the rooms it showed (their messages
 * count as unread live), but only in the KEEP_JOINED shown last, well under
 * the server's CHATROOM_MAX_ROOMS_PER_CONNECTION (20 by default).
 */

export const READ_EVERY_MS = 1000;
export const KEEP_JOINED = 8;

const KIND_ORDER = { public: 0, private: 1, dm: 1 };

function count(value) {
  return typeof value === "number" && value >= 0 ? Math.floor(value) : 0;
}

// The tab title: "(3) Acme chat" with 3 unread messages, the plain title at 0.
export function tabTitle(base, total) {
  return total > 0 ? "(" + total + ") " + base : base;
}

// Whether a message mentions the user with this id.
export function mentionsUser(data, userId) {
  if (!data || !Array.isArray(data.mentions) || userId === null || userId === undefined) {
    return false;
  }
  return data.mentions.some((id) => String(id) === String(userId));
}

export class RoomList {
  // onChange(): after any change of the list or its counts.
  constructor({ onChange = () => {} } = {}) {
    this.onChange = onChange;
    this.rooms = new Map(); // name -> entry
    this.names = new Map(); // user id -> display name, from presence lists
    this.userId = null; // this user's id (null: a guest)
  }

  get(name) {
    return this.rooms.get(name) || null;
  }

  has(name) {
    return this.rooms.has(name);
  }

  // Add a room or update what is known of it; returns its entry.
  upsert(name, fields = {}) {
    let entry = this.rooms.get(name);
    if (!entry) {
      entry = { name: name, kind: "public", title: null, members: [], unread: 0,
                mentions: 0, lastSeq: 0, order: this.rooms.size };
      this.rooms.set(name, entry);
    }
    if (fields.kind === "public" || fields.kind === "private" || fields.kind === "dm") {
      entry.kind = fields.kind;
    }
    if (typeof fields.title === "string" && fields.title) {
      entry.title = fields.title;
    }
    if (Array.isArray(fields.members)) {
      entry.members = fields.members
        .map((member) => typeof member === "object" && member !== null
          ? { id: String(member.id), name: typeof member.name === "string" ? member.name : null }
          : { id: String(member), name: null })
        .filter((member) => this.userId === null || member.id !== this.userId);
      for (const member of entry.members) {
        if (member.name) {
          this.names.set(member.id, member.name);
        }
      }
    }
    if ("unread" in fields) {
      entry.unread = count(fields.unread);
    }
    if ("mentions" in fields) {
      entry.mentions = count(fields.mentions);
    }
    if ("last_seq" in fields) {
      entry.lastSeq = count(fields.last_seq);
    }
    return entry;
  }

  // The "rooms" acknowledgement's list.
  load(rooms) {
    if (!Array.isArray(rooms)) {
      return;
    }
    // The server's order; rooms it did not list (one only this page knows) after.
    for (const entry of this.rooms.values()) {
      entry.order += rooms.length + this.rooms.size;
    }
    rooms.forEach((room, index) => {
      if (room && typeof room.name === "string" && room.name) {
        this.upsert(room.name, room).order = index;
      }
    });
    this.onChange();
  }

  // A direct conversation: the "dm" event {room, members: [ids]} or a "dm"
  // acknowledgement with the members known here.
  addDm(room, members) {
    if (typeof room !== "string" || !room) {
      return null;
    }
    const entry = this.upsert(room, { kind: "dm", members: members || [] });
    this.onChange();
    return entry;
  }

  // "unread" event or "read" acknowledgement: the server's counts.
  setCounts(data) {
    if (!data || typeof data.room !== "string" || !this.rooms.has(data.room)) {
      return;
    }
    this.upsert(data.room, data);
    this.onChange();
  }

  // A live message (or a "notify" one) in *room*: counted when it is new.
  // Returns true when it counted as unread.
  receive(room, data) {
    const entry = this.rooms.get(room);
    if (!entry || !data || typeof data.seq !== "number" || data.seq <= entry.lastSeq) {
      return false;
    }
    entry.lastSeq = data.seq;
    const own = this.userId !== null && data.user_id !== null && data.user_id !== undefined &&
      String(data.user_id) === this.userId;
    if (own) {
      entry.unread = 0;
      entry.mentions = 0;
    } else {
      entry.unread += 1;
      if (mentionsUser(data, this.userId)) {
        entry.mentions += 1;
      }
    }
    this.onChange();
    return !own;
  }

  // The user has seen *room* up to *seq* (before the server says so).
  markRead(room, seq) {
    const entry = this.rooms.get(room);
    if (!entry || typeof seq !== "number") {
      return;
    }
    if (seq > entry.lastSeq) {
      entry.lastSeq = seq;
    }
    const unread = Math.max(0, entry.lastSeq - seq);
    if (unread < entry.unread) {
      entry.unread = unread;
      if (unread === 0) {
        entry.mentions = 0;
      }
      this.onChange();
    }
  }

  // The seq of the user's read marker in *room* (null: not known).
  readSeq(room) {
    const entry = this.rooms.get(room);
    return entry ? Math.max(0, entry.lastSeq - entry.unread) : null;
  }

  total() {
    let total = 0;
    for (const entry of this.rooms.values()) {
      total += entry.unread;
    }
    return total;
  }

  // Public rooms first, then direct conversations and private rooms, each in
  // the order they came.
  ordered() {
    return Array.from(this.rooms.values()).sort((a, b) =>
      (KIND_ORDER[a.kind] - KIND_ORDER[b.kind]) || (a.order - b.order));
  }

  // Public rooms, and the user's own conversations (DMs and private rooms).
  groups() {
    const all = this.ordered();
    return {
      rooms: all.filter((entry) => entry.kind === "public"),
      conversations: all.filter((entry) => entry.kind !== "public"),
    };
  }

  // What the switcher calls a room: "#lobby", or the other members' names.
  label(name) {
    const entry = this.rooms.get(name);
    if (!entry) {
      return "#" + name;
    }
    if (entry.kind !== "dm") {
      return "#" + (entry.title || entry.name);
    }
    const names = entry.members.map((member) =>
      member.name || this.names.get(member.id) || member.id);
    return names.length ? names.join(", ") : "Just you";
  }

  // The accessible name of a room's entry: "#lobby, 3 unread, 1 mention".
  describe(name) {
    const entry = this.rooms.get(name);
    const parts = [this.label(name)];
    if (entry && entry.unread) {
      parts.push(entry.unread + " unread");
    }
    if (entry && entry.mentions) {
      parts.push(entry.mentions === 1 ? "1 mention" : entry.mentions + " mentions");
    }
    return parts.join(", ");
  }

  // A user's name seen in a presence list.
  learnName(userId, name) {
    if (userId !== null && userId !== undefined && typeof name === "string") {
      this.names.set(String(userId), name);
    }
  }
}

// Sends "read" {room, seq} for what the user has seen: at most once every
// *everyMs* per room, the newest seq last, never a seq already sent.
export class ReadMarker {
  constructor({ emit, timers = globalThis, now = Date.now, everyMs = READ_EVERY_MS }) {
    this.emit = emit;
    this.timers = timers;
    this.now = now;
    this.everyMs = everyMs;
    this.state = new Map(); // room -> {sent, at, pending, timer}
  }

  seen(room, seq) {
    if (typeof room !== "string" || typeof seq !== "number") {
      return;
    }
    let state = this.state.get(room);
    if (!state) {
      state = { sent: -1, at: null, pending: null, timer: null };
      this.state.set(room, state);
    }
    if (seq <= state.sent || (state.pending !== null && seq <= state.pending)) {
      return;
    }
    const now = this.now();
    if (state.timer === null && (state.at === null || now - state.at >= this.everyMs)) {
      this.send(room, state, seq);
      return;
    }
    state.pending = seq;
    if (state.timer === null) {
      state.timer = this.timers.setTimeout(() => {
        state.timer = null;
        const pending = state.pending;
        state.pending = null;
        if (pending !== null && pending > state.sent) {
          this.send(room, state, pending);
        }
      }, this.everyMs - (now - state.at));
    }
  }

  send(room, state, seq) {
    state.sent = seq;
    state.at = this.now();
    this.emit(room, seq);
  }
}

// The rooms the connection is in because this page showed them, the one shown
// last at the end.
export class JoinedRooms {
  constructor(limit = KEEP_JOINED) {
    this.limit = limit;
    this.rooms = [];
  }

  has(room) {
    return this.rooms.includes(room);
  }

  // *room* is shown (and joined): returns the rooms to leave, the least
  // recently shown past the limit.
  enter(room) {
    this.rooms = this.rooms.filter((name) => name !== room);
    this.rooms.push(room);
    return this.rooms.length > this.limit
      ? this.rooms.splice(0, this.rooms.length - this.limit) : [];
  }

  // The connection dropped (the server forgot them all), or starts over.
  reset(rooms = []) {
    this.rooms = rooms.slice();
  }
}

// Asks "rooms" again when the page comes back (shown again, or its window
// focused), so that the counts of rooms the connection is not in are fresh:
// at once, then at most once every *everyMs*; a poke within that time asks
// once more when it is over.
export const REFRESH_EVERY_MS = 10000;

export class RoomsRefresher {
  constructor({ refresh, timers = globalThis, now = Date.now, everyMs = REFRESH_EVERY_MS }) {
    this.refresh = refresh;
    this.timers = timers;
    this.now = now;
    this.everyMs = everyMs;
    this.at = null; // when it last asked
    this.timer = null;
  }

  poke() {
    if (this.timer !== null) {
      return;
    }
    const now = this.now();
    if (this.at === null || now - this.at >= this.everyMs) {
      this.ask();
      return;
    }
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.ask();
    }, this.everyMs - (now - this.at));
  }

  ask() {
    this.at = this.now();
    this.refresh();
  }
}
