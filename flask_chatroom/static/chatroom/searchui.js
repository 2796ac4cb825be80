/* flask-chatroom: the full chat page's message search. Touches the DOM.
 *
 * SearchPanel runs the page's search form (role="search", data-chatroom-search):
 * Enter searches (the "search" event, search.js keeps the pages), the results
 * open in a panel under the header: each a button with the room, the sender,
 * the time and the text, the matched words in <mark> (built from text nodes);
 * "More results" asks for the next page. Escape closes the panel and gives the
 * focus back to the search box. A result's click hands it to the widget, which
 * shows the message in its room, with the messages around it.
 */

import { NO_ANSWER, describeError } from "./errors.js";
import { SearchSession, splitHighlights } from "./search.js";

function make(tag, className, text = null) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== null) {
    node.textContent = text;
  }
  return node;
}

// Put *text* in *parent* with the code-point ranges *highlights* in <mark>s.
export function appendHighlighted(parent, text, highlights) {
  for (const run of splitHighlights(text, highlights)) {
    if (run.mark) {
      parent.appendChild(make("mark", "chatroom__hit", run.text));
    } else {
      parent.appendChild(document.createTextNode(run.text));
    }
  }
}

export class SearchPanel {
  // *chat*: the widget; *form*: the search form; onOpen(result) shows a result.
  constructor(chat, form, { onOpen }) {
    this.chat = chat;
    this.form = form;
    this.onOpen = onOpen;
    this.input = form.querySelector("[data-chatroom-search-input]") ||
      form.querySelector("input");
    this.panel = chat.root.querySelector("[data-chatroom-search-results]");
    if (!this.panel) {
      this.panel = make("section", "chatroom__results");
      this.panel.setAttribute("data-chatroom-search-results", "");
      this.panel.hidden = true;
      const header = chat.root.querySelector(".chatroom__header");
      header.parentNode.insertBefore(this.panel, header.nextSibling);
    }
    if (!this.panel.id) {
      this.panel.id = (this.input.id || "chatroom-search") + "-results";
    }
    this.input.setAttribute("aria-controls", this.panel.id);
    this.build();
    this.session = new SearchSession({
      // A widget without the room list searches its own room only.
      request: (payload, done) => chat.request("search",
        chat.switcher ? payload : Object.assign({ room: chat.room }, payload), done),
      onChange: () => this.draw(),
    });
    this.bind();
  }

  build() {
    const panel = this.panel;
    panel.textContent = "";
    const head = make("div", "chatroom__results-head");
    const level = this.chat.root.classList.contains("chatroom--full") ? "h2" : "h3";
    this.title = make(level, "chatroom__results-title", "Search results");
    this.title.id = panel.id + "-title";
    this.title.tabIndex = -1;
    panel.setAttribute("aria-labelledby", this.title.id);
    this.status = make("p", "chatroom__results-status");
    this.status.setAttribute("role", "status");
    this.closeButton = make("button", "chatroom__small chatroom__results-close", "Close");
    this.closeButton.type = "button";
    this.closeButton.setAttribute("aria-label", "Close search results");
    head.appendChild(this.title);
    head.appendChild(this.closeButton);
    panel.appendChild(head);
    panel.appendChild(this.status);
    this.list = make("ol", "chatroom__results-list");
    this.list.setAttribute("aria-labelledby", this.title.id);
    panel.appendChild(this.list);
    this.moreButton = make("button", "chatroom__small chatroom__results-more", "More results");
    this.moreButton.type = "button";
    this.moreButton.hidden = true;
    panel.appendChild(this.moreButton);
  }

  bind() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!this.session.start(this.input.value)) {
        this.input.focus();
      }
    });
    this.closeButton.addEventListener("click", () => this.close(true));
    this.moreButton.addEventListener("click", () => this.session.more());
    const escape = (event) => {
      if (event.key === "Escape" && !this.panel.hidden) {
        event.preventDefault();
        event.stopPropagation();
        this.close(true);
      }
    };
    this.panel.addEventListener("keydown", escape);
    this.input.addEventListener("keydown", escape);
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-result]");
      if (!button) {
        return;
      }
      const result = this.session.results[Number(button.dataset.result)];
      if (result) {
        this.close(false);
        this.onOpen(result);
      }
    });
  }

  get open() {
    return !this.panel.hidden;
  }

  close(refocus) {
    this.panel.hidden = true;
    if (refocus) {
      this.input.focus();
    }
  }

  describe() {
    const session = this.session;
    const count = session.results.length;
    if (session.state === "loading") {
      return count ? "Loading more results…" : "Searching…";
    }
    if (session.state === "failed") {
      return session.error ? describeError(session.error) : NO_ANSWER;
    }
    if (!count) {
      return "No messages match “" + session.query + "”.";
    }
    return (count === 1 ? "1 message" : count + (session.next ? "+ messages" : " messages")) +
      " match “" + session.query + "”.";
  }

  draw() {
    const session = this.session;
    this.panel.hidden = false;
    this.status.textContent = this.describe();
    this.status.dataset.state = session.state;
    const shown = this.list.children.length;
    if (shown > session.results.length) {
      this.list.textContent = ""; // a new search
    }
    for (let i = this.list.children.length; i < session.results.length; i++) {
      this.list.appendChild(this.drawResult(session.results[i], i));
    }
    this.moreButton.hidden = !session.next;
    if (session.loading) {
      this.moreButton.setAttribute("aria-disabled", "true");
    } else {
      this.moreButton.removeAttribute("aria-disabled");
    }
  }

  drawResult(result, index) {
    const item = make("li", "chatroom__results-item");
    const button = make("button", "chatroom__result");
    button.type = "button";
    button.dataset.result = String(index);
    button.dataset.id = result.id;
    button.dataset.room = result.room;
    const meta = make("span", "chatroom__result-meta");
    meta.appendChild(make("span", "chatroom__result-room", this.chat.rooms.label(result.room)));
    meta.appendChild(make("span", "chatroom__result-author", result.client));
    if (result.ts !== null) {
      const time = make("time", "chatroom__result-time");
      const when = new Date(result.ts);
      time.dateTime = when.toISOString();
      time.textContent = when.toLocaleString(undefined, {
        month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      });
      meta.appendChild(time);
    }
    button.appendChild(meta);
    const text = make("span", "chatroom__result-text");
    if (result.text) {
      appendHighlighted(text, result.text, result.highlights);
    } else if (result.attachments) {
      text.textContent = result.attachments === 1 ? "(1 file)" : "(" + result.attachments + " files)";
    }
    button.appendChild(text);
    item.appendChild(button);
    return item;
  }
}
