/* flask-chatroom: @mentions in the composer and in messages. No DOM.
 *
 *   mentionQuery(text, caret)   the "@Gra" the caret is at the end of, if any
 *   matchNames(names, query)    the room's members whose name fits it
 *   insertMention(...)          the text with "@Grace " in place of the query
 *   splitMentions(text, names)  a message's text cut into plain pieces and
 *                               "@Name" pieces of known members, so the widget
 *                               can draw each as text nodes
 */

export const MAX_SUGGESTIONS = 8;

// "@" at the start or after a space or an opening bracket, then letters.
const QUERY = /(^|[\s([{"'])@([\p{L}\p{N}_.'-]+)$/u;
const WORD_CHAR = /[\p{L}\p{N}_]/u;

// The mention being typed: {start (the index of "@"), query} when the text
// before *caret* ends with "@" and at least one letter, else null.
export function mentionQuery(text, caret) {
  if (typeof text !== "string") {
    return null;
  }
  const end = typeof caret === "number" ? caret : text.length;
  const match = QUERY.exec(text.slice(0, end));
  if (!match) {
    return null;
  }
  return { start: match.index + match[1].length, query: match[2] };
}

function fold(text) {
  return text.normalize("NFKC").toLocaleLowerCase();
}

// The names (distinct, in a stable order) that start with *query*, or have a
// word that does, case-insensitively: whole-name matches first.
export function matchNames(names, query, limit = MAX_SUGGESTIONS) {
  const wanted = fold(query || "");
  const starts = [];
  const words = [];
  const seen = new Set();
  for (const name of names) {
    if (typeof name !== "string" || !name || seen.has(name)) {
      continue;
    }
    seen.add(name);
    const folded = fold(name);
    if (folded.startsWith(wanted)) {
      starts.push(name);
    } else if (folded.split(/\s+/).some((word) => word.startsWith(wanted))) {
      words.push(name);
    }
  }
  const byName = (a, b) => fold(a).localeCompare(fold(b));
  return starts.sort(byName).concat(words.sort(byName)).slice(0, limit);
}

// Put "@name " where the query was: the new text and where the caret goes.
export function insertMention(text, start, caret, name) {
  const inserted = "@" + name + " ";
  const rest = text.slice(caret).replace(/^ /, "");
  return { text: text.slice(0, start) + inserted + rest, caret: start + inserted.length };
}

// Cut *text* into [{text, mention}] pieces: mention is the member's name for
// an "@Name" of one of *names* (the longest that fits, any case), else null.
export function splitMentions(text, names) {
  const known = Array.from(new Set((names || []).filter((name) =>
    typeof name === "string" && name))).sort((a, b) => b.length - a.length);
  const pieces = [];
  if (!known.length || typeof text !== "string" || !text.includes("@")) {
    return [{ text: String(text), mention: null }];
  }
  const folded = known.map(fold);
  let plain = "";
  let i = 0;
  while (i < text.length) {
    const at = text[i] === "@" && (i === 0 || !WORD_CHAR.test(text[i - 1]));
    let found = null;
    if (at) {
      for (let k = 0; k < known.length; k++) {
        const candidate = text.slice(i + 1, i + 1 + known[k].length);
        const after = text[i + 1 + known[k].length];
        if (fold(candidate) === folded[k] && (after === undefined || !WORD_CHAR.test(after))) {
          found = { name: known[k], text: "@" + candidate };
          break;
        }
      }
    }
    if (found) {
      if (plain) {
        pieces.push({ text: plain, mention: null });
        plain = "";
      }
      pieces.push({ text: found.text, mention: found.name });
      i += found.text.length;
    } else {
      plain += text[i];
      i += 1;
    }
  }
  if (plain) {
    pieces.push({ text: plain, mention: null });
  }
  return pieces;
}
