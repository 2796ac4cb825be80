/* flask-chatroom: messages people can act on. Touches the DOM.
 *
 * MessageFeatures holds, for the widget (a Chat), each shown message's state
 * (text, formatting, edit time, deletion, reactions, the message it replies
 * to, its change_seq) and draws it: the text (the server's `html` copied
 * through markup.js, or plain text with links and @mentions), "(edited)", the
 * quote of the message replied to, the reactions and the message's toolbar.
 * It applies the rooms' changes exactly once (changes.js: one ChangeFeed per
 * room) and runs what the toolbar starts: edit in place, delete after an
 * inline confirmation, reply (the bar above the text box), react (the emoji
 * picker, the chips), and going to a quoted message (loading older history
 * when it is not shown yet). A message's files (attachments.js) are drawn
 * below its text, and go when it is deleted.
 * User text is only ever put in the page as text nodes, or as the elements
 * markup.js builds itself: never through innerHTML.
 */

import { Confirm, Editor, ReplyBar, drawQuote, drawToolbar } from "./actions.js";
import { drawAttachments, readAttachments } from "./attachments.js";
import { ChangeFeed, EarlyChanges, PERSONAL, applyChange, readReactions, refreshState,
         stateOf, withinWindow } from "./changes.js";
import { NO_ANSWER, describeError } from "./errors.js";
import { LINK_REL, linkify } from "./links.js";
import { copyMarkup } from "./markup.js";
import { splitMentions } from "./mentions.js";
import { EmojiPicker, drawReactions } from "./reactions.js";
import { excerpt, findOriginal, quoteOf } from "./replies.js";

export const DELETED_TEXT = "This message was removed.";
export const HIGHLIGHT_MS = 2000;

// Put *text* in *parent* as text nodes, with the "@Name" of the members in
// *names* as highlighted spans.
export function appendMentions(parent, text, names) {
  for (const piece of splitMentions(text, names)) {
    if (piece.mention === null) {
      parent.appendChild(document.createTextNode(piece.text));
      continue;
    }
    const span = document.createElement("span");
    span.className = "chatroom__mention";
    span.textContent = piece.text;
    parent.appendChild(span);
  }
}

// Put *text* in *parent* as text nodes, with its http(s) addresses as links
// (and, given *names*, the mentions of those members highlighted).
export function appendText(parent, text, names = []) {
  for (const piece of linkify(text)) {
    if (piece.href === null) {
      appendMentions(parent, piece.text, names);
      continue;
    }
    const link = document.createElement("a");
    link.className = "chatroom__link";
    link.href = piece.href;
    link.target = "_blank";
    link.rel = LINK_REL;
    link.textContent = piece.text;
    parent.appendChild(link);
  }
}

function parseInert(html) {
  // A document of its own, never rendered: no script runs, nothing loads.
  return new window.DOMParser().parseFromString(html, "text/html").body;
}

// A payload's attachments as the message draws them.
function filesOf(data) {
  return readAttachments(data.attachments, document.baseURI);
}

function fullTime(ts) {
  return new Date(ts).toLocaleString();
}

function mark(changes) {
  return Array.isArray(changes) ? changes.map((change) =>
    change && typeof change === "object" ? Object.assign({}, change, { [PERSONAL]: true })
      : change) : changes;
}

export class MessageFeatures {
  constructor(chat) {
    this.chat = chat;
    this.states = new WeakMap(); // message item -> its state
    this.feeds = new Map(); // room -> ChangeFeed
    this.early = new Map(); // room -> EarlyChanges: changes ahead of their message
    this.names = new Map(); // identity id -> name
    this.myId = null; // welcome.id
    this.editable = false; // the server takes "edit message" (welcome.edit_window)
    this.editWindow = null; // seconds, null: always
    this.emojis = []; // welcome.reactions
    this.editing = null; // {item, editor, returnTo}
    this.confirming = null; // {item, confirm, returnTo}
    this.picker = new EmojiPicker();
    this.jumping = false;
    this.highlighted = null;
    this.highlightTimer = null;
    this.replyBar = new ReplyBar(chat.form, chat.input, {
      element: chat.root.querySelector("[data-chatroom-reply]"),
      onCancel: () => this.cancelReply(true),
    });
    // A message's tools follow the edit window: checked when it is pointed at
    // or focused.
    chat.log.addEventListener("pointerover", (event) => this.refreshAt(event.target));
    chat.log.addEventListener("focusin", (event) => this.refreshAt(event.target));
  }

  // -- who is who ------------------------------------------------------------------

  // "welcome" {id, client, moderator, reactions, edit_window, …}.
  welcome(data) {
    if (typeof data.id === "string" && data.id) {
      this.myId = data.id;
      if (typeof data.client === "string") {
        this.names.set(data.id, data.client);
      }
    }
    this.editable = Object.prototype.hasOwnProperty.call(data, "edit_window");
    this.editWindow = typeof data.edit_window === "number" ? data.edit_window : null;
    this.emojis = Array.isArray(data.reactions)
      ? data.reactions.filter((emoji) => typeof emoji === "string" && emoji) : [];
    this.redrawAllTools();
  }

  learn(id, name) {
    if (id !== null && id !== undefined && typeof name === "string" && name) {
      this.names.set(String(id), name);
    }
  }

  nameOf(id) {
    if (id === this.myId && this.chat.identity.name) {
      return this.chat.identity.name + " (you)";
    }
    return this.names.get(id) || null;
  }

  // -- a message's state and drawing -------------------------------------------------

  // A new message item (drawn by the widget with its meta line and an empty
  // text element): its state and everything drawn from it. *personal*: the
  // data came in an answer made for this user.
  setup(item, data, personal = false) {
    const state = stateOf(data, this.myId, personal);
    state.quote = quoteOf(data.reply_to);
    state.files = filesOf(data);
    this.states.set(item, state);
    this.applyEarly(this.roomOf(data), data.id, state);
    if (data.user_id !== null && data.user_id !== undefined) {
      this.learn(data.user_id, data.client);
    }
    this.draw(item, state, true);
    return state;
  }

  stateOf(item) {
    return this.states.get(item) || null;
  }

  // This page's own message, confirmed by its ack {id, seq, ts} or by its
  // broadcast (a whole message).
  confirmed(item, data, personal = false) {
    const state = this.states.get(item);
    if (!state) {
      return;
    }
    if (typeof data.ts === "number") {
      state.ts = data.ts;
    }
    if (typeof data.message === "string") {
      const fresh = stateOf(data, this.myId, personal, state);
      const quote = quoteOf(data.reply_to) || state.quote;
      const files = Array.isArray(data.attachments) ? filesOf(data) : state.files;
      Object.assign(state, fresh, { ts: fresh.ts === null ? state.ts : fresh.ts, quote: quote,
                                    files: files });
      this.applyEarly(this.roomOf(data), data.id, state);
      this.draw(item, state, true);
    } else if (this.applyEarly(this.roomOf(data), data.id, state)) {
      this.draw(item, state, true);
    } else {
      this.drawTools(item);
    }
  }

  // The changes that came before this message did: applied now, by the same
  // per-message rule. True if any changed it.
  applyEarly(room, id, state) {
    const early = typeof id === "string" ? this.early.get(room) : null;
    let changed = false;
    if (early) {
      for (const change of early.take(id)) {
        changed = applyChange(state, change,
          { me: this.myId, personal: change[PERSONAL] === true }) || changed;
      }
    }
    return changed;
  }

  // The message was shown already and comes again (a history page, a
  // catch-up): a newer snapshot replaces what is shown.
  refresh(item, data, personal = false) {
    const state = this.states.get(item);
    if (!state || typeof data.message !== "string") {
      return;
    }
    if (refreshState(state, data, this.myId, personal)) {
      state.quote = quoteOf(data.reply_to) || state.quote;
      if (Array.isArray(data.attachments) || state.deleted) {
        state.files = filesOf(data);
      }
      this.draw(item, state, true);
    } else if (typeof data.html === "string" && !state.html && !state.deleted &&
               data.message === state.text) {
      // This page's own message, confirmed by its ack before its broadcast
      // brought the formatting.
      state.html = data.html;
      this.drawText(item, state);
    }
  }

  draw(item, state, text) {
    // A reader whose focus was in the message keeps it there when the control
    // they were on goes (the message deleted under them, say).
    const focused = item.contains(document.activeElement);
    if (text) {
      this.drawText(item, state);
      this.drawEdited(item, state);
      this.drawQuote(item, state);
      this.drawFiles(item, state);
    }
    this.drawReactions(item, state);
    this.drawTools(item);
    if (state.deleted) {
      item.dataset.deleted = "true";
      this.closeIn(item);
    } else {
      delete item.dataset.deleted;
    }
    if (focused && !item.contains(document.activeElement) && item.isConnected) {
      item.tabIndex = -1;
      item.focus({ preventScroll: true });
    }
  }

  drawText(item, state, shown = state) {
    const old = item.querySelector(".chatroom__text");
    const rich = !shown.deleted && typeof shown.html === "string" && shown.html !== "";
    const element = document.createElement(rich ? "div" : "p");
    element.className = "chatroom__text" + (rich ? " chatroom__text--rich" : "") +
      (shown.deleted ? " chatroom__text--deleted" : "");
    const names = this.chat.mentionNames();
    if (shown.deleted) {
      element.textContent = DELETED_TEXT;
    } else if (rich) {
      copyMarkup(parseInert(shown.html), element, document,
        (parent, run) => appendMentions(parent, run, names));
    } else {
      appendText(element, shown.text, names);
    }
    if (old) {
      element.hidden = old.hidden; // under an open editor
      item.replaceChild(element, old);
    } else {
      item.appendChild(element);
    }
  }

  // The message's files below its text (none once it is deleted); redrawn
  // only when they change, so that images do not load again.
  drawFiles(item, state) {
    const files = state.deleted || !state.files ? [] : state.files;
    const key = files.map((file) => file.id).join(" ");
    let box = item.querySelector(".chatroom__files");
    if (box && box.dataset.files === key) {
      return;
    }
    if (box) {
      box.parentNode.removeChild(box);
    }
    box = drawAttachments(document, files);
    if (!box) {
      return;
    }
    box.dataset.files = key;
    const after = item.querySelector(".chatroom__editor") || item.querySelector(".chatroom__text");
    item.insertBefore(box, after ? after.nextSibling : null);
  }

  drawEdited(item, state, editedTs = state.editedTs) {
    const meta = item.querySelector(".chatroom__meta");
    let marker = meta.querySelector(".chatroom__edited");
    if (editedTs === null || state.deleted) {
      if (marker) {
        meta.removeChild(marker);
      }
      return;
    }
    if (!marker) {
      marker = document.createElement("time");
      marker.className = "chatroom__edited";
      marker.textContent = "(edited)";
      const time = meta.querySelector("time");
      meta.insertBefore(marker, time ? time.nextSibling : null);
    }
    const when = new Date(editedTs);
    marker.dateTime = when.toISOString();
    marker.title = "Edited " + fullTime(editedTs);
  }

  drawQuote(item, state) {
    drawQuote(item, state.quote, {
      onJump: (id) => this.jumpTo(id),
      before: item.querySelector(".chatroom__text"),
    });
  }

  drawReactions(item, state) {
    drawReactions(item, state.deleted ? [] : state.reactions, {
      nameOf: (id) => this.nameOf(id),
      onToggle: (emoji, on, chip) => this.react(item, emoji, on, chip),
      after: item.querySelector(".chatroom__files") ||
        item.querySelector(".chatroom__editor") || item.querySelector(".chatroom__text"),
      enabled: Boolean(item.dataset.id),
    });
  }

  // What this user may do with the message now.
  allowed(item) {
    const state = this.states.get(item);
    const tools = new Set();
    if (!state || state.deleted || !item.dataset.id || this.chat.connection.state === "refused") {
      return tools;
    }
    tools.add("reply");
    if (this.emojis.length) {
      tools.add("react");
    }
    const own = item.classList.contains("chatroom__msg--own");
    const inWindow = own && this.editable && withinWindow(state.ts, this.editWindow);
    if ((this.chat.moderator && this.editable) || inWindow) {
      tools.add("edit");
    }
    if (this.chat.moderator || inWindow) {
      tools.add("delete");
    }
    return tools;
  }

  drawTools(item) {
    const author = item.querySelector(".chatroom__author");
    drawToolbar(item, this.allowed(item), {
      author: author ? author.textContent : "this user",
      own: item.classList.contains("chatroom__msg--own"),
      onTool: (name, button) => this.tool(name, item, button),
    });
  }

  redrawAllTools() {
    for (const item of this.chat.messages.stored()) {
      this.drawTools(item);
    }
  }

  refreshAt(target) {
    const item = target && target.closest ? target.closest(".chatroom__msg") : null;
    if (item && item.dataset.id && this.states.has(item)) {
      const bar = item.querySelector(".chatroom__tools");
      const shown = bar ? Array.from(bar.children).filter((tool) => !tool.hidden)
        .map((tool) => tool.dataset.tool).join(" ") : "";
      if (shown !== Array.from(this.allowed(item)).join(" ")) {
        this.drawTools(item);
      }
    }
  }

  tool(name, item, button) {
    if (!this.allowed(item).has(name)) {
      this.chat.showError(name === "edit" || name === "delete"
        ? "The time to change this message has passed." : "");
      this.drawTools(item);
      return;
    }
    if (name === "reply") {
      this.startReply(item);
    } else if (name === "react") {
      this.openPicker(item, button);
    } else if (name === "edit") {
      this.startEdit(item, button);
    } else if (name === "delete") {
      this.askDelete(item, button);
    }
  }

  // -- changes, exactly once -------------------------------------------------------------

  feedOf(room) {
    let feed = this.feeds.get(room);
    if (!feed) {
      feed = new ChangeFeed({
        apply: (change) => this.apply(room, change),
        fetch: (since, done) => {
          if (!this.chat.socket.connected) {
            return false;
          }
          this.chat.request("changes", { room: room, since: since }, (err, ack) => {
            if (!err && ack && Array.isArray(ack.changes)) {
              ack.changes = mark(ack.changes);
            }
            done(err, ack);
          });
          return true;
        },
      });
      this.feeds.set(room, feed);
    }
    return feed;
  }

  // The cursor to send as changes_since for *room*, or null.
  cursorOf(room) {
    const feed = room ? this.feeds.get(room) : null;
    return feed ? feed.cursor : null;
  }

  roomOf(data) {
    return typeof data.room === "string" && data.room ? data.room : this.chat.room;
  }

  // "message edited", "message deleted", "reactions": a change, live.
  receive(data, kind) {
    if (!data || typeof data !== "object" || typeof data.id !== "string") {
      return;
    }
    this.feedOf(this.roomOf(data)).receive(Object.assign({}, data, { kind: kind }));
  }

  // "history" {room, change_seq, changes?, changes_more?}, after its messages
  // are shown.
  history(data) {
    const feed = this.feedOf(this.roomOf(data));
    if (Array.isArray(data.changes)) {
      feed.catchUp(mark(data.changes), data.changes_more === true, data.change_seq);
    } else if (feed.cursor === null) {
      feed.reset(data.change_seq);
    } else if (typeof data.change_seq === "number" && data.change_seq > feed.cursor) {
      feed.fill(); // the server sent no changes: ask for them
    }
  }

  // The connection dropped: the next join catches up.
  pause() {
    for (const feed of this.feeds.values()) {
      feed.pause();
    }
  }

  logOf(room) {
    if (!room || !this.chat.room || room === this.chat.room) {
      return this.chat.messages;
    }
    const view = this.chat.views.get(room);
    return view ? view.messages : null;
  }

  // One change, in its room's order: to the message (when shown) and to the
  // quotes of it.
  apply(room, change) {
    const log = this.logOf(room);
    if (!log) {
      return;
    }
    const item = log.get(change.id);
    const state = item ? this.states.get(item) : null;
    if (!item) {
      // Its message may be on its way (posted on another server process).
      let early = this.early.get(room);
      if (!early) {
        early = new EarlyChanges();
        this.early.set(room, early);
      }
      early.keep(change, log.lastSeq);
    } else if (state && applyChange(state, change,
      { me: this.myId, personal: change[PERSONAL] === true })) {
      this.draw(item, state, change.kind !== "reactions");
    }
    if ((change.kind === "edit" || change.kind === "delete") && log === this.chat.messages) {
      this.followReplyBar(change);
    }
    if (change.kind === "edit" || change.kind === "delete") {
      for (const reply of log.stored()) {
        const replyState = this.states.get(reply);
        const quote = replyState ? replyState.quote : null;
        if (!quote || quote.id !== change.id) {
          continue;
        }
        if (change.kind === "delete") {
          quote.deleted = true;
          quote.excerpt = "";
        } else if (typeof change.message === "string" && !quote.deleted) {
          quote.excerpt = excerpt(change.message);
        }
        this.drawQuote(reply, replyState);
      }
    }
  }

  // -- edit ------------------------------------------------------------------------------

  startEdit(item, returnTo) {
    if (this.editing && this.editing.item === item) {
      this.editing.editor.input.focus();
      return;
    }
    this.cancelEdit(false);
    this.closeConfirm(false);
    const state = this.states.get(item);
    const text = item.querySelector(".chatroom__text");
    if (!state || !text) {
      return;
    }
    const session = { item: item, editor: null, returnTo: returnTo };
    const max = this.chat.input.maxLength;
    const author = item.querySelector(".chatroom__author");
    session.editor = new Editor(item, text, state.text, {
      label: item.classList.contains("chatroom__msg--own") ? "Edit your message"
        : "Edit the message from " + (author ? author.textContent : "this user"),
      maxLength: max > 0 ? max : null,
      onSave: (value) => this.saveEdit(session, value),
      onCancel: () => this.cancelEdit(true),
    });
    this.editing = session;
  }

  saveEdit(session, text) {
    const item = session.item;
    const state = this.states.get(item);
    if (this.editing !== session || !state || session.editor.isBusy) {
      return;
    }
    if (!text.trim()) {
      this.chat.showError("A message cannot be empty: delete it instead.");
      return;
    }
    if (text === state.text) {
      this.cancelEdit(true);
      return;
    }
    session.editor.busy(true);
    this.chat.request("edit message", { id: item.dataset.id, message: text }, (err, ack) => {
      if (this.editing !== session) {
        return;
      }
      session.editor.busy(false);
      if (err || !ack.ok) {
        this.chat.showError(err ? NO_ANSWER : describeError(ack.error));
        session.editor.input.focus();
        return;
      }
      this.chat.showError("");
      // Its "message edited" is on its way: the text as sent until then. (No
      // change_seq, or one the message already shows: nothing changed.)
      const seq = typeof ack.change_seq === "number" ? ack.change_seq : null;
      if (!state.deleted && seq !== null && state.changeSeq < seq) {
        const editedTs = typeof ack.edited_ts === "number" ? ack.edited_ts : Date.now();
        this.drawText(item, state, { text: text, html: null, deleted: false });
        this.drawEdited(item, state, editedTs);
      }
      this.cancelEdit(true);
    });
  }

  cancelEdit(refocus) {
    const session = this.editing;
    if (!session) {
      return;
    }
    this.editing = null;
    session.editor.close();
    if (refocus) {
      this.refocus(session);
    }
  }

  refocus(session) {
    const back = session.returnTo;
    if (back && back.isConnected && !back.hidden && back.offsetParent !== null) {
      back.focus();
    } else if (session.item.isConnected) {
      session.item.tabIndex = -1;
      session.item.focus();
    } else {
      this.chat.input.focus();
    }
  }

  // Up in the empty text box: edit this user's last message, if allowed.
  editLast() {
    const items = this.chat.messages.stored();
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i];
      if (item.classList.contains("chatroom__msg--own")) {
        if (!this.allowed(item).has("edit")) {
          return false;
        }
        this.startEdit(item, this.chat.input);
        return true;
      }
    }
    return false;
  }

  // -- delete -----------------------------------------------------------------------------

  askDelete(item, returnTo) {
    if (this.confirming && this.confirming.item === item) {
      this.confirming.confirm.no.focus();
      return;
    }
    this.closeConfirm(false);
    this.cancelEdit(false);
    const session = { item: item, confirm: null, returnTo: returnTo };
    session.confirm = new Confirm(item, {
      onConfirm: () => this.deleteNow(session),
      onCancel: () => this.closeConfirm(true),
    });
    this.confirming = session;
  }

  deleteNow(session) {
    if (this.confirming !== session || session.confirm.isBusy) {
      return;
    }
    session.confirm.busy(true);
    this.chat.request("delete message", { id: session.item.dataset.id }, (err, ack) => {
      if (this.confirming !== session) {
        return; // its "message deleted" came first (and kept the focus in it)
      }
      session.confirm.busy(false);
      if (err || !ack.ok) {
        this.chat.showError(err ? NO_ANSWER : describeError(ack.error));
        session.confirm.no.focus();
        return;
      }
      this.chat.showError("");
      this.closeConfirm(false);
      // Its "message deleted" replaces the text; the reader stays on it.
      session.item.tabIndex = -1;
      session.item.focus({ preventScroll: true });
    });
  }

  closeConfirm(refocus) {
    const session = this.confirming;
    if (!session) {
      return;
    }
    this.confirming = null;
    session.confirm.close();
    if (refocus) {
      this.refocus(session);
    }
  }

  // A deleted message (or one leaving the page) keeps no editor, question or picker.
  closeIn(item) {
    if (this.editing && this.editing.item === item) {
      this.cancelEdit(false);
    }
    if (this.confirming && this.confirming.item === item) {
      this.closeConfirm(false);
    }
    if (this.picker.open && item.contains(this.picker.element)) {
      this.picker.close(false);
    }
  }

  // The log is replaced (a window of older messages, or back to the latest):
  // nothing stays open in the messages that go.
  clearLog() {
    this.cancelEdit(false);
    this.closeConfirm(false);
    this.picker.close(false);
    window.clearTimeout(this.highlightTimer);
    this.highlighted = null;
  }

  // The reader goes to another room.
  leaveRoom() {
    this.cancelEdit(false);
    this.closeConfirm(false);
    this.picker.close(false);
    this.cancelReply(false);
  }

  // -- reply ------------------------------------------------------------------------------

  startReply(item) {
    const state = this.states.get(item);
    if (!state) {
      return;
    }
    const author = item.querySelector(".chatroom__author");
    this.replyBar.show({
      id: item.dataset.id,
      client: author ? author.textContent : "",
      excerpt: excerpt(state.text),
    });
    this.chat.input.focus();
  }

  get replying() {
    return this.replyBar.quote !== null;
  }

  cancelReply(refocus) {
    if (!this.replying) {
      return;
    }
    this.replyBar.hide();
    if (refocus) {
      this.chat.input.focus();
    }
  }

  // The message being replied to changed: the bar follows (or goes, with a
  // word, when the message was deleted).
  followReplyBar(change) {
    const quote = this.replyBar.quote;
    if (!quote || quote.id !== change.id) {
      return;
    }
    if (change.kind === "delete") {
      this.cancelReply(false);
      this.chat.showError("The message you were replying to was deleted.");
    } else if (typeof change.message === "string") {
      this.replyBar.show(Object.assign({}, quote, { excerpt: excerpt(change.message) }));
    }
  }

  // The quote of the reply being written, taken off the bar (sending it).
  takeReply() {
    const quote = this.replyBar.quote;
    if (quote) {
      this.replyBar.hide();
    }
    return quote;
  }

  // Go to quoted message *id*: loaded page by page when it is older than
  // those shown, then scrolled to and highlighted.
  jumpTo(id) {
    if (this.jumping) {
      return;
    }
    const chat = this.chat;
    const log = chat.messages;
    this.jumping = true;
    findOriginal(id, {
      has: (wanted) => log.has(wanted),
      hasOlder: () => log.hasOlder,
      loadOlder: (done) => chat.loadOlder(done),
    }, (result) => {
      this.jumping = false;
      if (chat.messages !== log) {
        return; // the reader went to another room meanwhile
      }
      if (result === "found") {
        chat.showError("");
        this.highlight(log.get(id));
      } else if (result === "too_far") {
        chat.showError("The original message is further back than a few pages; scroll up to find it.");
      } else if (result === "gone") {
        chat.showError("The original message is no longer in this room's history.");
      } else {
        chat.showError(NO_ANSWER);
      }
    });
  }

  highlight(item) {
    if (this.highlighted) {
      this.highlighted.classList.remove("chatroom__msg--highlight");
    }
    window.clearTimeout(this.highlightTimer);
    item.tabIndex = -1;
    item.classList.add("chatroom__msg--highlight");
    item.scrollIntoView({ block: "center" });
    item.focus({ preventScroll: true });
    this.highlighted = item;
    this.highlightTimer = window.setTimeout(() => {
      item.classList.remove("chatroom__msg--highlight");
      this.highlighted = null;
    }, HIGHLIGHT_MS);
  }

  // -- react ------------------------------------------------------------------------------

  openPicker(item, button) {
    if (this.picker.open && this.picker.opener === button) {
      this.picker.close(true);
      return;
    }
    const state = this.states.get(item);
    if (!state) {
      return;
    }
    const mine = new Set(state.reactions.filter((r) => r.me).map((r) => r.emoji));
    const anchor = item.querySelector(".chatroom__editor") || item.querySelector(".chatroom__text");
    this.picker.show(item, anchor, button, this.emojis, mine,
      (emoji, on) => this.react(item, emoji, on, null));
  }

  // "react" {id, emoji, on}: the acknowledgement has the message's reactions.
  react(item, emoji, on, chip) {
    const id = item.dataset.id;
    if (!id) {
      return;
    }
    if (chip) {
      chip.setAttribute("aria-busy", "true");
    }
    this.chat.request("react", { id: id, emoji: emoji, on: on }, (err, ack) => {
      if (chip) {
        chip.removeAttribute("aria-busy");
      }
      if (err || !ack.ok) {
        this.chat.showError(err ? NO_ANSWER : describeError(ack.error));
        return;
      }
      this.chat.showError("");
      const state = this.states.get(item);
      if (!state || state.deleted || !Array.isArray(ack.reactions)) {
        return;
      }
      const seq = typeof ack.change_seq === "number" ? ack.change_seq : null;
      const fresh = readReactions(ack.reactions, { me: this.myId, personal: true,
        held: state.reactions });
      if (seq !== null) {
        // A snapshot of the reactions only: the message's change_seq stays
        // (an edit before it may still be on its way), the reactions' moves.
        if (seq > Math.max(state.changeSeq, state.reactSeq || 0)) {
          state.reactions = fresh;
          state.reactSeq = seq;
        }
      } else {
        // Nothing changed on the server: only whether this user is in it.
        const mine = new Map(fresh.map((r) => [r.emoji, r.me]));
        for (const reaction of state.reactions) {
          if (mine.has(reaction.emoji)) {
            reaction.me = mine.get(reaction.emoji);
          }
        }
      }
      this.drawReactions(item, state);
    });
  }
}
