import assert from "node:assert/strict";
import { test } from "node:test";

import {
  Blocked, Me, TYPING_EXPIRE_MS, Typers, TypingSignal, authorOf, personKey, readPresence, typingText,
} from "../../flask_chatroom/static/chatroom/people.js";
import { FakeTimers } from "./fakes.mjs";

test("people: a signed-in user is known by id, a guest by name", () => {
  assert.equal(personKey("7", "Ada"), "user:7");
  assert.equal(personKey(null, "Guest 1"), "guest name:Guest 1");
  assert.equal(personKey(undefined, "Guest 1"), "guest name:Guest 1");
});

test("people: Me recognises this user by id when signed in, by name as a guest", () => {
  const me = new Me();
  me.name = "Guest 1";
  assert.equal(me.is(null, "Guest 1"), true);
  assert.equal(me.is(null, "Guest 2"), false);
  assert.equal(me.is("7", "Guest 1"), false, "an id is never a guest's");
  me.setUserId(7);
  assert.equal(me.userId, "7");
  assert.equal(me.is("7", "Someone"), true);
  assert.equal(me.is(7, "Someone"), true);
  assert.equal(me.is(null, "Guest 1"), false);
});

test("people: a signed-in user's messages from elsewhere are their own", () => {
  const me = new Me();
  assert.equal(me.wrote({ user_id: "7" }), false);
  me.setUserId("7");
  assert.equal(me.wrote({ user_id: 7 }), true);
  assert.equal(me.wrote({ user_id: null }), false);
  assert.equal(me.wrote({}), false);
});

test("people: a message from the server is marked, and only with system true", () => {
  assert.deepEqual(authorOf({ client: "System", user_id: null, system: true }), {
    name: "System", server: true, label: "System, message from the server",
  });
  // A guest's or a user's message, whatever name it shows, is not the server's.
  for (const data of [
    { client: "System", user_id: null },
    { client: "System", user_id: null, system: false },
    { client: "System", user_id: null, system: "true" },
    { client: "System", user_id: null, system: 1 },
    { client: "Ada", user_id: "7" },
  ]) {
    const author = authorOf(data);
    assert.equal(author.server, false, JSON.stringify(data));
    assert.equal(author.label, data.client);
    assert.equal(author.name, data.client);
  }
});

test("people: presence keeps named users and knows when the list is capped", () => {
  const full = readPresence({ users: [{ name: "Ada" }, null, { id: "x" }, { name: "Grace" }] });
  assert.deepEqual(full.users.map((u) => u.name), ["Ada", "Grace"]);
  assert.equal(full.count, 2);
  assert.equal(full.complete, true);
  const capped = readPresence({ users: [{ name: "Ada" }], count: 300 });
  assert.equal(capped.count, 300);
  assert.equal(capped.complete, false);
});

test("people: the typing line names one or two, then says several", () => {
  assert.equal(typingText([]), "");
  assert.equal(typingText(["Ada"]), "Ada is typing…");
  assert.equal(typingText(["Ada", "Grace"]), "Ada and Grace are typing…");
  assert.equal(typingText(["Ada", "Grace", "Zed"]), "Several people are typing…");
});

test("people: another user's typing expires without news and stops on request", () => {
  const timers = new FakeTimers();
  let changes = 0;
  const typers = new Typers({ timers, onChange: () => changes++ });
  typers.set("user:1", "Ada", true);
  typers.set("user:2", "Grace", true);
  assert.equal(typers.text(), "Ada and Grace are typing…");
  assert.equal([...timers.pending.values()][0].ms, TYPING_EXPIRE_MS);
  typers.set("user:2", "Grace", false);
  assert.deepEqual(typers.names(), ["Ada"]);
  timers.runAll();
  assert.deepEqual(typers.names(), []);
  assert.equal(changes, 1, "only Ada's expiry was news");
});

test("people: news from a typer restarts their time", () => {
  const timers = new FakeTimers();
  const typers = new Typers({ timers });
  typers.set("user:1", "Ada", true);
  typers.set("user:1", "Ada", true);
  assert.equal(timers.count, 1, "the first timer was cleared");
  assert.deepEqual(typers.names(), ["Ada"]);
});

test("people: whoever left is not typing, and forget says whether they were", () => {
  const typers = new Typers({ timers: new FakeTimers() });
  typers.set("user:1", "Ada", true);
  typers.set("guest name:Zed", "Zed", true);
  assert.equal(typers.keepOnly(new Set(["user:1"])), true);
  assert.equal(typers.keepOnly(new Set(["user:1"])), false);
  assert.equal(typers.forget("user:1"), true);
  assert.equal(typers.forget("user:1"), false);
  typers.set("user:3", "Lin", true);
  typers.clear();
  assert.equal(typers.text(), "");
});

test("people: own typing goes out at most every 2 s and stops after a pause", () => {
  const timers = new FakeTimers();
  let now = 1000;
  const sent = [];
  const signal = new TypingSignal({ timers, now: () => now, emit: (t) => sent.push(t) > 0 });
  signal.input(true);
  now += 1500;
  signal.input(true);
  assert.deepEqual(sent, [true]);
  now += 500;
  signal.input(true);
  assert.deepEqual(sent, [true, true]);
  assert.equal(timers.count, 1, "one idle timer at a time");
  timers.runAll();
  assert.deepEqual(sent, [true, true, false]);
  signal.stop();
  assert.deepEqual(sent, [true, true, false], "stopped once");
});

test("people: an emptied text box stops typing; a dropped connection forgets it", () => {
  const sent = [];
  const signal = new TypingSignal({ timers: new FakeTimers(), now: () => 0, emit: (t) => sent.push(t) > 0 });
  signal.input(true);
  signal.input(false);
  assert.deepEqual(sent, [true, false]);
  signal.input(true);
  signal.reset();
  signal.stop();
  assert.deepEqual(sent, [true, false, true], "no false after the connection dropped");
});

test("people: typing that cannot go out is tried again on the next key", () => {
  let online = false;
  const sent = [];
  const signal = new TypingSignal({
    timers: new FakeTimers(), now: () => 0,
    emit: (t) => online && sent.push(t) > 0,
  });
  signal.input(true);
  online = true;
  signal.input(true);
  assert.deepEqual(sent, [true]);
});

test("people: the blocked list is the server's whole list, ids as strings", () => {
  const blocked = new Blocked();
  assert.equal(blocked.has("grace"), false);
  assert.equal(blocked.loaded, false);
  assert.equal(blocked.load(undefined), false, "no list: nothing changes");
  assert.equal(blocked.load(["grace", 7]), true);
  assert.equal(blocked.loaded, true);
  assert.equal(blocked.has("grace"), true);
  assert.equal(blocked.has(7), true);
  assert.equal(blocked.has(null), false);
  blocked.load([]);
  assert.equal(blocked.has("grace"), false, "an unblock's list replaces the old one");
});
