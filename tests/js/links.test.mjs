import assert from "node:assert/strict";
import { test } from "node:test";

import { describeError } from "../../flask_chatroom/static/chatroom/errors.js";
import { linkify, safeHref, trimUrl } from "../../flask_chatroom/static/chatroom/links.js";

test("links: trailing punctuation and unopened brackets are not part of an address", () => {
  assert.equal(trimUrl("https://example.net/a."), "https://example.net/a");
  assert.equal(trimUrl("https://example.net/a?!"), "https://example.net/a");
  assert.equal(trimUrl("https://example.net/a)"), "https://example.net/a");
  assert.equal(trimUrl("https://en.wikipedia.org/wiki/Flask_(web)"),
    "https://en.wikipedia.org/wiki/Flask_(web)");
});

test("links: only http and https addresses with a host are linked", () => {
  assert.equal(safeHref("https://example.net/x"), "https://example.net/x");
  assert.equal(safeHref("javascript:alert(1)"), null);
  assert.equal(safeHref("data:text/html,hi"), null);
  assert.equal(safeHref("not a url"), null);
});

test("links: text is cut into plain pieces and links, none empty", () => {
  assert.deepEqual(linkify("see https://example.net/a. ok"), [
    { text: "see ", href: null },
    { text: "https://example.net/a", href: "https://example.net/a" },
    { text: ". ok", href: null },
  ]);
  assert.deepEqual(linkify("https://a.example"), [
    { text: "https://a.example", href: "https://a.example/" },
  ]);
  assert.deepEqual(linkify(""), []);
  // The https: address inside is linked on its own; "javascript:" stays text.
  assert.deepEqual(linkify("javascript:https://x.example"), [
    { text: "javascript:", href: null },
    { text: "https://x.example", href: "https://x.example/" },
  ]);
  assert.deepEqual(linkify("<https://a.example/y>"), [
    { text: "<", href: null },
    { text: "https://a.example/y", href: "https://a.example/y" },
    { text: ">", href: null },
  ]);
});

test("errors: a refusal's sentence says how long to wait", () => {
  assert.equal(describeError(null), "The chat refused that.");
  assert.equal(describeError({ code: "x" }), "The chat refused that.");
  assert.equal(describeError({ code: "muted", message: "Muted.", retry_after: 30 }),
    "Muted. You can write again in 1 minute.");
  assert.equal(describeError({ code: "muted", message: "Muted.", retry_after: 600 }),
    "Muted. You can write again in 10 minutes.");
  assert.equal(describeError({ code: "rate_limited", message: "Too fast.", retry_after: 1.2 }),
    "Too fast. (2 s)");
  assert.equal(describeError({ code: "rate_limited", message: "Too fast.", retry_after: 0.5 }),
    "Too fast.");
});
