// Test doubles for the widget's DOM-free modules: timers that run when told,
// and a Socket.IO client socket that records what is emitted.

export class FakeTimers {
  constructor() {
    this.next = 0;
    this.pending = new Map(); // id -> {fn, ms}
    this.setTimeout = (fn, ms) => {
      this.next += 1;
      this.pending.set(this.next, { fn, ms });
      return this.next;
    };
    this.clearTimeout = (id) => {
      this.pending.delete(id);
    };
  }

  get count() {
    return this.pending.size;
  }

  // Run every timer set so far (not those they set in turn).
  runAll() {
    for (const [id, timer] of Array.from(this.pending)) {
      this.pending.delete(id);
      timer.fn();
    }
  }
}

export class FakeSocket {
  constructor() {
    this.handlers = new Map();
    this.ioHandlers = new Map();
    this.io = { on: (event, fn) => this.ioHandlers.set(event, fn) };
    this.connected = false;
    this.active = true;
    this.requests = []; // {event, payload, timeout, answer(err, ack)}
    this.emitted = []; // {event, payload}: emits without an answer
  }

  on(event, fn) {
    this.handlers.set(event, fn);
  }

  timeout(ms) {
    return {
      emit: (event, payload, answer) => {
        this.requests.push({ event, payload, timeout: ms, answer });
      },
    };
  }

  emit(event, payload) {
    this.emitted.push({ event, payload });
  }

  // What the server (or the client library) would do.
  fire(event, ...args) {
    this.handlers.get(event)(...args);
  }

  connect() {
    this.connected = true;
    this.fire("connect");
  }

  drop(reason = "transport close") {
    this.connected = false;
    this.fire("disconnect", reason);
  }

  last(event) {
    return this.requests.filter((request) => request.event === event).pop();
  }
}

// A stand-in for the page's document, for modules that build nodes in the
// document they are handed (markup.js, attachments.js): elements keep their
// tag, class, attributes, text and children, and read back as HTML.
export class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.localName = tag;
    this.className = "";
    this.attributes = {};
    this.childNodes = [];
    this.dataset = {};
    this.text = null;
  }

  set textContent(value) {
    this.childNodes = [];
    this.text = String(value);
  }

  get textContent() {
    return this.text !== null ? this.text
      : this.childNodes.map((child) => child.textContent).join("");
  }

  appendChild(child) {
    this.text = this.text === "" ? null : this.text;
    this.childNodes.push(child);
    return child;
  }

  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }

  getAttribute(name) {
    return name in this.attributes ? this.attributes[name] : null;
  }

  get children() {
    return this.childNodes.filter((child) => child instanceof FakeElement);
  }

  // Every element under this one (itself first) with this tag.
  all(tag) {
    const found = this.localName === tag ? [this] : [];
    for (const child of this.children) {
      found.push(...child.all(tag));
    }
    return found;
  }

  html() {
    const attrs = Object.keys(this.attributes).sort()
      .map((name) => ` ${name}="${this.attributes[name]}"`).join("");
    const cls = this.className ? ` class="${this.className}"` : "";
    const inner = this.text !== null ? this.text
      : this.childNodes.map((child) => (child instanceof FakeElement ? child.html()
        : child.textContent)).join("");
    return `<${this.localName}${cls}${attrs}>${inner}</${this.localName}>`;
  }
}

export const fakeDocument = {
  createElement: (tag) => new FakeElement(tag),
  createTextNode: (text) => ({ nodeType: 3, textContent: String(text) }),
};
