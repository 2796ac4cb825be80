/* flask-chatroom: searching messages. No DOM.
 *
 *   toUtf16Ranges(text, ranges)  the server's highlight ranges (offsets in
 *                                Unicode code points) as JavaScript string
 *                                offsets (UTF-16 units), sorted and merged
 *   splitHighlights(text, ranges) the text as runs {text, mark}
 *   readResults(ack)             a "search" answer, checked
 *   contextRequest(room, seq)    the "history" page around a message
 *   SearchSession                one search and its "More results" pages;
 *                                answers to an older search are dropped
 */

// Results asked for at a time.
export const SEARCH_PAGE = 20;
// A message is shown with this many messages around it (a "history" page that
// ends CONTEXT_AFTER messages after it).
export const CONTEXT_PAGE = 50;
export const CONTEXT_AFTER = 25;
// Older pages loaded at most, before a result's message is shown in a window
// of its own (the log then says "Jump to latest").
export const JUMP_PAGES = 1;

// The UTF-16 offset of each code point offset of *text*: index i holds where
// code point i starts (the last entry is text.length).
function codePointStarts(text) {
  const starts = [];
  let unit = 0;
  for (const ch of text) {
    starts.push(unit);
    unit += ch.length;
  }
  starts.push(unit);
  return starts;
}

// [[start, end], ...] in code points -> sorted, merged [[start, end], ...] in
// UTF-16 units, clamped to the text; empty or malformed ranges are dropped.
export function toUtf16Ranges(text, ranges) {
  if (typeof text !== "string" || !Array.isArray(ranges)) {
    return [];
  }
  const starts = codePointStarts(text);
  const last = starts.length - 1; // the number of code points
  const clean = [];
  for (const range of ranges) {
    if (!Array.isArray(range) || range.length !== 2 ||
        !Number.isInteger(range[0]) || !Number.isInteger(range[1])) {
      continue;
    }
    const start = Math.max(0, Math.min(range[0], last));
    const end = Math.max(0, Math.min(range[1], last));
    if (end > start) {
      clean.push([starts[start], starts[end]]);
    }
  }
  clean.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged = [];
  for (const range of clean) {
    const previous = merged[merged.length - 1];
    if (previous && range[0] <= previous[1]) {
      previous[1] = Math.max(previous[1], range[1]);
    } else {
      merged.push(range.slice());
    }
  }
  return merged;
}

// *text* as runs [{text, mark}], the highlighted ones (code point *ranges*)
// with mark true.
export function splitHighlights(text, ranges) {
  if (typeof text !== "string" || !text) {
    return [];
  }
  const runs = [];
  let at = 0;
  for (const [start, end] of toUtf16Ranges(text, ranges)) {
    if (start > at) {
      runs.push({ text: text.slice(at, start), mark: false });
    }
    runs.push({ text: text.slice(start, end), mark: true });
    at = end;
  }
  if (at < text.length) {
    runs.push({ text: text.slice(at), mark: false });
  }
  return runs;
}

// A result as the widget uses it, or null: a message payload with a string
// id, room and text, and a numeric seq.
export function readResult(data) {
  if (!data || typeof data !== "object" || typeof data.id !== "string" || !data.id ||
      typeof data.room !== "string" || typeof data.message !== "string" ||
      typeof data.seq !== "number") {
    return null;
  }
  return {
    id: data.id,
    room: data.room,
    seq: data.seq,
    client: typeof data.client === "string" ? data.client : "",
    ts: typeof data.ts === "number" ? data.ts : null,
    text: data.message,
    highlights: Array.isArray(data.highlights) ? data.highlights : [],
    attachments: Array.isArray(data.attachments) ? data.attachments.length : 0,
    data: data,
  };
}

// {ok: true, results, next} or {ok: false, error} from a "search" answer.
export function readResults(ack) {
  if (!ack || ack.ok !== true || !Array.isArray(ack.results)) {
    return { ok: false, error: ack && ack.error ? ack.error : null };
  }
  const results = ack.results.map(readResult).filter(Boolean);
  const next = typeof ack.next === "string" && ack.next ? ack.next : null;
  return { ok: true, results: results, next: next };
}

// The "history" request for the page around message *seq* of *room*.
export function contextRequest(room, seq) {
  return { room: room, before: seq + CONTEXT_AFTER + 1, limit: CONTEXT_PAGE };
}

// One search at a time: request(payload, callback(err, ack)) asks the server;
// onChange(session) redraws. State: idle, loading, done, failed.
export class SearchSession {
  constructor({ request, onChange = () => {}, limit = SEARCH_PAGE }) {
    this.request = request;
    this.onChange = onChange;
    this.limit = limit;
    this.query = "";
    this.results = [];
    this.next = null;
    this.state = "idle";
    this.error = null;
    this.generation = 0; // answers to an older search or page are dropped
  }

  get loading() {
    return this.state === "loading";
  }

  // Search *query* (trimmed); false if there is nothing to search.
  start(query) {
    const text = typeof query === "string" ? query.trim() : "";
    if (!text) {
      return false;
    }
    this.query = text;
    this.results = [];
    this.next = null;
    this.ask(null);
    return true;
  }

  // The next page of the current search; false if there is none.
  more() {
    if (!this.next || this.loading) {
      return false;
    }
    this.ask(this.next);
    return true;
  }

  ask(before) {
    const generation = ++this.generation;
    const payload = { query: this.query, limit: this.limit };
    if (before) {
      payload.before = before;
    }
    this.state = "loading";
    this.error = null;
    this.onChange(this);
    this.request(payload, (err, ack) => {
      if (generation !== this.generation) {
        return;
      }
      const answer = err ? { ok: false, error: null } : readResults(ack);
      if (answer.ok) {
        const seen = new Set(this.results.map((result) => result.id));
        this.results = this.results.concat(answer.results.filter((r) => !seen.has(r.id)));
        this.next = answer.next;
        this.state = "done";
      } else {
        this.state = "failed";
        this.error = err ? null : answer.error;
        // What was found stays; "More results" can be tried again.
      }
      this.onChange(this);
    });
  }

  // Forget the search (the results were closed).
  close() {
    this.generation += 1;
    this.query = "";
    this.results = [];
    this.next = null;
    this.state = "idle";
    this.error = null;
  }
}
