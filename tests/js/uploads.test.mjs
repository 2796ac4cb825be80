import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DONE, FAILED, LOST, MAX_ATTACHMENTS, TOO_MANY, UPLOADING, Uploads, readAnswer, sendFile,
  tooLarge,
} from "../../flask_chatroom/static/chatroom/uploads.js";

// An XMLHttpRequest that records what was asked and answers when told.
class FakeXhr {
  constructor() {
    this.headers = {};
    this.upload = {};
    this.aborted = false;
    this.sent = null;
  }

  open(method, url) {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name, value) {
    this.headers[name] = value;
  }

  send(body) {
    this.sent = body;
  }

  abort() {
    this.aborted = true;
    if (this.onabort) {
      this.onabort();
    }
  }

  progress(loaded, total) {
    this.upload.onprogress({ lengthComputable: true, loaded, total });
  }

  answer(status, body) {
    this.status = status;
    this.responseText = typeof body === "string" ? body : JSON.stringify(body);
    this.onload();
  }
}

class FakeForm {
  constructor() {
    this.fields = [];
  }

  append(name, value, filename) {
    this.fields.push([name, value, filename]);
  }
}

const ATTACHMENT = { id: "a1", name: "cat.png", size: 3, type: "image/png", url: "/f/a1" };

function upload(options = {}) {
  const xhr = new FakeXhr();
  const seen = { progress: [], done: [] };
  const request = sendFile({
    url: "/chat/api/rooms/lobby/attachments",
    file: { name: "cat.png", size: 3 },
    makeXhr: () => xhr,
    makeForm: () => new FakeForm(),
    onProgress: (loaded, total) => seen.progress.push([loaded, total]),
    onDone: (answer) => seen.done.push(answer),
    ...options,
  });
  return { xhr, seen, request };
}

test("uploads: a file goes as multipart with the chat's headers", () => {
  const { xhr, seen } = upload({ csrf: "tok" });
  assert.equal(xhr.method, "POST");
  assert.equal(xhr.url, "/chat/api/rooms/lobby/attachments");
  assert.equal(xhr.headers["X-Chatroom"], "1");
  assert.equal(xhr.headers["X-CSRFToken"], "tok");
  assert.deepEqual(xhr.sent.fields, [["file", { name: "cat.png", size: 3 }, "cat.png"]]);
  xhr.progress(1, 3);
  xhr.progress(3, 3);
  assert.deepEqual(seen.progress, [[1, 3], [3, 3]]);
  xhr.answer(201, { ok: true, attachment: ATTACHMENT });
  assert.deepEqual(seen.done, [{ ok: true, attachment: ATTACHMENT }]);
});

test("uploads: no CSRF header without a token", () => {
  const { xhr } = upload();
  assert.equal("X-CSRFToken" in xhr.headers, false);
});

test("uploads: a refusal brings the server's message", () => {
  const { xhr, seen } = upload();
  xhr.answer(415, { ok: false, error: { code: "attachment_refused", message: "No SVG here." } });
  assert.deepEqual(seen.done, [{ ok: false,
    error: { code: "attachment_refused", message: "No SVG here." } }]);
});

test("uploads: answers that are not the chat's JSON still read as refusals", () => {
  assert.deepEqual(readAnswer(413, "<html>Request Entity Too Large</html>"),
    { ok: false, error: { code: "http_413", message: "This file is too large." } });
  assert.deepEqual(readAnswer(502, ""),
    { ok: false, error: { code: "http_502", message: "The upload failed (502)." } });
  assert.deepEqual(readAnswer(0, ""),
    { ok: false, error: { code: "http_0", message: LOST } });
  // 2xx without an attachment is no success.
  assert.equal(readAnswer(200, JSON.stringify({ ok: true })).ok, false);
  assert.deepEqual(readAnswer(429, JSON.stringify({ ok: false,
    error: { code: "rate_limited", message: "Slow down.", retry_after: 3 } })),
  { ok: false, error: { code: "rate_limited", message: "Slow down.", retry_after: 3 } });
});

test("uploads: a lost connection fails; an abort reports nothing", () => {
  const lost = upload();
  lost.xhr.onerror();
  assert.deepEqual(lost.seen.done, [{ ok: false, error: { code: "network", message: LOST } }]);
  const cancelled = upload();
  cancelled.request.abort();
  assert.equal(cancelled.xhr.aborted, true);
  assert.deepEqual(cancelled.seen.done, []);
  cancelled.request.abort(); // twice is harmless
});

// Uploads with a start() that keeps each request for the test to answer.
function composer() {
  const started = [];
  const changes = [];
  const uploads = new Uploads({
    start: (entry, callbacks) => {
      const request = { entry, ...callbacks, aborted: false };
      request.abort = () => {
        request.aborted = true;
      };
      started.push(request);
      return request;
    },
    onChange: (entry) => changes.push(entry),
  });
  return { uploads, started, changes };
}

test("uploads: a chip goes from uploading to done; the message takes it", () => {
  const { uploads, started, changes } = composer();
  const one = uploads.add({ name: "cat.png", size: 300 });
  assert.equal(one.state, UPLOADING);
  assert.equal(uploads.busy, true);
  started[0].progress(150, 300);
  assert.equal(one.loaded, 150);
  started[0].done({ ok: true, attachment: ATTACHMENT });
  assert.equal(one.state, DONE);
  assert.equal(one.loaded, 300);
  assert.equal(uploads.busy, false);
  assert.deepEqual(uploads.ready(), [ATTACHMENT]);
  assert.ok(changes.includes(one));
  // A late progress event changes nothing.
  started[0].progress(10, 300);
  assert.equal(one.loaded, 300);
  uploads.clear();
  assert.equal(uploads.size, 0);
  assert.deepEqual(uploads.ready(), []);
});

test("uploads: cancel aborts the request and drops the chip", () => {
  const { uploads, started } = composer();
  const one = uploads.add({ name: "big.bin", size: 1e9 });
  assert.equal(uploads.remove(one), true);
  assert.equal(started[0].aborted, true);
  assert.equal(uploads.size, 0);
  assert.equal(uploads.busy, false);
  started[0].done({ ok: true, attachment: ATTACHMENT }); // too late: ignored
  assert.deepEqual(uploads.ready(), []);
  assert.equal(uploads.remove(one), false);
});

test("uploads: a refused file keeps its chip with the error until removed", () => {
  const { uploads, started } = composer();
  const bad = uploads.add({ name: "x.svg", size: 10 });
  const good = uploads.add({ name: "y.png", size: 10 });
  started[0].done({ ok: false, error: { code: "attachment_refused", message: "Nope." } });
  started[1].done({ ok: true, attachment: ATTACHMENT });
  assert.equal(bad.state, FAILED);
  assert.equal(bad.error.message, "Nope.");
  assert.deepEqual(uploads.ready(), [ATTACHMENT]);
  assert.equal(uploads.remove(bad), true);
  assert.equal(started[0].aborted, false); // finished: nothing to abort
  assert.deepEqual(uploads.list, [good]);
});

test("uploads: past MAX_ATTACHMENTS a file fails at once, without a request", () => {
  const { uploads, started } = composer();
  for (let i = 0; i < MAX_ATTACHMENTS; i++) {
    uploads.add({ name: "f" + i, size: 1 });
  }
  const extra = uploads.add({ name: "one too many", size: 1 });
  assert.equal(started.length, MAX_ATTACHMENTS);
  assert.equal(extra.state, FAILED);
  assert.equal(extra.error.message, TOO_MANY);
  // Removing one makes room again.
  uploads.remove(uploads.list[0]);
  uploads.remove(extra);
  assert.equal(uploads.add({ name: "now", size: 1 }).state, UPLOADING);
});

test("uploads: a file over the server's limit fails at once, without a request", () => {
  const started = [];
  const uploads = new Uploads({ maxBytes: 10 * 1024 * 1024, start: (entry) => {
    started.push(entry);
    return { abort() {} };
  } });
  const big = uploads.add({ name: "huge.zip", size: 10 * 1024 * 1024 + 1 });
  assert.equal(big.state, FAILED);
  assert.equal(big.error.message, "This file is too large: files are at most 10 MB.");
  assert.equal(uploads.add({ name: "fits.zip", size: 10 * 1024 * 1024 }).state, UPLOADING);
  assert.equal(started.length, 1);
  assert.equal(tooLarge(512 * 1024), "This file is too large: files are at most 1 MB.");
});
