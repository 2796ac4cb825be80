import assert from "node:assert/strict";
import { test } from "node:test";

import {
  CONTEXT_AFTER, CONTEXT_PAGE, SearchSession, contextRequest, readResults, splitHighlights,
  toUtf16Ranges,
} from "../../flask_chatroom/static/chatroom/search.js";

const marked = (text, ranges) => splitHighlights(text, ranges)
  .map((run) => (run.mark ? "[" + run.text + "]" : run.text)).join("");

test("search: highlight ranges mark the matched words", () => {
  assert.equal(marked("hello brave world", [[6, 11]]), "hello [brave] world");
  assert.equal(marked("abc", [[0, 3]]), "[abc]");
  assert.equal(marked("abc", []), "abc");
  assert.equal(marked("", [[0, 1]]), "");
});

test("search: offsets are code points, not UTF-16 units", () => {
  // 😀 is one code point, two UTF-16 units.
  const text = "😀 café 😀 naïve 𝒳yz";
  assert.equal(marked(text, [[2, 6]]), "😀 [café] 😀 naïve 𝒳yz");
  assert.equal(marked(text, [[9, 14]]), "😀 café 😀 [naïve] 𝒳yz");
  assert.equal(marked(text, [[15, 18]]), "😀 café 😀 naïve [𝒳yz]");
  assert.equal(marked(text, [[0, 1]]), "[😀] café 😀 naïve 𝒳yz");
  assert.deepEqual(toUtf16Ranges("😀a", [[1, 2]]), [[2, 3]]);
  // No range splits a surrogate pair.
  for (const run of splitHighlights("😀😀😀", [[1, 2]])) {
    assert.equal(run.text.length % 2, 0, JSON.stringify(run.text));
  }
});

test("search: ranges are sorted, merged, clamped; bad ones dropped", () => {
  assert.deepEqual(toUtf16Ranges("abcdefgh", [[4, 6], [0, 2], [1, 3], [5, 7]]), [[0, 3], [4, 7]]);
  assert.deepEqual(toUtf16Ranges("abc", [[2, 99]]), [[2, 3]]);
  assert.deepEqual(toUtf16Ranges("abc", [[-5, 1]]), [[0, 1]]);
  assert.deepEqual(toUtf16Ranges("abc", [[2, 2], [3, 1], ["0", 1], [0.5, 2], [1], null, 7]), []);
  assert.deepEqual(toUtf16Ranges("abc", "nope"), []);
  assert.equal(marked("abcdef", [[0, 2], [2, 4]]), "[abcd]ef");
});

test("search: an answer's results are checked", () => {
  const good = { id: "m1", room: "lobby", seq: 7, client: "Ada", ts: 1, message: "hi",
                 highlights: [[0, 2]] };
  const answer = readResults({ ok: true, next: "c1", results: [
    good, { id: "m2", room: "lobby", message: "no seq" }, null,
    { id: "m3", room: "dev", seq: 2, message: "", attachments: [{ id: "a" }] },
  ] });
  assert.equal(answer.ok, true);
  assert.equal(answer.next, "c1");
  assert.deepEqual(answer.results.map((r) => r.id), ["m1", "m3"]);
  assert.equal(answer.results[0].text, "hi");
  assert.equal(answer.results[1].attachments, 1);
  assert.equal(readResults({ ok: true, results: [], next: null }).next, null);
  assert.deepEqual(readResults({ ok: false, error: { code: "x", message: "No." } }),
    { ok: false, error: { code: "x", message: "No." } });
  assert.equal(readResults(null).ok, false);
});

test("search: a result's context is the page ending 25 messages after it", () => {
  assert.deepEqual(contextRequest("lobby", 100),
    { room: "lobby", before: 100 + CONTEXT_AFTER + 1, limit: CONTEXT_PAGE });
  assert.equal(CONTEXT_PAGE, 50);
});

function session() {
  const asked = [];
  let changes = 0;
  const search = new SearchSession({
    request: (payload, done) => asked.push({ payload, done }),
    onChange: () => {
      changes += 1;
    },
  });
  return { search, asked, changes: () => changes };
}

const hit = (id) => ({ id, room: "lobby", seq: Number(id.slice(1)), message: "x " + id });

test("search: a search and its More results pages", () => {
  const { search, asked } = session();
  assert.equal(search.start("   "), false);
  assert.equal(asked.length, 0);
  assert.equal(search.start("  cats  "), true);
  assert.deepEqual(asked[0].payload, { query: "cats", limit: 20 });
  assert.equal(search.loading, true);
  assert.equal(search.more(), false); // nothing to go on yet
  asked[0].done(null, { ok: true, results: [hit("m9"), hit("m8")], next: "n1" });
  assert.equal(search.state, "done");
  assert.deepEqual(search.results.map((r) => r.id), ["m9", "m8"]);
  assert.equal(search.more(), true);
  assert.deepEqual(asked[1].payload, { query: "cats", limit: 20, before: "n1" });
  // A result already shown is not shown twice.
  asked[1].done(null, { ok: true, results: [hit("m8"), hit("m7")], next: null });
  assert.deepEqual(search.results.map((r) => r.id), ["m9", "m8", "m7"]);
  assert.equal(search.next, null);
  assert.equal(search.more(), false);
});

test("search: an answer to an older search is dropped", () => {
  const { search, asked } = session();
  search.start("first");
  search.start("second");
  asked[0].done(null, { ok: true, results: [hit("m1")], next: null });
  assert.equal(search.loading, true);
  assert.deepEqual(search.results, []);
  asked[1].done(null, { ok: true, results: [hit("m2")], next: null });
  assert.deepEqual(search.results.map((r) => r.id), ["m2"]);
  search.close();
  assert.equal(search.state, "idle");
  assert.deepEqual(search.results, []);
});

test("search: a refusal or no answer keeps what was found and its next", () => {
  const { search, asked } = session();
  search.start("cats");
  asked[0].done(null, { ok: true, results: [hit("m5")], next: "n1" });
  search.more();
  asked[1].done(new Error("timeout"), undefined);
  assert.equal(search.state, "failed");
  assert.equal(search.error, null); // no answer
  assert.deepEqual(search.results.map((r) => r.id), ["m5"]);
  assert.equal(search.more(), true); // tried again
  asked[2].done(null, { ok: false, error: { code: "rate_limited", message: "Slow down." } });
  assert.deepEqual(search.error, { code: "rate_limited", message: "Slow down." });
});
