/* flask-chatroom: a message's formatting (the server's `html`) drawn safely.
 *
 * The server renders a Markdown subset and cleans it; the page still never
 * hands that string to innerHTML. The widget parses it inert (DOMParser, where
 * no script runs and no image loads) and copyMarkup() walks the parsed tree,
 * building fresh nodes in the page for the allowed elements only:
 *   p br strong em s code pre blockquote ul ol li a
 * with no attribute but an <ol>'s start and an <a>'s href (http: or https:
 * only, re-checked here, with the widget's rel and target). Anything else is
 * unwrapped to its text, and the contents of elements that hold code or
 * foreign markup (script, style, template, svg, …) are dropped. Text goes
 * through *text* (the widget highlights @mentions in it), except inside code
 * and links.
 *
 * No globals: the caller hands in the document to build in, so Node tests run
 * it on a stand-in.
 */

import { LINK_REL, safeHref } from "./links.js";

export const ALLOWED = new Set([
  "p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
]);
// Their contents are never text to show.
export const DROPPED = new Set([
  "script", "style", "template", "noscript", "iframe", "frame", "frameset", "object",
  "embed", "svg", "math", "textarea", "title", "xmp", "noembed", "noframes", "plaintext",
  "select", "option", "head", "meta", "link", "base", "img", "video", "audio", "canvas",
  "form", "input", "button",
]);
// Deeper than this, the rest is copied as plain text.
export const MAX_DEPTH = 32;
export const MAX_START = 1000000;

const ELEMENT = 1;
const TEXT = 3;

function plainText(text, parent, doc) {
  parent.appendChild(doc.createTextNode(text));
}

// Copy the children of *source* (a parsed, inert node) into *target*, a node
// of *doc*. *text(parent, string)* puts a text run in place.
export function copyMarkup(source, target, doc, text = null) {
  copyChildren(source, target, doc, text || ((parent, run) => plainText(run, parent, doc)), 0);
  return target;
}

function copyChildren(source, target, doc, text, depth) {
  const children = source && source.childNodes ? Array.from(source.childNodes) : [];
  for (const child of children) {
    copyNode(child, target, doc, text, depth);
  }
}

function copyNode(node, target, doc, text, depth) {
  if (node.nodeType === TEXT) {
    if (node.nodeValue) {
      text(target, node.nodeValue);
    }
    return;
  }
  if (node.nodeType !== ELEMENT) {
    return; // comments, processing instructions
  }
  const tag = String(node.localName || node.nodeName || "").toLowerCase();
  if (DROPPED.has(tag)) {
    return;
  }
  if (depth >= MAX_DEPTH) {
    const rest = node.textContent || "";
    if (rest) {
      plainText(rest, target, doc);
    }
    return;
  }
  if (!ALLOWED.has(tag)) {
    copyChildren(node, target, doc, text, depth + 1); // unwrapped
    return;
  }
  if (tag === "a") {
    const href = safeHref(node.getAttribute ? node.getAttribute("href") || "" : "");
    if (!href) {
      copyChildren(node, target, doc, text, depth + 1);
      return;
    }
    const link = doc.createElement("a");
    link.className = "chatroom__link";
    link.setAttribute("href", href);
    link.setAttribute("rel", LINK_REL);
    link.setAttribute("target", "_blank");
    copyChildren(node, link, doc, (parent, run) => plainText(run, parent, doc), depth + 1);
    target.appendChild(link);
    return;
  }
  const element = doc.createElement(tag);
  if (tag === "ol" && node.getAttribute) {
    const start = node.getAttribute("start");
    if (start !== null && /^\d{1,7}$/.test(start) && Number(start) <= MAX_START) {
      element.setAttribute("start", String(Number(start)));
    }
  }
  const inner = tag === "code" || tag === "pre"
    ? (parent, run) => plainText(run, parent, doc) : text;
  copyChildren(node, element, doc, inner, depth + 1);
  target.appendChild(element);
}
