import assert from "node:assert/strict";
import { test } from "node:test";

import {
  FAILED, Outbox, QUEUED, SENDING, SENT, newClientId,
} from "../../flask_chatroom/static/chatroom/outbox.js";

// An outbox whose sends are recorded; each can be answered with (err, ack).
function outbox({ online = true } = {}) {
  const state = { online, sends: [], sent: [], failed: [] };
  let ids = 0;
  const box = new Outbox({
    send: (entry, answer) => state.sends.push({ clientId: entry.clientId, entry, answer }),
    canSend: () => state.online,
    onSent: (entry, data) => state.sent.push({ entry, data }),
    onFailed: (entry, error) => state.failed.push({ entry, error }),
    newId: () => "c" + ++ids,
  });
  return { box, state };
}

const NO_ANSWER = new Error("operation has timed out");

test("outbox: a new message is queued with a fresh client_id and no attempt yet", () => {
  const { box, state } = outbox();
  const first = box.add("hello");
  const second = box.add("again");
  assert.equal(first.state, QUEUED);
  assert.equal(first.attempt, 0);
  assert.equal(first.text, "hello");
  assert.notEqual(first.clientId, second.clientId);
  assert.deepEqual(box.entries, [first, second]);
  assert.equal(box.size, 2);
  assert.equal(state.sends.length, 0, "add() alone sends nothing");
});

test("outbox: pump sends the oldest queued message and marks it sending", () => {
  const { box, state } = outbox();
  const first = box.add("one");
  box.add("two");
  box.pump();
  assert.equal(state.sends.length, 1);
  assert.equal(state.sends[0].entry, first);
  assert.equal(first.state, SENDING);
  assert.equal(first.attempt, 1);
  assert.equal(box.sending, first);
});

test("outbox: one message at a time, the next after the answer", () => {
  const { box, state } = outbox();
  box.add("one");
  const second = box.add("two");
  box.pump();
  box.pump();
  assert.equal(state.sends.length, 1, "a second pump waits for the first answer");
  state.sends[0].answer(null, { ok: true, id: "m1", seq: 1 });
  assert.equal(state.sends.length, 2);
  assert.equal(state.sends[1].entry, second);
});

test("outbox: nothing goes out while the connection does not allow it", () => {
  const { box, state } = outbox({ online: false });
  const entry = box.add("offline");
  box.pump();
  assert.equal(state.sends.length, 0);
  assert.equal(entry.state, QUEUED);
  state.online = true;
  box.pump();
  assert.equal(state.sends.length, 1);
});

test("outbox: an ok answer confirms the message and removes it", () => {
  const { box, state } = outbox();
  const entry = box.add("hello");
  box.pump();
  const ack = { ok: true, id: "m1", seq: 7, ts: 1 };
  state.sends[0].answer(null, ack);
  assert.equal(entry.state, SENT);
  assert.equal(box.size, 0);
  assert.equal(box.sending, null);
  assert.deepEqual(state.sent, [{ entry, data: ack }]);
});

test("outbox: without an answer the message is queued again and keeps its client_id", () => {
  const { box, state } = outbox();
  const entry = box.add("lost answer");
  box.pump();
  state.online = false; // the connection dropped with the answer
  state.sends[0].answer(NO_ANSWER);
  assert.equal(entry.state, QUEUED);
  assert.equal(state.sends.length, 1, "not sent again before the connection allows");
  assert.equal(state.failed.length, 0, "no answer is not a refusal");
  state.online = true;
  box.pump();
  assert.equal(state.sends.length, 2);
  assert.equal(state.sends[1].clientId, state.sends[0].clientId);
  assert.equal(entry.attempt, 2);
});

test("outbox: a message that got no answer goes again at once when still connected", () => {
  const { box, state } = outbox();
  box.add("slow server");
  box.pump();
  state.sends[0].answer(NO_ANSWER);
  assert.equal(state.sends.length, 2);
  assert.equal(state.sends[1].clientId, state.sends[0].clientId);
});

test("outbox: a refusal fails the message, keeps the error and lets the next go", () => {
  const { box, state } = outbox();
  const refused = box.add("too fast");
  const next = box.add("next");
  box.pump();
  const error = { code: "rate_limited", message: "Slow down", retry_after: 2 };
  state.sends[0].answer(null, { ok: false, error });
  assert.equal(refused.state, FAILED);
  assert.equal(refused.error, error);
  assert.deepEqual(state.failed, [{ entry: refused, error }]);
  assert.equal(box.size, 2, "a failed message stays until retried or discarded");
  assert.equal(state.sends[1].entry, next);
});

test("outbox: an answer without ok and without an error is a refusal with no error", () => {
  const { box, state } = outbox();
  const entry = box.add("odd answer");
  box.pump();
  state.sends[0].answer(null, undefined);
  assert.equal(entry.state, FAILED);
  assert.equal(entry.error, null);
});

test("outbox: retry queues a failed message again with the same client_id", () => {
  const { box, state } = outbox();
  const entry = box.add("again");
  box.pump();
  state.sends[0].answer(null, { ok: false, error: { code: "x", message: "no" } });
  assert.equal(box.retry(entry), true);
  assert.equal(entry.state, QUEUED);
  box.pump();
  assert.equal(state.sends.length, 2);
  assert.equal(state.sends[1].clientId, entry.clientId);
  state.sends[1].answer(null, { ok: true });
  assert.equal(entry.state, SENT);
});

test("outbox: only a failed message can be retried", () => {
  const { box } = outbox({ online: false });
  const entry = box.add("queued");
  assert.equal(box.retry(entry), false);
  assert.equal(entry.state, QUEUED);
});

test("outbox: discard removes a failed message and nothing else", () => {
  const { box, state } = outbox();
  const failed = box.add("refused");
  box.pump();
  state.sends[0].answer(null, { ok: false, error: { code: "x", message: "no" } });
  const waiting = box.add("waiting");
  state.online = false;
  assert.equal(box.discard(waiting), false);
  assert.equal(box.discard(failed), true);
  assert.deepEqual(box.entries, [waiting]);
  assert.equal(box.find(failed.clientId), null);
});

test("outbox: confirmed by its broadcast while on its way, the late answer is ignored", () => {
  const { box, state } = outbox();
  const entry = box.add("echoed first");
  const next = box.add("next");
  box.pump();
  const broadcast = { id: "m1", seq: 3, client_id: entry.clientId };
  box.confirm(box.find(entry.clientId), broadcast);
  assert.equal(entry.state, SENT);
  box.pump();
  assert.equal(state.sends.length, 1, "the next waits for the answer on its way");
  state.sends[0].answer(null, { ok: true, id: "m1", seq: 3 });
  assert.deepEqual(state.sent.map((s) => s.data), [broadcast], "confirmed once");
  assert.equal(state.sends.length, 2);
  assert.equal(state.sends[1].entry, next);
});

test("outbox: find looks up unconfirmed messages by client_id only", () => {
  const { box, state } = outbox();
  const entry = box.add("x");
  assert.equal(box.find(entry.clientId), entry);
  assert.equal(box.find("nobody"), null);
  assert.equal(box.find(undefined), null);
  assert.equal(box.find(42), null);
  box.pump();
  state.sends[0].answer(null, { ok: true });
  assert.equal(box.find(entry.clientId), null);
});

test("outbox: messages go out in the order written", () => {
  const { box, state } = outbox();
  for (const text of ["a", "b", "c"]) {
    box.add(text);
  }
  box.pump();
  while (state.sends.length < 3) {
    state.sends[state.sends.length - 1].answer(null, { ok: true });
  }
  assert.deepEqual(state.sends.map((s) => s.entry.text), ["a", "b", "c"]);
});

test("outbox: newClientId gives a different string every time", () => {
  const ids = new Set(Array.from({ length: 100 }, () => newClientId()));
  assert.equal(ids.size, 100);
  for (const id of ids) {
    assert.equal(typeof id, "string");
    assert.ok(id.length >= 8);
  }
});
