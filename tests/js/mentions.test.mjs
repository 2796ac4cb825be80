import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MAX_SUGGESTIONS, insertMention, matchNames, mentionQuery, splitMentions,
} from "../../flask_chatroom/static/chatroom/mentions.js";

test("mentions: an @ followed by letters at the caret is a query", () => {
  assert.deepEqual(mentionQuery("hi @Gr", 6), { start: 3, query: "Gr" });
  assert.deepEqual(mentionQuery("@a", 2), { start: 0, query: "a" });
  assert.deepEqual(mentionQuery("(@zoë", 5), { start: 1, query: "zoë" });
  assert.deepEqual(mentionQuery("hi @Gr and", 6), { start: 3, query: "Gr" });
  assert.equal(mentionQuery("hi @", 4), null, "letters first");
  assert.equal(mentionQuery("mail a@b", 8), null, "not inside a word");
  assert.equal(mentionQuery("hi @Gr x", 8), null, "a space ends it");
  assert.equal(mentionQuery(null, 0), null);
});

test("mentions: members match by the start of their name or of a word", () => {
  const names = ["Grace Hopper", "Ada", "grace", "Linus", "Ada", "Margaret Grant"];
  assert.deepEqual(matchNames(names, "gr"), ["grace", "Grace Hopper", "Margaret Grant"]);
  assert.deepEqual(matchNames(names, "ADA"), ["Ada"]);
  assert.deepEqual(matchNames(names, "x"), []);
  const many = Array.from({ length: 20 }, (_, i) => "Guest " + (1000 + i));
  assert.equal(matchNames(many, "gu").length, MAX_SUGGESTIONS);
});

test("mentions: the chosen name replaces the query, with a space after it", () => {
  assert.deepEqual(insertMention("hi @Gr", 3, 6, "Grace Hopper"),
    { text: "hi @Grace Hopper ", caret: 17 });
  assert.deepEqual(insertMention("@a how are you", 0, 2, "Ada"),
    { text: "@Ada how are you", caret: 5 });
});

test("mentions: @Name of a member is cut out of the text, any case", () => {
  assert.deepEqual(splitMentions("hi @grace hopper, and @Ada!", ["Ada", "Grace Hopper", "Grace"]), [
    { text: "hi ", mention: null },
    { text: "@grace hopper", mention: "Grace Hopper" },
    { text: ", and ", mention: null },
    { text: "@Ada", mention: "Ada" },
    { text: "!", mention: null },
  ]);
  assert.deepEqual(splitMentions("mail ada@Ada.org", ["Ada"]),
    [{ text: "mail ada@Ada.org", mention: null }], "not inside a word");
  assert.deepEqual(splitMentions("@Adam", ["Ada"]), [{ text: "@Adam", mention: null }]);
  assert.deepEqual(splitMentions("@Ada", []), [{ text: "@Ada", mention: null }]);
  assert.deepEqual(splitMentions("no at", ["Ada"]), [{ text: "no at", mention: null }]);
  assert.deepEqual(splitMentions("<b>@Ada</b>", ["Ada"]), [
    { text: "<b>", mention: null }, { text: "@Ada", mention: "Ada" },
    { text: "</b>", mention: null },
  ]);
});
