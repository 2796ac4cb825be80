import assert from "node:assert/strict";
import { test } from "node:test";

import {
  JoinedRooms, KEEP_JOINED, READ_EVERY_MS, REFRESH_EVERY_MS, ReadMarker, RoomList,
  RoomsRefresher, mentionsUser, tabTitle,
} from "../../flask_chatroom/static/chatroom/rooms.js";
import { FakeTimers } from "./fakes.mjs";

const ACK = [
  { name: "lobby", kind: "public", count: 2, unread: 3, mentions: 1, last_seq: 41 },
  { name: "dm-1", kind: "dm", count: 1, members: [{ id: "grace", name: "Grace" }],
    unread: 1, mentions: 0, last_seq: 7 },
  { name: "dev", kind: "public", count: 0, unread: 0, mentions: 0, last_seq: 0 },
  { name: "secret", kind: "private", title: "Secret plans", unread: 0, mentions: 0,
    last_seq: 2 },
];

function list() {
  let changes = 0;
  const rooms = new RoomList({ onChange: () => { changes += 1; } });
  rooms.userId = "ada";
  rooms.load(ACK);
  return { rooms, changes: () => changes };
}

test("rooms: the rooms ack fills the list, public rooms first", () => {
  const { rooms } = list();
  assert.deepEqual(rooms.ordered().map((r) => r.name), ["lobby", "dev", "dm-1", "secret"]);
  const groups = rooms.groups();
  assert.deepEqual(groups.rooms.map((r) => r.name), ["lobby", "dev"]);
  assert.deepEqual(groups.conversations.map((r) => r.name), ["dm-1", "secret"]);
  assert.equal(rooms.get("lobby").unread, 3);
  assert.equal(rooms.get("lobby").mentions, 1);
  assert.equal(rooms.get("lobby").lastSeq, 41);
  assert.equal(rooms.readSeq("lobby"), 38);
  assert.equal(rooms.total(), 4);
  assert.equal(rooms.readSeq("nowhere"), null);
});

test("rooms: the server's order wins over the order rooms became known", () => {
  const rooms = new RoomList();
  rooms.upsert("random", {});
  rooms.upsert("elsewhere", {});
  rooms.load(ACK);
  assert.deepEqual(rooms.ordered().map((r) => r.name),
    ["lobby", "dev", "random", "elsewhere", "dm-1", "secret"]);
});

test("rooms: labels name rooms by title and DMs by the other members", () => {
  const { rooms } = list();
  assert.equal(rooms.label("lobby"), "#lobby");
  assert.equal(rooms.label("secret"), "#Secret plans");
  assert.equal(rooms.label("dm-1"), "Grace");
  assert.equal(rooms.describe("lobby"), "#lobby, 3 unread, 1 mention");
  assert.equal(rooms.describe("dev"), "#dev");
  // A DM from the dm event has ids only; names come from presence lists.
  rooms.addDm("dm-2", ["ada", "linus"]);
  assert.equal(rooms.label("dm-2"), "linus");
  rooms.learnName("linus", "Linus");
  assert.equal(rooms.label("dm-2"), "Linus");
  assert.deepEqual(rooms.get("dm-2").members, [{ id: "linus", name: null }]);
});

test("rooms: a live message counts once, mentions count, own messages read", () => {
  const { rooms, changes } = list();
  const before = changes();
  assert.equal(rooms.receive("dev", { seq: 1, user_id: "grace" }), true);
  assert.equal(rooms.receive("dev", { seq: 1, user_id: "grace" }), false, "seen already");
  assert.equal(rooms.receive("dev", { seq: 2, user_id: "grace", mentions: ["ada"] }), true);
  assert.equal(rooms.get("dev").unread, 2);
  assert.equal(rooms.get("dev").mentions, 1);
  assert.ok(changes() > before);
  assert.equal(rooms.receive("dev", { seq: 3, user_id: "ada" }), false);
  assert.equal(rooms.get("dev").unread, 0);
  assert.equal(rooms.get("dev").mentions, 0);
  assert.equal(rooms.receive("unknown", { seq: 1 }), false);
  assert.equal(rooms.receive("dev", { user_id: "grace" }), false, "no seq");
});

test("rooms: reading and the server's counts", () => {
  const { rooms } = list();
  rooms.markRead("lobby", 40);
  assert.equal(rooms.get("lobby").unread, 1);
  assert.equal(rooms.get("lobby").mentions, 1, "which one mentioned is not known here");
  rooms.markRead("lobby", 41);
  assert.equal(rooms.get("lobby").unread, 0);
  assert.equal(rooms.get("lobby").mentions, 0);
  rooms.markRead("lobby", 30);
  assert.equal(rooms.get("lobby").unread, 0, "the marker only moves forward");
  rooms.setCounts({ room: "lobby", unread: 5, mentions: 2, last_seq: 46 });
  assert.equal(rooms.get("lobby").unread, 5);
  assert.equal(rooms.get("lobby").lastSeq, 46);
  rooms.setCounts({ room: "unknown", unread: 5 });
  assert.equal(rooms.has("unknown"), false);
  assert.equal(rooms.total(), 6);
});

test("rooms: the tab title shows the total", () => {
  assert.equal(tabTitle("Acme chat", 3), "(3) Acme chat");
  assert.equal(tabTitle("Acme chat", 0), "Acme chat");
});

test("rooms: whether a message mentions the user", () => {
  assert.equal(mentionsUser({ mentions: ["ada", "7"] }, 7), true);
  assert.equal(mentionsUser({ mentions: ["ada"] }, "grace"), false);
  assert.equal(mentionsUser({ mentions: ["ada"] }, null), false);
  assert.equal(mentionsUser({}, "ada"), false);
  assert.equal(mentionsUser(null, "ada"), false);
});

test("rooms: read markers go out at most once a second, the newest last", () => {
  const timers = new FakeTimers();
  let now = 0;
  const sent = [];
  const marker = new ReadMarker({
    emit: (room, seq) => sent.push([room, seq]), timers, now: () => now,
  });
  marker.seen("lobby", 5);
  assert.deepEqual(sent, [["lobby", 5]]);
  marker.seen("lobby", 5);
  marker.seen("lobby", 4);
  now = 200;
  marker.seen("lobby", 6);
  marker.seen("lobby", 7);
  marker.seen("dev", 1);
  assert.deepEqual(sent, [["lobby", 5], ["dev", 1]], "another room has its own second");
  assert.equal(timers.count, 1);
  now = READ_EVERY_MS;
  timers.runAll();
  assert.deepEqual(sent, [["lobby", 5], ["dev", 1], ["lobby", 7]]);
  now = 2 * READ_EVERY_MS + 1;
  marker.seen("lobby", 8);
  assert.deepEqual(sent.at(-1), ["lobby", 8]);
  marker.seen("lobby", null);
  marker.seen(null, 3);
  assert.equal(sent.length, 4);
});

test("rooms: the connection stays in the rooms shown last, and leaves the others", () => {
  assert.ok(KEEP_JOINED < 20, "under the server's default CHATROOM_MAX_ROOMS_PER_CONNECTION");
  const joined = new JoinedRooms(3);
  joined.reset(["lobby"]);
  assert.deepEqual(joined.enter("dev"), []);
  assert.deepEqual(joined.enter("random"), []);
  assert.deepEqual(joined.enter("lobby"), [], "shown again: now the latest");
  assert.deepEqual(joined.enter("dm-1"), ["dev"]);
  assert.equal(joined.has("dev"), false);
  assert.deepEqual(joined.rooms, ["random", "lobby", "dm-1"]);
  joined.reset();
  assert.deepEqual(joined.enter("dev"), []);
  assert.deepEqual(joined.rooms, ["dev"]);
});

test("rooms: coming back asks for the rooms at once, then at most once every 10 s", () => {
  const timers = new FakeTimers();
  let now = 1000;
  let asked = 0;
  const refresher = new RoomsRefresher({ refresh: () => { asked += 1; }, timers, now: () => now });
  assert.equal(REFRESH_EVERY_MS, 10000);
  refresher.poke();
  assert.equal(asked, 1, "the first time at once");
  now += 3000;
  refresher.poke();
  refresher.poke();
  assert.equal(asked, 1, "not again within 10 s");
  assert.equal(timers.count, 1, "but once more when they are over");
  assert.equal(Array.from(timers.pending.values())[0].ms, 7000);
  timers.runAll();
  assert.equal(asked, 2);
  now += 10000;
  refresher.poke();
  assert.equal(asked, 3, "after 10 s, at once again");
  assert.equal(timers.count, 0);
});
