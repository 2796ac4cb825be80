import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ChangeFeed, EarlyChanges, GAP_MS, PERSONAL, applyChange, kindOf, readReactions, refreshState,
  stateOf, withinWindow,
} from "../../flask_chatroom/static/chatroom/changes.js";
import { Connection, authPayload } from "../../flask_chatroom/static/chatroom/connection.js";
import { FakeSocket, FakeTimers } from "./fakes.mjs";

// -- the room's cursor: ChangeFeed -------------------------------------------------------

function edit(seq, id = "m1", text = "text " + seq) {
  return { kind: "edit", id, room: "lobby", message: text, edited_ts: 1000 + seq, change_seq: seq };
}

// A feed recording what it applies and what it asks the server for.
function feed({ online = true } = {}) {
  const timers = new FakeTimers();
  const applied = [];
  const fetches = []; // {since, answer(err, ack)}
  const changes = new ChangeFeed({
    apply: (change) => applied.push(change.change_seq === undefined ? change : change.change_seq),
    fetch: (since, answer) => {
      if (!online) {
        return false;
      }
      fetches.push({ since, answer });
      return true;
    },
    timers,
  });
  return { changes, timers, applied, fetches };
}

test("changes: in-order changes after the history's cursor are applied one by one", () => {
  const { changes, applied, timers } = feed();
  changes.reset(4);
  changes.receive(edit(5));
  changes.receive(edit(6));
  assert.deepEqual(applied, [5, 6]);
  assert.equal(changes.cursor, 6);
  assert.equal(timers.count, 0, "no gap, no timer");
});

test("changes: a change at or below the cursor was applied already and is dropped", () => {
  const { changes, applied } = feed();
  changes.reset(10);
  changes.receive(edit(3));
  changes.receive(edit(10));
  changes.receive(edit(11));
  changes.receive(edit(11)); // a duplicate delivery
  changes.receive(edit(9));
  assert.deepEqual(applied, [11]);
  assert.equal(changes.cursor, 11);
});

test("changes: out-of-order changes wait for their predecessors, then go in order", () => {
  const { changes, applied, timers } = feed();
  changes.reset(0);
  changes.receive(edit(3));
  changes.receive(edit(2));
  assert.deepEqual(applied, []);
  assert.equal(changes.waiting, true);
  assert.equal(timers.count, 1, "the gap is watched");
  changes.receive(edit(1));
  assert.deepEqual(applied, [1, 2, 3]);
  assert.equal(changes.cursor, 3);
  assert.equal(changes.waiting, false);
  assert.equal(timers.count, 0, "the gap filled by itself: no timer left");
});

test("changes: duplicates in the buffer are applied once", () => {
  const { changes, applied } = feed();
  changes.reset(0);
  changes.receive(edit(2));
  changes.receive(edit(2));
  changes.receive(edit(3));
  changes.receive(edit(2));
  changes.receive(edit(1));
  changes.receive(edit(3));
  assert.deepEqual(applied, [1, 2, 3]);
});

test("changes: a gap still open after GAP_MS is fetched with changes {since: cursor}", () => {
  const { changes, applied, timers, fetches } = feed();
  changes.reset(7);
  changes.receive(edit(10));
  assert.equal(timers.count, 1);
  assert.equal([...timers.pending.values()][0].ms, GAP_MS);
  timers.runAll();
  assert.equal(fetches.length, 1);
  assert.equal(fetches[0].since, 7);
  fetches[0].answer(null, {
    ok: true, changes: [edit(8), edit(9), edit(10)], change_seq: 10, has_more: false,
  });
  assert.deepEqual(applied, [8, 9, 10], "the fetched 10 and the buffered one: applied once");
  assert.equal(changes.cursor, 10);
  assert.equal(changes.waiting, false);
});

test("changes: a gap fetch pages while has_more, and live changes meanwhile are kept", () => {
  const { changes, applied, timers, fetches } = feed();
  changes.reset(0);
  changes.receive(edit(5));
  timers.runAll();
  changes.receive(edit(6)); // live, while the answer is on its way
  fetches[0].answer(null, { ok: true, changes: [edit(1), edit(2)], change_seq: 2, has_more: true });
  assert.deepEqual(applied, [1, 2]);
  assert.equal(fetches.length, 2);
  assert.equal(fetches[1].since, 2);
  fetches[1].answer(null, { ok: true, changes: [edit(3), edit(4), edit(5)], change_seq: 5,
                            has_more: false });
  assert.deepEqual(applied, [1, 2, 3, 4, 5, 6]);
  assert.equal(changes.cursor, 6);
});

test("changes: a failed gap fetch is tried again later", () => {
  const { changes, applied, timers, fetches } = feed();
  changes.reset(0);
  changes.receive(edit(2));
  timers.runAll();
  fetches[0].answer(new Error("timeout"));
  assert.equal(timers.count, 1, "watched again");
  timers.runAll();
  assert.equal(fetches.length, 2);
  fetches[1].answer(null, { ok: true, changes: [edit(1)], change_seq: 1, has_more: false });
  assert.deepEqual(applied, [1, 2]);
});

test("changes: offline, a gap is left to the next join's catch-up", () => {
  const { changes, applied, timers, fetches } = feed({ online: false });
  changes.reset(0);
  changes.receive(edit(2));
  timers.runAll();
  assert.equal(fetches.length, 0);
  assert.equal(changes.fetching, false);
  changes.catchUp([edit(1), edit(2), edit(3)], false, 3);
  assert.deepEqual(applied, [1, 2, 3]);
});

test("changes: a gap the server cannot fill is skipped once it says it has no more", () => {
  const { changes, applied, timers, fetches } = feed();
  changes.reset(0);
  changes.receive(edit(4));
  timers.runAll();
  fetches[0].answer(null, { ok: true, changes: [edit(1)], change_seq: 1, has_more: false });
  assert.deepEqual(applied, [1, 4], "2 and 3 are gone for good: 4 is not held back forever");
  assert.equal(changes.cursor, 4);
});

test("changes: changes before the first history wait, then those after its cursor apply", () => {
  const { changes, applied } = feed();
  changes.receive(edit(3));
  changes.receive(edit(5));
  changes.receive(edit(4));
  assert.deepEqual(applied, [], "no cursor yet");
  changes.reset(3); // the snapshot already shows 1..3
  assert.deepEqual(applied, [4, 5]);
  assert.equal(changes.cursor, 5);
});

test("changes: a re-join's catch-up overlapping live changes applies each once", () => {
  const { changes, applied, fetches } = feed();
  changes.reset(2);
  changes.receive(edit(3));
  // The connection drops; 4..6 happen; it comes back and 6 arrives live before
  // the history answer holding 4..6.
  changes.pause();
  changes.receive(edit(6));
  changes.catchUp([edit(4), edit(5), edit(6)], false, 6);
  changes.receive(edit(5)); // late duplicate
  changes.receive(edit(7));
  assert.deepEqual(applied, [3, 4, 5, 6, 7]);
  assert.equal(fetches.length, 0);
});

test("changes: a catch-up that says changes_more fetches the rest", () => {
  const { changes, applied, fetches } = feed();
  changes.reset(0);
  changes.catchUp([edit(1), edit(2)], true, 9);
  assert.deepEqual(applied, [1, 2]);
  assert.equal(fetches.length, 1);
  assert.equal(fetches[0].since, 2);
  fetches[0].answer(null, {
    ok: true, changes: [3, 4, 5, 6, 7, 8, 9].map((n) => edit(n)), change_seq: 9, has_more: false,
  });
  assert.equal(changes.cursor, 9);
  assert.equal(applied.length, 9);
});

test("changes: a history whose change_seq is ahead without a list asks for the rest", () => {
  const { changes, fetches } = feed();
  changes.reset(3);
  changes.catchUp(undefined, false, 5);
  assert.equal(fetches.length, 1);
  assert.equal(fetches[0].since, 3);
});

test("changes: catch-up lists arrive in any order and apply sorted", () => {
  const { changes, applied } = feed();
  changes.reset(0);
  changes.receiveAll([edit(3), edit(1), edit(2), edit(2)]);
  assert.deepEqual(applied, [1, 2, 3]);
});

test("changes: without numbered changes (an older server) they apply as they come", () => {
  const { changes, applied } = feed();
  const legacy = { kind: "delete", id: "m1", room: "lobby" };
  changes.receive(legacy);
  assert.deepEqual(applied, [legacy]);
  changes.reset(undefined); // a history without change_seq
  changes.receive(edit(7));
  assert.equal(applied.length, 2);
});

test("changes: a seeded random delivery (shuffled, duplicated, delayed) applies 1..N once, in order", () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let round = 0; round < 30; round++) {
    const { changes, applied, timers, fetches } = feed();
    const total = 40;
    const server = Array.from({ length: total }, (_, i) => edit(i + 1));
    changes.reset(0);
    // Each change arrives live 0, 1 or 2 times, in a shuffled order.
    const deliveries = [];
    for (const change of server) {
      const times = Math.floor(random() * 3);
      for (let t = 0; t < times; t++) {
        deliveries.push(change);
      }
    }
    deliveries.sort(() => random() - 0.5);
    for (const change of deliveries) {
      changes.receive(change);
      if (random() < 0.1) {
        timers.runAll();
      }
      // Answer fetches from the server's log, up to 5 at a time.
      while (fetches.length) {
        const { since, answer } = fetches.shift();
        const page = server.slice(since, since + 5);
        answer(null, { ok: true, changes: page, change_seq: since + page.length,
                       has_more: since + page.length < total });
      }
    }
    // Whatever is still missing comes with the next catch-up.
    timers.runAll();
    while (fetches.length) {
      const { since, answer } = fetches.shift();
      const page = server.slice(since, since + 5);
      answer(null, { ok: true, changes: page, change_seq: since + page.length,
                     has_more: since + page.length < total });
    }
    changes.catchUp(server.slice(changes.cursor), false, total);
    assert.deepEqual(applied, server.map((change) => change.change_seq), "round " + round);
  }
});

// -- one message: applyChange ------------------------------------------------------------

function message(fields = {}) {
  return stateOf({ id: "m1", message: "hello", ts: 5, ...fields }, "me");
}

test("changes: an edit sets the text, html and edit time, and the message's change_seq", () => {
  const state = message();
  assert.equal(applyChange(state, { kind: "edit", message: "*hi*", html: "<p><em>hi</em></p>",
                                    edited_ts: 99, change_seq: 3 }), true);
  assert.equal(state.text, "*hi*");
  assert.equal(state.html, "<p><em>hi</em></p>");
  assert.equal(state.editedTs, 99);
  assert.equal(state.changeSeq, 3);
  applyChange(state, { kind: "edit", message: "plain", edited_ts: 100, change_seq: 4 });
  assert.equal(state.html, null, "an edit without html is plain text");
});

test("changes: a change the message's snapshot already has is skipped", () => {
  const state = message({ message: "newest", change_seq: 8 });
  assert.equal(applyChange(state, { kind: "edit", message: "older", change_seq: 8 }), false);
  assert.equal(applyChange(state, { kind: "edit", message: "oldest", change_seq: 5 }), false);
  assert.equal(state.text, "newest");
  assert.equal(applyChange(state, { kind: "edit", message: "newer", change_seq: 9 }), true);
  assert.equal(state.text, "newer");
});

test("changes: a deletion empties the message for good", () => {
  const state = message({ reactions: [{ emoji: "👍", count: 1, user_ids: ["me"] }] });
  applyChange(state, { kind: "delete", id: "m1", change_seq: 2 });
  assert.equal(state.deleted, true);
  assert.equal(state.text, "");
  assert.deepEqual(state.reactions, []);
  assert.equal(applyChange(state, { kind: "edit", message: "back?", change_seq: 3 }), false);
  assert.equal(state.deleted, true);
});

test("changes: a legacy deletion (no change_seq) applies", () => {
  const state = message({ change_seq: 4 });
  assert.equal(applyChange(state, { kind: "delete", id: "m1" }), true);
  assert.equal(state.deleted, true);
});

test("changes: kinds come from the field or the payload's shape", () => {
  assert.equal(kindOf({ kind: "delete" }), "delete");
  assert.equal(kindOf({ reactions: [] }), "reactions");
  assert.equal(kindOf({ message: "x" }), "edit");
  assert.equal(kindOf({}), null);
  assert.equal(applyChange(message(), { kind: "nonsense", change_seq: 1 }), false);
});

// -- reactions and "me" ---------------------------------------------------------------------

test("changes: in a shared payload, me is whether this user's id is listed", () => {
  const state = stateOf({ message: "x", reactions: [
    { emoji: "👍", count: 2, user_ids: ["ada", "me"] },
    { emoji: "🎉", count: 1, user_ids: ["ada"] },
  ] }, "me");
  assert.deepEqual(state.reactions.map((r) => [r.emoji, r.count, r.me]),
    [["🎉", 1, false], ["👍", 2, true]]);
});

test("changes: a live reaction by this user sets me to its on; others keep theirs", () => {
  const state = message({ reactions: [{ emoji: "👍", count: 1, user_ids: ["ada"] }] }, { me: "me" });
  applyChange(state, { kind: "reactions", id: "m1", change_seq: 1, user_id: "me", emoji: "👍",
    on: true, reactions: [{ emoji: "👍", count: 2, user_ids: ["ada", "me"] }] }, { me: "me" });
  assert.deepEqual(state.reactions.map((r) => [r.emoji, r.count, r.me]), [["👍", 2, true]]);
  // Someone else adds 🎉: this user's 👍 stays pressed.
  applyChange(state, { kind: "reactions", id: "m1", change_seq: 2, user_id: "grace", emoji: "🎉",
    on: true, reactions: [{ emoji: "👍", count: 2, user_ids: ["ada", "me"] },
                          { emoji: "🎉", count: 1, user_ids: ["grace"] }] }, { me: "me" });
  assert.deepEqual(state.reactions.map((r) => [r.emoji, r.count, r.me]),
    [["🎉", 1, false], ["👍", 2, true]]);
  // This user takes theirs back.
  applyChange(state, { kind: "reactions", id: "m1", change_seq: 3, user_id: "me", emoji: "👍",
    on: false, reactions: [{ emoji: "👍", count: 1, user_ids: ["ada"] },
                           { emoji: "🎉", count: 1, user_ids: ["grace"] }] }, { me: "me" });
  assert.deepEqual(state.reactions.map((r) => [r.emoji, r.count, r.me]),
    [["🎉", 1, false], ["👍", 1, false]]);
});

test("changes: a crowd longer than the ids sent keeps this user's me from before", () => {
  const ids = Array.from({ length: 50 }, (_, i) => "u" + String(i).padStart(2, "0"));
  const held = [{ emoji: "👍", count: 60, userIds: ids, me: true }];
  const list = [{ emoji: "👍", count: 61, user_ids: ids }];
  assert.equal(readReactions(list, { me: "zz", held, actor: "other", emoji: "👍", on: true })[0].me,
    true);
  assert.equal(readReactions([{ emoji: "👍", count: 50, user_ids: ids }],
    { me: "zz", held })[0].me, false, "a complete list without this user: not me");
});

test("changes: a personal answer's me flags are taken as they are", () => {
  const list = [{ emoji: "👍", count: 70, user_ids: ["a"], me: true },
                { emoji: "🎉", count: 3, user_ids: ["a", "b", "c"] }];
  const read = readReactions(list, { me: "me", personal: true,
    held: [{ emoji: "🎉", count: 3, userIds: [], me: true }] });
  assert.deepEqual(read.map((r) => [r.emoji, r.me]), [["🎉", false], ["👍", true]]);
});

test("changes: changes from a personal list (PERSONAL) read their me flags", () => {
  const state = message();
  const change = { kind: "reactions", id: "m1", change_seq: 4, user_id: "grace", emoji: "👀",
    on: true, reactions: [{ emoji: "👀", count: 40, user_ids: ["grace"], me: true }] };
  change[PERSONAL] = true;
  applyChange(state, change, { me: "me", personal: true });
  assert.equal(state.reactions[0].me, true);
});

test("changes: reactions with no count or no emoji are left out", () => {
  assert.deepEqual(readReactions([{ emoji: "👍", count: 0, user_ids: [] }, { count: 2 }, null]), []);
  assert.deepEqual(readReactions("nope"), []);
});

test("changes: a react answer's reactions are not applied again by its change", () => {
  const state = message({ change_seq: 2 });
  state.reactSeq = 5; // the react answer brought change 5's reactions
  const reactions = { kind: "reactions", id: "m1", change_seq: 5, user_id: "me", emoji: "👍",
    on: true, reactions: [{ emoji: "👍", count: 1, user_ids: ["me"] }] };
  assert.equal(applyChange(state, reactions, { me: "me" }), false);
  // An edit made before the reaction still applies.
  assert.equal(applyChange(state, { kind: "edit", message: "edited", change_seq: 4 }), true);
  assert.equal(state.text, "edited");
});

// -- snapshots --------------------------------------------------------------------------

test("changes: a newer snapshot of a shown message replaces its state; an older one does not", () => {
  const state = message({ change_seq: 3, message: "three" });
  assert.equal(refreshState(state, { message: "two", change_seq: 2 }), false);
  assert.equal(state.text, "three");
  assert.equal(refreshState(state, { message: "four", change_seq: 4, edited_ts: 7 }), true);
  assert.equal(state.text, "four");
  assert.equal(state.editedTs, 7);
  const fresh = message();
  assert.equal(refreshState(fresh, { message: "", deleted: true }), true,
    "a deletion without change_seq (legacy) still shows");
});

test("changes: the edit window (seconds, null: always)", () => {
  assert.equal(withinWindow(1000, null, 10 ** 12), true);
  assert.equal(withinWindow(1000, 900, 1000 + 899000), true);
  assert.equal(withinWindow(1000, 900, 1000 + 900000), false);
  assert.equal(withinWindow(null, 900, 5), false);
});

// -- what a (re)connection sends --------------------------------------------------------

test("changes: the auth payload carries changes_since for the room once the cursor is known", () => {
  assert.deepEqual(authPayload("lobby", 41, null, 7),
    { since: { lobby: 41 }, changes_since: { lobby: 7 } });
  assert.deepEqual(authPayload("lobby", 41, null, 0),
    { since: { lobby: 41 }, changes_since: { lobby: 0 } });
  assert.deepEqual(authPayload("lobby", 41, null, null), { since: { lobby: 41 } });
  assert.deepEqual(authPayload("", 41, null, 3), { since: {} });
});

test("changes: a join sends changes_since beside since", () => {
  const socket = new FakeSocket();
  const cursors = { garden: 12 };
  const connection = new Connection({ room: "garden", lastSeq: () => 30,
    changesSince: (room) => (room in cursors ? cursors[room] : null), timers: new FakeTimers() });
  connection.attach(socket);
  assert.deepEqual(connection.auth(),
    { since: { garden: 30 }, changes_since: { garden: 12 } });
  socket.connect();
  socket.fire("welcome", { room: "lobby" });
  assert.deepEqual(socket.last("join").payload, { room: "garden", since: 30, changes_since: 12 });
  delete cursors.garden;
  connection.enterRoom();
  assert.deepEqual(socket.last("join").payload, { room: "garden", since: 30 });
});

// -- changes that overtake their message ------------------------------------------------

test("changes: a change to a message not seen yet (seq above the newest) is kept for it", () => {
  const early = new EarlyChanges();
  const edit5 = { kind: "edit", id: "new", seq: 12, change_seq: 5, message: "fixed", edited_ts: 9 };
  const react6 = { kind: "reactions", id: "new", seq: 12, change_seq: 6, user_id: "ada",
    emoji: "👍", on: true, reactions: [{ emoji: "👍", count: 1, user_ids: ["ada"] }] };
  assert.equal(early.keep(react6, 11), true);
  assert.equal(early.keep(edit5, 11), true);
  // The message comes: its kept changes, in change_seq order, by the per-message rule.
  const state = stateOf({ id: "new", seq: 12, message: "tpyo" }, "me");
  for (const change of early.take("new")) {
    applyChange(state, change, { me: "me" });
  }
  assert.equal(state.text, "fixed");
  assert.deepEqual(state.reactions.map((r) => [r.emoji, r.count]), [["👍", 1]]);
  assert.equal(state.changeSeq, 6);
  assert.deepEqual(early.take("new"), [], "taken once");
});

test("changes: a change to an older message not held is dropped, not kept", () => {
  const early = new EarlyChanges();
  assert.equal(early.keep({ id: "old", seq: 3, change_seq: 1, kind: "delete" }, 11), false);
  assert.equal(early.keep({ id: "old", seq: 11, change_seq: 2, kind: "delete" }, 11), false);
  assert.equal(early.keep({ id: "x", change_seq: 3, kind: "delete" }, 11), false, "no seq: no guess");
  assert.equal(early.size, 0);
  assert.equal(early.keep({ id: "first", seq: 1, change_seq: 1, kind: "delete" }, null), true,
    "nothing seen yet: any message is on its way");
});

test("changes: a message whose snapshot already has the kept change skips it", () => {
  const early = new EarlyChanges();
  early.keep({ kind: "edit", id: "m", seq: 5, change_seq: 3, message: "old edit" }, 4);
  const state = stateOf({ id: "m", seq: 5, message: "newer", change_seq: 4 }, "me");
  for (const change of early.take("m")) {
    assert.equal(applyChange(state, change), false);
  }
  assert.equal(state.text, "newer");
});

test("changes: kept changes are bounded, the oldest messages' going first", () => {
  const early = new EarlyChanges({ max: 3 });
  for (let n = 1; n <= 5; n++) {
    early.keep({ kind: "delete", id: "m" + n, seq: 100 + n, change_seq: n }, 0);
  }
  assert.equal(early.size, 3);
  assert.deepEqual(early.take("m1"), []);
  assert.equal(early.take("m5").length, 1);
});
