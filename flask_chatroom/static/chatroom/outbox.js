/* flask-chatroom: the outbox, this page's messages the server has not confirmed.
 * No DOM: the widget draws each entry and hands the outbox a way to send.
 *
 * An entry is {clientId, text, state, attempt, error}; its state is
 *   "queued"   waiting for its turn (new, retried, or its answer never came),
 *   "sending"  on its way, waiting for the server's answer,
 *   "failed"   refused by the server: waits for retry() or discard(),
 *   "sent"     confirmed, and no longer in the outbox.
 * One message is on its way at a time, oldest first, so they arrive in order.
 * An entry keeps its client_id through every retry, so the server stores and
 * broadcasts it once however often it is sent.
 */

export const QUEUED = "queued";
export const SENDING = "sending";
export const FAILED = "failed";
export const SENT = "sent";

// A client_id: random enough that two pages never pick the same.
export function newClientId() {
  const crypto = globalThis.crypto;
  if (crypto && typeof crypto.randomUUID === "function") {
    return crypto.randomUUID();
  }
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
}

export class Outbox {
  // send(entry, callback): emit the entry and call back with (err, ack);
  // canSend(): whether the connection allows sending now;
  // onSent(entry, data): the server has it (data: its ack or its broadcast);
  // onFailed(entry, error): the server refused it.
  constructor({ send, canSend = () => true, onSent = () => {}, onFailed = () => {},
                newId = newClientId } = {}) {
    this.send = send;
    this.canSend = canSend;
    this.onSent = onSent;
    this.onFailed = onFailed;
    this.newId = newId;
    this.entries = []; // oldest first
    this.sending = null; // the entry on its way
  }

  get size() {
    return this.entries.length;
  }

  // A new message, queued last. Call pump() to send it.
  add(text) {
    const entry = { clientId: this.newId(), text: text, state: QUEUED, attempt: 0, error: null };
    this.entries.push(entry);
    return entry;
  }

  // The entry with this client_id, or null.
  find(clientId) {
    if (typeof clientId !== "string") {
      return null;
    }
    return this.entries.find((entry) => entry.clientId === clientId) || null;
  }

  // Send the oldest queued entry, if none is on its way and the connection allows.
  pump() {
    if (this.sending || !this.canSend()) {
      return;
    }
    const entry = this.entries.find((candidate) => candidate.state === QUEUED);
    if (!entry) {
      return;
    }
    const attempt = ++entry.attempt;
    entry.state = SENDING;
    this.sending = entry;
    this.send(entry, (err, ack) => {
      this.answered(entry, attempt, err, ack || {});
    });
  }

  answered(entry, attempt, err, ack) {
    if (this.sending === entry) {
      this.sending = null;
    }
    if (entry.attempt !== attempt || entry.state !== SENDING) {
      this.pump(); // confirmed meanwhile by its broadcast, or discarded
      return;
    }
    if (!err && ack.ok) {
      this.confirm(entry, ack);
    } else if (err) {
      // No answer (the connection dropped, or the server was too slow): it
      // goes again, with the same client_id, once the connection allows.
      entry.state = QUEUED;
    } else {
      this.fail(entry, ack.error);
    }
    this.pump();
  }

  // The server has the entry: from its ack {id, seq, ts}, or from a broadcast or
  // history entry carrying its client_id.
  confirm(entry, data) {
    entry.state = SENT;
    this.drop(entry);
    this.onSent(entry, data);
  }

  fail(entry, error) {
    entry.state = FAILED;
    entry.error = error || null;
    this.onFailed(entry, entry.error);
  }

  // Queue a refused entry again; true if it was refused. Call pump() to send it.
  retry(entry) {
    if (entry.state !== FAILED) {
      return false;
    }
    entry.state = QUEUED;
    return true;
  }

  // Give up on a refused entry; true if it was refused (and is now gone).
  discard(entry) {
    if (entry.state !== FAILED) {
      return false;
    }
    this.drop(entry);
    return true;
  }

  drop(entry) {
    const index = this.entries.indexOf(entry);
    if (index !== -1) {
      this.entries.splice(index, 1);
    }
  }
}
