/* flask-chatroom: files on their way to the server, before a message carries
 * them. No DOM: the widget draws each upload as a chip and hands in the way
 * to send a file (sendFile() with the browser's XMLHttpRequest and FormData).
 *
 * An upload is {key, name, size, state, loaded, total, attachment, error};
 * its state is
 *   "uploading"  on its way (loaded/total say how far),
 *   "done"       stored: `attachment` is the server's answer, ready to send,
 *   "failed"     refused or lost: `error` is {code, message} to show.
 * A cancelled or removed upload leaves the list. A message takes the done
 * ones (at most MAX_ATTACHMENTS); while any is on its way, it waits.
 */

export const UPLOADING = "uploading";
export const DONE = "done";
export const FAILED = "failed";
// The most attachments one message may carry (the server's limit too).
export const MAX_ATTACHMENTS = 10;

export const LOST = "The upload failed; check your connection and try again.";
export const TOO_MANY = "A message can carry at most " + MAX_ATTACHMENTS + " files.";

// The sentence for a file over *maxBytes*, as the server says it ("10 MB").
export function tooLarge(maxBytes) {
  const mb = Math.max(1, Math.floor(maxBytes / (1024 * 1024)));
  return "This file is too large: files are at most " + mb + " MB.";
}

const STATUS_MESSAGES = {
  400: "The server refused this file.",
  401: "Sign in to attach files.",
  403: "You may not attach files here.",
  404: "This room does not take files.",
  413: "This file is too large.",
  415: "Files of this type are not allowed.",
  429: "Too many uploads; wait a little and try again.",
};

// The answer to an upload: {ok: true, attachment} or {ok: false, error}, from
// the response's status and text (JSON, or a proxy's error page).
export function readAnswer(status, text) {
  let data = null;
  try {
    data = JSON.parse(text);
  } catch (e) {
    data = null;
  }
  if (status >= 200 && status < 300 && data && data.ok === true && data.attachment &&
      typeof data.attachment === "object" && typeof data.attachment.id === "string") {
    return { ok: true, attachment: data.attachment };
  }
  const error = data && data.error && typeof data.error === "object" ? data.error : {};
  const message = typeof error.message === "string" && error.message
    ? error.message
    : STATUS_MESSAGES[status] || (status ? "The upload failed (" + status + ")." : LOST);
  const out = { code: typeof error.code === "string" ? error.code : "http_" + status,
                message: message };
  if (typeof error.retry_after === "number") {
    out.retry_after = error.retry_after;
  }
  return { ok: false, error: out };
}

// POST *file* to *url* as multipart/form-data (one field, "file"), with the
// X-Chatroom header (the server's CSRF guard) and X-CSRFToken when *csrf* is
// given. *makeXhr()* and *makeForm()* give an XMLHttpRequest and a FormData.
// onProgress(loaded, total) while it goes; onDone({ok, attachment|error}) once,
// unless aborted. Returns {abort()}.
export function sendFile({ url, file, csrf = null, makeXhr, makeForm, onProgress, onDone }) {
  const xhr = makeXhr();
  let finished = false;
  const finish = (answer) => {
    if (!finished) {
      finished = true;
      onDone(answer);
    }
  };
  xhr.open("POST", url);
  xhr.setRequestHeader("X-Chatroom", "1");
  if (csrf) {
    xhr.setRequestHeader("X-CSRFToken", csrf);
  }
  xhr.setRequestHeader("Accept", "application/json");
  if (xhr.upload) {
    xhr.upload.onprogress = (event) => {
      if (!finished && event && event.lengthComputable) {
        onProgress(event.loaded, event.total);
      }
    };
  }
  xhr.onload = () => finish(readAnswer(xhr.status, xhr.responseText));
  xhr.onerror = () => finish({ ok: false, error: { code: "network", message: LOST } });
  xhr.ontimeout = xhr.onerror;
  xhr.onabort = () => {
    finished = true; // the caller cancelled it: nothing to report
  };
  const form = makeForm();
  form.append("file", file, file.name);
  xhr.send(form);
  return {
    abort: () => {
      if (!finished) {
        finished = true;
        xhr.abort();
      }
    },
  };
}

// The uploads of one composer (one room): start(upload, {progress, done})
// sends a file and returns {abort()}; onChange(upload|null) redraws. A file
// over *maxBytes* (the server's limit, when known) fails without being sent.
export class Uploads {
  constructor({ start, onChange = () => {}, maxBytes = null }) {
    this.start = start;
    this.maxBytes = maxBytes;
    this.onChange = onChange;
    this.list = [];
    this.next = 0;
  }

  get size() {
    return this.list.length;
  }

  // Whether any upload is still on its way.
  get busy() {
    return this.list.some((upload) => upload.state === UPLOADING);
  }

  // The stored uploads' attachments, in the order they were added.
  ready() {
    return this.list.filter((upload) => upload.state === DONE)
      .map((upload) => upload.attachment);
  }

  // Start uploading *file*; a file past MAX_ATTACHMENTS, or too large, fails
  // at once.
  add(file) {
    this.next += 1;
    const upload = {
      key: "upload-" + this.next,
      file: file,
      name: typeof file.name === "string" && file.name ? file.name : "file",
      size: typeof file.size === "number" ? file.size : 0,
      state: UPLOADING,
      loaded: 0,
      total: typeof file.size === "number" ? file.size : 0,
      attachment: null,
      error: null,
      request: null,
    };
    this.list.push(upload);
    const counted = this.list.filter((other) => other.state !== FAILED).length;
    if (counted > MAX_ATTACHMENTS) {
      upload.state = FAILED;
      upload.error = { code: "too_many", message: TOO_MANY };
      this.onChange(upload);
      return upload;
    }
    if (this.maxBytes !== null && upload.size > this.maxBytes) {
      upload.state = FAILED;
      upload.error = { code: "too_large", message: tooLarge(this.maxBytes) };
      this.onChange(upload);
      return upload;
    }
    upload.request = this.start(upload, {
      progress: (loaded, total) => {
        if (upload.state !== UPLOADING) {
          return;
        }
        upload.loaded = loaded;
        upload.total = total || upload.total;
        this.onChange(upload);
      },
      done: (answer) => this.finished(upload, answer),
    });
    this.onChange(upload);
    return upload;
  }

  finished(upload, answer) {
    if (upload.state !== UPLOADING || !this.list.includes(upload)) {
      return;
    }
    upload.request = null;
    if (answer && answer.ok) {
      upload.state = DONE;
      upload.attachment = answer.attachment;
      upload.loaded = upload.total;
    } else {
      upload.state = FAILED;
      upload.error = (answer && answer.error) || { code: "network", message: LOST };
    }
    this.onChange(upload);
  }

  get(key) {
    return this.list.find((upload) => upload.key === key) || null;
  }

  // Cancel an upload on its way, or remove a finished one; true if it was here.
  remove(upload) {
    const index = this.list.indexOf(upload);
    if (index === -1) {
      return false;
    }
    this.list.splice(index, 1);
    if (upload.state === UPLOADING && upload.request) {
      upload.request.abort();
    }
    upload.request = null;
    this.onChange(null);
    return true;
  }

  // The message took the stored ones: every chip goes (failed ones too).
  clear() {
    for (const upload of this.list) {
      if (upload.state === UPLOADING && upload.request) {
        upload.request.abort();
      }
    }
    this.list = [];
    this.onChange(null);
  }
}
