/* flask-chatroom: replies. No DOM.
 *
 *   excerpt(text)        what a quote shows of the message it answers: the
 *                        server's rule (first 120 characters, whitespace
 *                        collapsed, "…" when cut), for live edits and for
 *                        this page's own replies before the server has them
 *   quoteOf(reply_to)    a message's reply_to as the quote to draw
 *   findOriginal(...)    look for a quoted message, loading older history
 *                        page by page, up to a bounded number of pages
 */

export const EXCERPT_LENGTH = 120;
// Older pages loaded at most while looking for a quoted message.
export const MAX_JUMP_PAGES = 10;

export function excerpt(text, length = EXCERPT_LENGTH) {
  const flat = String(text).split(/\s+/u).filter(Boolean).join(" ");
  const chars = Array.from(flat);
  if (chars.length <= length) {
    return flat;
  }
  return chars.slice(0, length - 1).join("").trimEnd() + "…";
}

// {id, client, excerpt, deleted} from a reply_to field, or null.
export function quoteOf(replyTo) {
  if (!replyTo || typeof replyTo !== "object" || typeof replyTo.id !== "string" ||
      !replyTo.id) {
    return null;
  }
  return {
    id: replyTo.id,
    client: typeof replyTo.client === "string" ? replyTo.client : "",
    excerpt: typeof replyTo.excerpt === "string" ? replyTo.excerpt : "",
    deleted: replyTo.deleted === true,
  };
}

// Look for message *id*: has(id) says whether the log holds it; hasOlder()
// whether the server has older messages than those shown; loadOlder(done)
// loads one more page and calls done(ok). Calls back with "found", "gone"
// (the beginning of the room was reached), "too_far" (*maxPages* pages were
// loaded in vain) or "failed" (a page did not come).
export function findOriginal(id, { has, hasOlder, loadOlder, maxPages = MAX_JUMP_PAGES },
                             done) {
  let pages = 0;
  const step = () => {
    if (has(id)) {
      done("found", pages);
    } else if (!hasOlder()) {
      done("gone", pages);
    } else if (pages >= maxPages) {
      done("too_far", pages);
    } else {
      pages += 1;
      loadOlder((ok) => (ok ? step() : done("failed", pages)));
    }
  };
  step();
}
