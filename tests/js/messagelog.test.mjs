import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_MESSAGES, MessageLog, TRIM_TO } from "../../flask_chatroom/static/chatroom/messagelog.js";

// Items are plain names here; the widget's are <li> elements.
function shown(log) {
  return log.items();
}

// Insert like the widget does: admit, then place.
function receive(log, name, seq, id = name) {
  if (!log.admit(seq, id)) {
    return false;
  }
  log.insert(name, { seq, id });
  return true;
}

test("messagelog: messages are placed by seq whatever order they arrive in", () => {
  const log = new MessageLog();
  receive(log, "m3", 3);
  receive(log, "m1", 1);
  receive(log, "m2", 2);
  receive(log, "m5", 5);
  assert.deepEqual(shown(log), ["m1", "m2", "m3", "m5"]);
});

test("messagelog: insert returns the item the new one goes before, null at the end", () => {
  const log = new MessageLog();
  assert.equal(log.insert("m2", { seq: 2 }), null);
  assert.equal(log.insert("m4", { seq: 4 }), null);
  assert.equal(log.insert("m3", { seq: 3 }), "m4");
  assert.equal(log.insert("m1", { seq: 1 }), "m2");
});

test("messagelog: a message whose id is shown is a duplicate", () => {
  const log = new MessageLog();
  assert.equal(receive(log, "first", 1, "id-1"), true);
  assert.equal(receive(log, "again", 1, "id-1"), false);
  assert.equal(log.admit(null, null), true, "without an id nothing is a duplicate");
  assert.deepEqual(shown(log), ["first"]);
});

test("messagelog: lastSeq is the newest seq seen, duplicates included", () => {
  const log = new MessageLog();
  assert.equal(log.lastSeq, null);
  receive(log, "m4", 4, "a");
  receive(log, "m2", 2, "b");
  assert.equal(log.lastSeq, 4, "an older message does not move it back");
  log.admit(9, "a"); // a duplicate id with a newer seq still counts
  assert.equal(log.lastSeq, 9);
  log.admit(null, "c");
  assert.equal(log.lastSeq, 9);
});

test("messagelog: a gap is filled in place when the missing message arrives", () => {
  const log = new MessageLog();
  receive(log, "m1", 1);
  receive(log, "m4", 4);
  receive(log, "m2", 2);
  receive(log, "m3", 3);
  assert.deepEqual(shown(log), ["m1", "m2", "m3", "m4"]);
});

test("messagelog: own messages on their way stay last", () => {
  const log = new MessageLog();
  receive(log, "m1", 1);
  log.append("own");
  assert.equal(log.insert("m2", { seq: 2 }), "own");
  receive(log, "m3", 3);
  assert.deepEqual(shown(log), ["m1", "m2", "m3", "own"]);
});

test("messagelog: a notice goes last, before own messages on their way", () => {
  const log = new MessageLog();
  receive(log, "m1", 1);
  log.append("own");
  assert.equal(log.insert("joined"), "own");
  assert.deepEqual(shown(log), ["m1", "joined", "own"]);
});

test("messagelog: a message with a seq passes over notices to its place", () => {
  const log = new MessageLog();
  receive(log, "m1", 1);
  log.insert("joined");
  receive(log, "m3", 3);
  receive(log, "m2", 2);
  assert.deepEqual(shown(log), ["m1", "joined", "m2", "m3"]);
  receive(log, "m5", 5);
  log.insert("left");
  receive(log, "m6", 6);
  assert.deepEqual(shown(log), ["m1", "joined", "m2", "m3", "m5", "left", "m6"]);
});

test("messagelog: a confirmed own message moves into its seq place", () => {
  const log = new MessageLog();
  receive(log, "m1", 1);
  log.append("own");
  receive(log, "m3", 3);
  assert.deepEqual(shown(log), ["m1", "m3", "own"]);
  assert.deepEqual(log.settle("own", { seq: 2, id: "own-id" }), { moved: true, before: "m3" });
  assert.deepEqual(shown(log), ["m1", "own", "m3"]);
  assert.equal(log.get("own-id"), "own");
  assert.equal(log.admit(2, "own-id"), false, "its broadcast is then a duplicate");
});

test("messagelog: a confirmed own message is no longer held last", () => {
  const log = new MessageLog();
  log.append("own");
  assert.deepEqual(log.settle("own", { id: "x" }), { moved: false, before: null });
  log.insert("joined");
  assert.deepEqual(shown(log), ["own", "joined"], "a notice now goes after it");
});

test("messagelog: a second own message on its way stays after the confirmed one", () => {
  const log = new MessageLog();
  log.append("first");
  log.append("second");
  log.settle("first", { seq: 10, id: "f" });
  assert.deepEqual(shown(log), ["first", "second"]);
  receive(log, "m11", 11);
  assert.deepEqual(shown(log), ["first", "m11", "second"]);
});

test("messagelog: settling an item that is not in the log changes nothing", () => {
  const log = new MessageLog();
  receive(log, "m1", 1);
  assert.deepEqual(log.settle("ghost", { seq: 2, id: "g" }), { moved: false, before: null });
  assert.deepEqual(shown(log), ["m1"]);
  assert.equal(log.has("g"), false);
});

test("messagelog: remove forgets the item and its id", () => {
  const log = new MessageLog();
  receive(log, "m1", 1, "a");
  log.append("own");
  assert.equal(log.remove("own"), true);
  assert.equal(log.remove("own"), false);
  assert.equal(log.remove("m1"), true);
  assert.equal(log.has("a"), false);
  assert.equal(log.length, 0);
});

test("messagelog: trimming drops the oldest down to trimTo in one batch", () => {
  const log = new MessageLog({ max: 5, trimTo: 3 });
  for (let seq = 1; seq <= 5; seq++) {
    receive(log, "m" + seq, seq);
  }
  assert.equal(log.trim(), null, "at the maximum nothing goes");
  receive(log, "m6", 6);
  assert.deepEqual(log.trim(), { removed: ["m1", "m2", "m3"], kept: "m4" });
  assert.deepEqual(shown(log), ["m4", "m5", "m6"]);
  assert.equal(log.has("m1"), false, "a trimmed message may be shown again later");
  assert.equal(log.hasOlder, true, "the server still has the trimmed messages");
  assert.equal(log.firstSeq(), 4);
});

test("messagelog: trimming only notices does not promise older messages", () => {
  const log = new MessageLog({ max: 2, trimTo: 1 });
  log.insert("joined");
  log.insert("left");
  receive(log, "m1", 1);
  assert.deepEqual(log.trim().removed, ["joined", "left"]);
  assert.equal(log.hasOlder, false);
});

test("messagelog: the default limits are 500, trimmed to 450", () => {
  const log = new MessageLog();
  assert.equal(MAX_MESSAGES, 500);
  assert.equal(TRIM_TO, 450);
  for (let seq = 1; seq <= 501; seq++) {
    log.insert("m" + seq, { seq, id: "m" + seq });
  }
  const cut = log.trim();
  assert.equal(cut.removed.length, 51);
  assert.equal(log.length, 450);
  assert.equal(cut.kept, "m52");
});

test("messagelog: firstSeq skips notices and own messages, null when none", () => {
  const log = new MessageLog();
  assert.equal(log.firstSeq(), null);
  log.insert("joined");
  log.append("own");
  assert.equal(log.firstSeq(), null);
  receive(log, "m8", 8);
  receive(log, "m7", 7);
  assert.equal(log.firstSeq(), 7);
});

test("messagelog: stored lists the messages that have an id", () => {
  const log = new MessageLog();
  receive(log, "m1", 1, "a");
  log.insert("joined");
  log.append("own");
  log.insert("m2", { seq: 2 });
  assert.deepEqual(log.stored(), ["m1"]);
  log.settle("own", { id: "b" });
  assert.deepEqual(log.stored().sort(), ["m1", "own"]);
});
