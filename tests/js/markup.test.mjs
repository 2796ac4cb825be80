import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_DEPTH, copyMarkup } from "../../flask_chatroom/static/chatroom/markup.js";

// A stand-in for what DOMParser gives (the parsed, inert tree) and for the
// page's document (what copyMarkup builds in), enough to read the result back.

function text(value) {
  return { nodeType: 3, nodeValue: value, get textContent() { return value; } };
}

function el(tag, attrs = {}, ...children) {
  return {
    nodeType: 1,
    localName: tag,
    childNodes: children.map((child) => (typeof child === "string" ? text(child) : child)),
    getAttribute: (name) => (name in attrs ? attrs[name] : null),
    get textContent() {
      return this.childNodes.map((child) => child.textContent).join("");
    },
  };
}

function comment(value) {
  return { nodeType: 8, nodeValue: value, textContent: value };
}

class Built {
  constructor(tag) {
    this.tag = tag;
    this.attrs = {};
    this.children = [];
    this.className = "";
  }

  appendChild(child) {
    this.children.push(child);
    return child;
  }

  setAttribute(name, value) {
    this.attrs[name] = String(value);
  }

  // A serialization for the assertions: <tag attr="v">…</tag>, text as is.
  html() {
    const attrs = Object.keys(this.attrs).sort()
      .map((name) => ` ${name}="${this.attrs[name]}"`).join("");
    const cls = this.className ? ` class="${this.className}"` : "";
    return `<${this.tag}${cls}${attrs}>` +
      this.children.map((child) => (child instanceof Built ? child.html() : child.text)).join("") +
      `</${this.tag}>`;
  }
}

const doc = {
  created: [],
  createElement(tag) {
    const node = new Built(tag);
    this.created.push(tag);
    return node;
  },
  createTextNode(value) {
    return { text: value };
  },
};

function render(source, textHook = null) {
  const target = new Built("div");
  copyMarkup(el("body", {}, ...source), target, doc, textHook);
  return target.html().slice("<div>".length, -"</div>".length);
}

const REL = 'rel="nofollow noopener noreferrer ugc" target="_blank"';

test("markup: the allowed elements are copied, fresh", () => {
  const html = render([
    el("p", {}, el("strong", {}, "bold"), " ", el("em", {}, "it"), " ", el("s", {}, "gone"),
      el("br"), el("code", {}, "x < y")),
    el("pre", {}, el("code", {}, "line 1\nline 2")),
    el("blockquote", {}, el("p", {}, "quoted")),
    el("ul", {}, el("li", {}, "one"), el("li", {}, "two")),
    el("ol", { start: "3" }, el("li", {}, "three")),
  ]);
  assert.equal(html,
    "<p><strong>bold</strong> <em>it</em> <s>gone</s><br></br><code>x < y</code></p>" +
    "<pre><code>line 1\nline 2</code></pre>" +
    "<blockquote><p>quoted</p></blockquote>" +
    "<ul><li>one</li><li>two</li></ul>" +
    '<ol start="3"><li>three</li></ol>');
});

test("markup: links keep an http(s) href only, with the widget's rel and target", () => {
  assert.equal(render([el("a", { href: "https://example.com/a?b=1", title: "t", onclick: "x()" },
    "site")]), `<a class="chatroom__link" href="https://example.com/a?b=1" ${REL}>site</a>`);
  assert.equal(render([el("a", { href: "HTTP://EXAMPLE.com" }, "up")]),
    `<a class="chatroom__link" href="http://example.com/" ${REL}>up</a>`);
});

test("markup: links to other schemes become their text", () => {
  const schemes = [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
    "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)", "DATA:text/html;base64,PHNjcmlwdD4=", "file:///etc/passwd",
    "mailto:someone@example.com", "/relative", "//evil.example/x", "", "https://",
  ];
  for (const href of schemes) {
    assert.equal(render([el("a", { href }, "click")]), "click", href);
  }
  assert.equal(render([el("a", {}, "no href")]), "no href");
});

test("markup: attributes other than ol's start and a's href never come across", () => {
  assert.equal(render([el("p", { style: "color:red", class: "x", onmouseover: "x()", id: "y" },
    "text")]), "<p>text</p>");
  assert.equal(render([el("ol", { start: "1e9" }, el("li", {}, "a"))]), "<ol><li>a</li></ol>");
  assert.equal(render([el("ol", { start: "-1" }, el("li", {}, "a"))]), "<ol><li>a</li></ol>");
  assert.equal(render([el("ol", { start: "007" }, el("li", {}, "a"))]), '<ol start="7"><li>a</li></ol>');
});

test("markup: other elements are unwrapped to their text; code-holding ones dropped", () => {
  assert.equal(render([el("div", {}, el("span", { onclick: "x()" }, "kept"), el("h1", {}, " too"))]),
    "kept too");
  for (const tag of ["script", "style", "template", "iframe", "object", "svg", "math",
                     "textarea", "title", "noscript", "img", "form", "button", "select"]) {
    assert.equal(render([el("p", {}, "a", el(tag, { src: "x", onerror: "y()" }, "alert(1)"), "b")]),
      "<p>ab</p>", tag);
  }
  assert.equal(render([comment("<script>alert(1)</script>"), "after"]), "after");
  assert.ok(!doc.created.some((tag) => !["p", "br", "strong", "em", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a"].includes(tag)), "only allowed elements were ever made");
});

test("markup: text stays text, whatever it holds", () => {
  assert.equal(render([el("code", {}, "<script>alert(1)</script>")]),
    "<code><script>alert(1)</script></code>", "(as a text node)");
  const target = new Built("div");
  copyMarkup(el("body", {}, el("code", {}, "<img src=x onerror=alert(1)>")), target, doc);
  assert.deepEqual(target.children[0].children, [{ text: "<img src=x onerror=alert(1)>" }]);
});

test("markup: the text hook sees text outside code and links only", () => {
  const seen = [];
  const hook = (parent, run) => {
    seen.push(run);
    parent.appendChild({ text: run.toUpperCase() });
  };
  const html = render([el("p", {}, "hi @ada ", el("code", {}, "@ada"), " ",
    el("a", { href: "https://x.example" }, "@ada"), el("em", {}, " em"))], hook);
  assert.deepEqual(seen, ["hi @ada ", " ", " em"]);
  assert.match(html, /^<p>HI @ADA <code>@ada<\/code> <a [^>]+>@ada<\/a><em> EM<\/em><\/p>$/);
});

test("markup: nesting deeper than MAX_DEPTH is cut to plain text", () => {
  let node = el("em", {}, "deep");
  for (let i = 0; i < MAX_DEPTH + 10; i++) {
    node = el(i % 2 ? "em" : "strong", {}, node);
  }
  const html = render([node]);
  assert.ok(html.includes("deep"));
  assert.ok((html.match(/<(em|strong)>/g) || []).length <= MAX_DEPTH);
});

test("markup: nothing in, nothing out", () => {
  assert.equal(render([]), "");
  const target = new Built("div");
  copyMarkup(null, target, doc);
  assert.equal(target.children.length, 0);
});
