/* flask-chatroom: changes to messages (edits, deletions, reactions), applied
 * exactly once. No DOM.
 *
 * Every change in a room has a change_seq: 1, 2, 3 … with no gaps. A
 * ChangeFeed holds one room's cursor, the highest change_seq up to which every
 * change was applied, and applies changes strictly in that order:
 *   - a change at or below the cursor was applied already: dropped;
 *   - the one right after it is applied, then any buffered successors;
 *   - a later one waits in the buffer; if the gap is still there GAP_MS later,
 *     the feed asks the server for the changes after the cursor ("changes"),
 *     page by page while it says has_more.
 * The cursor starts at the change_seq of the "history" the room was joined
 * with (reset()); a re-join sends it back as changes_since, and the history's
 * own list of changes goes through receiveAll() like any other.
 *
 * applyChange() is the second half of the rule, per message: a change whose
 * change_seq is not above the message's own (from its snapshot or an earlier
 * change) is skipped, so a message loaded after a change never has it applied
 * twice.
 */

export const GAP_MS = 1500;
export const MAX_BUFFER = 2000;
// "changes" pages fetched for one gap at most, before waiting for the next one.
export const MAX_FETCH_PAGES = 50;
export const KINDS = ["edit", "delete", "reactions"];
// Marks a change that came in an answer made for this user (a "changes"
// acknowledgement, a history's catch-up): its reactions carry "me".
export const PERSONAL = Symbol("personal");

function isSeq(value) {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

export class ChangeFeed {
  // apply(change): change one message (the widget finds it and draws it);
  // fetch(since, callback): ask "changes" {room, since} and call back with
  //   (err, ack); return false when it cannot be sent now (offline);
  // timers: {setTimeout, clearTimeout}.
  constructor({ apply, fetch = () => false, timers = globalThis, gapMs = GAP_MS,
                maxBuffer = MAX_BUFFER } = {}) {
    this.applyOne = apply;
    this.fetch = fetch;
    this.timers = timers;
    this.gapMs = gapMs;
    this.maxBuffer = maxBuffer;
    this.cursor = null; // null: not known yet (no history seen)
    this.direct = false; // the server numbers no changes: apply as they come
    this.buffer = new Map(); // change_seq -> change, all above cursor + 1
    this.gapTimer = null;
    this.fetching = false;
  }

  // The room was joined without changes_since: its history's change_seq is
  // where the cursor starts. Buffered changes after it are applied in order.
  // A history without one (an older server) means changes come unnumbered.
  reset(changeSeq) {
    if (isSeq(changeSeq)) {
      this.cursor = changeSeq;
      this.direct = false;
    } else {
      this.direct = true;
      const pending = Array.from(this.buffer.values()).sort((a, b) => a.change_seq - b.change_seq);
      this.buffer.clear();
      this.cursor = null;
      pending.forEach((change) => this.applyOne(change));
      return;
    }
    this.drain();
  }

  // One change (a live event, or one of a catch-up list), whatever its order.
  receive(change) {
    if (!change || typeof change !== "object") {
      return;
    }
    const seq = change.change_seq;
    if (!isSeq(seq) || this.direct) {
      this.applyOne(change); // unnumbered (legacy): the per-message rule only
      return;
    }
    if (this.cursor !== null && seq <= this.cursor) {
      return; // applied already
    }
    if (this.cursor !== null && seq === this.cursor + 1) {
      this.cursor = seq;
      this.applyOne(change);
      this.drain();
      return;
    }
    if (!this.buffer.has(seq) && this.buffer.size < this.maxBuffer) {
      this.buffer.set(seq, change);
    }
    this.watchGap();
  }

  // A list of changes (a history's catch-up, a "changes" answer).
  receiveAll(changes) {
    if (!Array.isArray(changes)) {
      return;
    }
    const sorted = changes.filter((change) => change && typeof change === "object")
      .slice().sort((a, b) => (isSeq(a.change_seq) ? a.change_seq : 0) -
        (isSeq(b.change_seq) ? b.change_seq : 0));
    for (const change of sorted) {
      this.receive(change);
    }
  }

  // The history of a re-join made with changes_since: its changes, and more
  // to fetch when *more* (changes_more) or when the room's *changeSeq* is
  // still ahead of the cursor.
  catchUp(changes, more, changeSeq) {
    if (this.cursor === null && !this.direct) {
      this.reset(changeSeq); // nothing applied yet: a fresh start
      return;
    }
    this.receiveAll(changes);
    if (more || (isSeq(changeSeq) && this.cursor !== null && changeSeq > this.cursor)) {
      this.fill();
    }
  }

  // Whether changes are waiting for a gap to fill.
  get waiting() {
    return this.buffer.size > 0;
  }

  drain() {
    while (this.cursor !== null && this.buffer.has(this.cursor + 1)) {
      const change = this.buffer.get(this.cursor + 1);
      this.buffer.delete(this.cursor + 1);
      this.cursor += 1;
      this.applyOne(change);
    }
    // Anything at or below the cursor is done with.
    for (const seq of Array.from(this.buffer.keys())) {
      if (this.cursor !== null && seq <= this.cursor) {
        this.buffer.delete(seq);
      }
    }
    if (!this.buffer.size) {
      this.timers.clearTimeout(this.gapTimer);
      this.gapTimer = null;
    } else {
      this.watchGap();
    }
  }

  watchGap() {
    if (this.gapTimer !== null || this.cursor === null || this.fetching) {
      return;
    }
    this.gapTimer = this.timers.setTimeout(() => {
      this.gapTimer = null;
      if (this.buffer.size) {
        this.fill();
      }
    }, this.gapMs);
  }

  // Ask the server for everything after the cursor, page by page.
  fill(pages = 0) {
    if (this.fetching || this.cursor === null) {
      return;
    }
    const since = this.cursor;
    this.fetching = true;
    const sent = this.fetch(since, (err, ack) => {
      this.fetching = false;
      if (err || !ack || !ack.ok || !Array.isArray(ack.changes)) {
        this.watchGap(); // try again later, if still needed
        return;
      }
      this.receiveAll(ack.changes);
      if (ack.has_more && this.cursor !== since && pages + 1 < MAX_FETCH_PAGES) {
        this.fill(pages + 1);
        return;
      }
      if (!ack.has_more) {
        this.skipLostGap();
      }
    });
    if (sent === false) {
      this.fetching = false; // offline: the next join catches up
    }
  }

  // The server sent all it has: a gap it did not fill will never fill (those
  // changes are gone), so the buffered changes after it are applied.
  skipLostGap() {
    if (!this.buffer.size || this.cursor === null) {
      return;
    }
    const first = Math.min(...this.buffer.keys());
    if (first > this.cursor + 1) {
      this.cursor = first - 1;
      this.drain();
    }
  }

  // The connection dropped: the next join catches up from the cursor.
  pause() {
    this.timers.clearTimeout(this.gapTimer);
    this.gapTimer = null;
    this.fetching = false;
  }
}

// -- changes that overtake their message -----------------------------------------------

export const MAX_EARLY = 500;

// A room's changes to messages the client does not hold yet but that are on
// their way: a change made on one server process can reach the page before
// the message it changes, posted on another (each process sends its own
// events at once, the others' only out of the message queue). A change whose
// message `seq` is above the highest seq the page has seen is kept here, and
// applied when that message comes; one to an older message is dropped (when
// that message is loaded, it comes as it is now).
export class EarlyChanges {
  constructor({ max = MAX_EARLY } = {}) {
    this.max = max;
    this.byId = new Map(); // message id -> [changes], in change_seq order
  }

  get size() {
    return this.byId.size;
  }

  // Keep *change* if its message is newer than *lastSeq* (the highest message
  // seq seen, null: none yet); returns whether it was kept.
  keep(change, lastSeq) {
    if (!change || typeof change.id !== "string" || !isSeq(change.seq) ||
        (isSeq(lastSeq) && change.seq <= lastSeq)) {
      return false;
    }
    const list = this.byId.get(change.id) || [];
    list.push(change);
    this.byId.delete(change.id); // (re)inserted last: the oldest go first
    this.byId.set(change.id, list);
    while (this.byId.size > this.max) {
      this.byId.delete(this.byId.keys().next().value);
    }
    return true;
  }

  // The changes kept for message *id* (now here), in order; forgotten.
  take(id) {
    const list = this.byId.get(id) || [];
    this.byId.delete(id);
    return list.slice().sort((a, b) => a.change_seq - b.change_seq);
  }
}

// -- one message's state ---------------------------------------------------------------

// A message's state from a snapshot (history, "message receive", an ack):
// {text, html, editedTs, deleted, reactions, changeSeq, reactSeq, ts}.
export function stateOf(data, me = null, personal = false, held = null) {
  return {
    text: typeof data.message === "string" ? data.message : "",
    html: typeof data.html === "string" ? data.html : null,
    editedTs: typeof data.edited_ts === "number" ? data.edited_ts : null,
    deleted: data.deleted === true,
    reactions: readReactions(data.reactions, { me: me, personal: personal,
      held: held ? held.reactions : [] }),
    changeSeq: isSeq(data.change_seq) ? data.change_seq : 0,
    reactSeq: 0, // the change_seq of the reactions a "react" answer brought
    ts: typeof data.ts === "number" ? data.ts : null,
  };
}

// The reactions of a payload, with `me` decided as the spec says:
//   - personal (an answer made for this user): its "me" flags;
//   - a live "reactions" event by this user (actor === me): "on" for its emoji;
//   - otherwise what this client held for that emoji, or whether this user's
//     id is among the user_ids listed.
export function readReactions(list, { me = null, personal = false, held = [],
                                      actor = null, emoji = null, on = null } = {}) {
  if (!Array.isArray(list)) {
    return [];
  }
  const heldMe = new Map((held || []).map((entry) => [entry.emoji, entry.me]));
  const out = [];
  for (const entry of list) {
    if (!entry || typeof entry.emoji !== "string" || !entry.emoji) {
      continue;
    }
    const userIds = Array.isArray(entry.user_ids) ? entry.user_ids.map(String) : [];
    const count = typeof entry.count === "number" && entry.count >= 0
      ? Math.floor(entry.count) : userIds.length;
    if (count <= 0) {
      continue;
    }
    let mine;
    if (personal) {
      mine = entry.me === true || (me !== null && userIds.includes(me));
    } else if (actor !== null && me !== null && actor === me && entry.emoji === emoji) {
      mine = on === true;
    } else if (entry.me === true || (me !== null && userIds.includes(me))) {
      mine = true;
    } else if (me === null || count > userIds.length) {
      // This user's id unknown, or the crowd longer than the ids sent.
      mine = heldMe.get(entry.emoji) === true;
    } else {
      mine = false;
    }
    out.push({ emoji: entry.emoji, count: count, userIds: userIds, me: mine });
  }
  return out.sort((a, b) => (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0));
}

// Apply *change* ({kind, change_seq, ...}) to *state*; returns whether it
// changed anything. *me*: this user's identity id (welcome.id); *personal*:
// the change came in an answer made for this user (its reactions carry "me").
export function applyChange(state, change, { me = null, personal = false } = {}) {
  if (!state || !change) {
    return false;
  }
  const seq = isSeq(change.change_seq) ? change.change_seq : null;
  if (seq !== null && seq <= state.changeSeq) {
    return false; // the message already shows this change (or a later one)
  }
  const kind = kindOf(change);
  if (kind === "delete") {
    state.deleted = true;
    state.text = "";
    state.html = null;
    state.reactions = [];
  } else if (state.deleted) {
    return false; // nothing changes a deleted message back
  } else if (kind === "edit") {
    if (typeof change.message !== "string") {
      return false;
    }
    state.text = change.message;
    state.html = typeof change.html === "string" ? change.html : null;
    if (typeof change.edited_ts === "number") {
      state.editedTs = change.edited_ts;
    }
  } else if (kind === "reactions") {
    if (seq !== null && seq <= (state.reactSeq || 0)) {
      return false; // a "react" answer brought these reactions already
    }
    const personalList = personal || (Array.isArray(change.reactions) &&
      change.reactions.some((entry) => entry && entry.me === true));
    state.reactions = readReactions(change.reactions, {
      me: me, personal: personalList, held: state.reactions,
      actor: change.user_id === undefined || change.user_id === null ? null : String(change.user_id),
      emoji: change.emoji, on: change.on,
    });
  } else {
    return false;
  }
  if (seq !== null) {
    state.changeSeq = seq;
  }
  return true;
}

// A change's kind: its "kind" (in lists), or what its fields say (live events
// are told apart by their event name; the widget sets kind on them).
export function kindOf(change) {
  if (KINDS.includes(change.kind)) {
    return change.kind;
  }
  if (Array.isArray(change.reactions)) {
    return "reactions";
  }
  if (typeof change.message === "string") {
    return "edit";
  }
  return null;
}

// A newer snapshot of a message the client holds (a duplicate in a history
// page, say): it replaces the state when its change_seq is higher.
export function refreshState(state, data, me = null, personal = false) {
  const seq = isSeq(data.change_seq) ? data.change_seq : 0;
  if (seq <= state.changeSeq && !(data.deleted === true && !state.deleted)) {
    return false;
  }
  const fresh = stateOf(data, me, personal, state);
  Object.assign(state, fresh);
  return true;
}

// Whether a message sent at *ts* (ms) can still be edited or deleted by its
// author: *windowSeconds* null means always.
export function withinWindow(ts, windowSeconds, now = Date.now()) {
  if (windowSeconds === null || windowSeconds === undefined) {
    return true;
  }
  if (typeof ts !== "number" || typeof windowSeconds !== "number") {
    return false;
  }
  return now - ts < windowSeconds * 1000;
}
