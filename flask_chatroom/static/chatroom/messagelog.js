/* flask-chatroom: the message log's order, in seq order. No DOM.
 *
 * A MessageLog holds one row per line of the widget's log, in the order they
 * are shown, each with the caller's item (for the widget, its <li>): messages
 * with their seq and id, notices, and this page's own messages still on their
 * way. It says where each new line goes; the widget puts the item there.
 *   - Messages go in seq order, before the first later one shown.
 *   - This page's own messages on their way ("pending") stay last until the
 *     server confirms them; notices and messages without a seq go last, before
 *     those.
 *   - A message whose id is already shown is a duplicate.
 *   - lastSeq, the newest seq seen, is where a reconnection catches up from;
 *     a gap before it is fetched by the history pages the widget asks for.
 *   - Past `max` lines, the oldest go in one batch, down to `trimTo`.
 */

export const MAX_MESSAGES = 500;
export const TRIM_TO = 450;

export class MessageLog {
  constructor({ max = MAX_MESSAGES, trimTo = TRIM_TO } = {}) {
    this.max = max;
    this.trimTo = trimTo;
    this.rows = []; // {item, seq, id, pending}, in the order shown
    this.byId = new Map(); // message id -> row
    this.lastSeq = null; // the newest seq seen
    this.hasOlder = false; // the server has messages older than the first shown
  }

  get length() {
    return this.rows.length;
  }

  // The items, in the order shown.
  items() {
    return this.rows.map((row) => row.item);
  }

  // The items of the messages the server stored (those with an id).
  stored() {
    return Array.from(this.byId.values(), (row) => row.item);
  }

  has(id) {
    return this.byId.has(id);
  }

  // The item of the message with this id, or null.
  get(id) {
    const row = this.byId.get(id);
    return row ? row.item : null;
  }

  // A message arrived with this seq and id: note its seq as the newest when it
  // is, and say whether it is new here (false: its id is already shown).
  admit(seq, id) {
    if (typeof seq === "number" && (this.lastSeq === null || seq > this.lastSeq)) {
      this.lastSeq = seq;
    }
    return !(typeof id === "string" && this.byId.has(id));
  }

  // The seq of the first message shown that has one, or null.
  firstSeq() {
    const row = this.rows.find((candidate) => candidate.seq !== null);
    return row ? row.seq : null;
  }

  // Record *item* where a line with *seq* (null: a notice, or a message without
  // one) goes, and return the item it goes before (null: at the end).
  insert(item, { seq = null, id = null } = {}) {
    return this.put({ item: item, seq: seq, id: id, pending: false });
  }

  // Record this page's own *item*, on its way, at the end.
  append(item) {
    this.rows.push({ item: item, seq: null, id: null, pending: true });
    return null;
  }

  // This page's own *item* is confirmed with this id and seq. Returns
  // {moved, before}: with a seq it moves into its place, before *before*.
  settle(item, { seq = null, id = null } = {}) {
    const row = this.row(item);
    if (!row) {
      return { moved: false, before: null };
    }
    row.pending = false;
    if (typeof id === "string") {
      row.id = id;
      this.byId.set(id, row);
    }
    if (typeof seq !== "number") {
      return { moved: false, before: null };
    }
    row.seq = seq;
    this.rows.splice(this.rows.indexOf(row), 1);
    return { moved: true, before: this.put(row) };
  }

  // Forget *item* (a discarded message); true if it was here.
  remove(item) {
    const row = this.row(item);
    if (!row) {
      return false;
    }
    this.rows.splice(this.rows.indexOf(row), 1);
    this.forget(row);
    return true;
  }

  // Past `max` rows, drop the oldest down to `trimTo`. Returns null, or
  // {removed: their items, kept: the item now first}.
  trim() {
    if (this.rows.length <= this.max) {
      return null;
    }
    const removed = this.rows.splice(0, this.rows.length - this.trimTo);
    for (const row of removed) {
      this.forget(row);
      if (row.seq !== null) {
        this.hasOlder = true; // the server still has it
      }
    }
    return {
      removed: removed.map((row) => row.item),
      kept: this.rows.length ? this.rows[0].item : null,
    };
  }

  row(item) {
    return this.rows.find((row) => row.item === item) || null;
  }

  forget(row) {
    if (row.id !== null && this.byId.get(row.id) === row) {
      this.byId.delete(row.id);
    }
  }

  put(row) {
    const index = this.placeFor(row.seq);
    this.rows.splice(index, 0, row);
    if (row.id !== null) {
      this.byId.set(row.id, row);
    }
    const next = this.rows[index + 1];
    return next ? next.item : null;
  }

  // The index a line with *seq* goes at: before the first later message, and
  // before the page's own messages on their way. A line without a seq goes
  // after the last line that is not on its way.
  placeFor(seq) {
    let index = this.rows.length;
    for (let i = this.rows.length - 1; i >= 0; i--) {
      const row = this.rows[i];
      if (row.pending) {
        index = i;
      } else if (seq !== null && row.seq !== null) {
        if (row.seq < seq) {
          break;
        }
        index = i;
      } else if (seq === null) {
        break;
      }
    }
    return index;
  }
}
