import assert from "node:assert/strict";
import { test } from "node:test";

import {
  EXCERPT_LENGTH, MAX_JUMP_PAGES, excerpt, findOriginal, quoteOf,
} from "../../flask_chatroom/static/chatroom/replies.js";

test("replies: an excerpt collapses whitespace and cuts at 120 characters with …", () => {
  assert.equal(excerpt("  hello \n\n  world\t "), "hello world");
  const long = "word ".repeat(40);
  const cut = excerpt(long);
  assert.equal(Array.from(cut).length <= EXCERPT_LENGTH, true);
  assert.ok(cut.endsWith("…"));
  assert.ok(!cut.endsWith(" …"), "no space before the ellipsis");
  assert.equal(excerpt("x".repeat(120)), "x".repeat(120));
  assert.equal(excerpt("x".repeat(121)), "x".repeat(119) + "…");
  // Characters, not UTF-16 units: an emoji is not cut in half.
  assert.equal(excerpt("😀".repeat(121)), "😀".repeat(119) + "…");
});

test("replies: a reply_to field as a quote", () => {
  assert.deepEqual(quoteOf({ id: "a1", client: "Ada", excerpt: "hi" }),
    { id: "a1", client: "Ada", excerpt: "hi", deleted: false });
  assert.deepEqual(quoteOf({ id: "a1", deleted: true }),
    { id: "a1", client: "", excerpt: "", deleted: true });
  assert.deepEqual(quoteOf({ id: "a1" }), { id: "a1", client: "", excerpt: "", deleted: false });
  assert.equal(quoteOf(null), null);
  assert.equal(quoteOf("a1"), null);
  assert.equal(quoteOf({ id: 5 }), null);
});

// A log of ids with older pages on the "server".
function world({ shown, older, pageSize = 2, fail = false }) {
  const state = { shown: new Set(shown), older: older.slice(), loads: 0 };
  return {
    state,
    has: (id) => state.shown.has(id),
    hasOlder: () => state.older.length > 0,
    loadOlder: (done) => {
      state.loads += 1;
      if (fail) {
        done(false);
        return;
      }
      for (const id of state.older.splice(-pageSize)) {
        state.shown.add(id);
      }
      done(true);
    },
  };
}

function find(id, options) {
  let result = null;
  findOriginal(id, options, (found, pages) => {
    result = [found, pages];
  });
  return result;
}

test("replies: a shown original is found without loading anything", () => {
  const w = world({ shown: ["a", "b"], older: ["x"] });
  assert.deepEqual(find("a", w), ["found", 0]);
  assert.equal(w.state.loads, 0);
});

test("replies: an older original is found by loading pages until it is in", () => {
  const w = world({ shown: ["e", "f"], older: ["a", "b", "c", "d"] });
  assert.deepEqual(find("a", w), ["found", 2]);
});

test("replies: the search stops at the room's beginning", () => {
  const w = world({ shown: ["e"], older: ["c", "d"] });
  assert.deepEqual(find("zz", w), ["gone", 1]);
});

test("replies: the search gives up after MAX_JUMP_PAGES pages", () => {
  const older = Array.from({ length: 100 }, (_, i) => "m" + i);
  const w = world({ shown: ["z"], older, pageSize: 1 });
  assert.deepEqual(find("m0", w), ["too_far", MAX_JUMP_PAGES]);
  assert.equal(w.state.loads, MAX_JUMP_PAGES);
  const few = world({ shown: ["z"], older, pageSize: 1 });
  assert.deepEqual(find("m0", { ...few, maxPages: 3 }), ["too_far", 3]);
});

test("replies: a page that does not come ends the search", () => {
  const w = world({ shown: ["z"], older: ["a"], fail: true });
  assert.deepEqual(find("a", w), ["failed", 1]);
});

test("replies: who reacted, by name when known, by id otherwise", async () => {
  const { whoReacted } = await import("../../flask_chatroom/static/chatroom/reactions.js");
  const names = { ada: "Ada", me: "Grace (you)" };
  const nameOf = (id) => names[id] || null;
  assert.equal(whoReacted({ count: 2, userIds: ["ada", "me"] }, nameOf), "Ada, Grace (you)");
  assert.equal(whoReacted({ count: 1, userIds: ["guest:9f"] }, nameOf), "guest:9f");
  const many = Array.from({ length: 50 }, (_, i) => "u" + i);
  assert.equal(whoReacted({ count: 75, userIds: many }, nameOf),
    many.slice(0, 10).join(", ") + " and 65 more");
  assert.equal(whoReacted({ count: 3, userIds: [] }, nameOf), "3 people");
});
