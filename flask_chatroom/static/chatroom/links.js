/* flask-chatroom: finding web addresses in message text. No DOM.
 * Only what parses as an http: or https: URL becomes a link; the widget builds
 * the link with DOM calls and sets the text with textContent.
 */

export const LINK_REL = "nofollow noopener noreferrer ugc";

// An http(s) address runs until whitespace or a character that cannot be in
// one unescaped; trailing punctuation is trimmed off afterwards.
const URL_SOURCE = "\\bhttps?:\\/\\/[^\\s<>\"`\\u0000-\\u001f\\u007f]+";

function count(text, ch) {
  return text.split(ch).length - 1;
}

// Trailing punctuation ends a sentence rather than the address, and a closing
// bracket belongs to the address only when it closes one opened inside it.
export function trimUrl(url) {
  let end = url.length;
  while (end > 0) {
    const ch = url.charAt(end - 1);
    const open = ch === ")" ? "(" : ch === "]" ? "[" : null;
    const head = url.slice(0, end);
    if (".,;:!?'*".indexOf(ch) !== -1 || ch === "}" ||
        (open && count(head, open) < count(head, ch))) {
      end -= 1;
    } else {
      break;
    }
  }
  return url.slice(0, end);
}

// The address to link to, or null: only what parses as an http: or https: URL.
export function safeHref(text) {
  let url;
  try {
    url = new URL(text);
  } catch (e) {
    return null;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) {
    return null;
  }
  return url.href;
}

// *text* in pieces, in order: {text, href: null} for plain text and
// {text, href} for an address to link. No piece is empty.
export function linkify(text) {
  const pieces = [];
  const pattern = new RegExp(URL_SOURCE, "gi");
  let last = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    const raw = trimUrl(match[0]);
    const href = raw ? safeHref(raw) : null;
    if (!href) {
      continue; // stays text
    }
    if (match.index > last) {
      pieces.push({ text: text.slice(last, match.index), href: null });
    }
    pieces.push({ text: raw, href: href });
    last = match.index + raw.length;
    pattern.lastIndex = last;
  }
  if (last < text.length) {
    pieces.push({ text: text.slice(last), href: null });
  }
  return pieces;
}
