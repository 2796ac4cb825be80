/* flask-chatroom: the widget, everything that touches the page. A Chat connects
 * one element with a data-chatroom attribute (rendered by the chat_widget()
 * macro) to the chat's Socket.IO namespace, and draws what the DOM-free
 * modules decide: connection.js (the connection and the room), outbox.js (own
 * messages until the server has them), messagelog.js (the order of the log)
 * and people.js (who is here, who is typing); with the switcher (data-switcher),
 * rooms.js (the rooms, unread counts, read markers) and mentions.js (@names).
 * Files attached in the composer are files.js's (uploads.js sends them); the
 * full page's search is searchui.js's (search.js): a result is shown in its
 * room with the messages around it, loading older pages when they are near,
 * else showing that page alone with "Jump to latest" (the log is "detached").
 * What a reader can do with a message (edit, delete, reply, react) and the
 * rooms' changes to messages, applied exactly once, are messages.js's.
 * User text is only ever set with textContent: nothing a user sends becomes
 * HTML. Web addresses in messages become links built with DOM calls, and only
 * when they are http: or https: addresses (links.js); a message's formatting
 * (the server's html) is copied element by element (markup.js).
 */

import { Connection } from "./connection.js";
import { NO_ANSWER, describeError } from "./errors.js";
import { FileComposer } from "./files.js";
import { MessageLog } from "./messagelog.js";
import { MessageFeatures } from "./messages.js";
import { FAILED, Outbox, SENT } from "./outbox.js";
import { insertMention, matchNames, mentionQuery } from "./mentions.js";
import { Blocked, Me, Typers, TypingSignal, authorOf, personKey, readPresence } from "./people.js";
import { findOriginal } from "./replies.js";
import {
  JoinedRooms, ReadMarker, RoomList, RoomsRefresher, mentionsUser, tabTitle,
} from "./rooms.js";
import { JUMP_PAGES, contextRequest } from "./search.js";
import { SearchPanel } from "./searchui.js";

const STATES = {
  connecting: "Connecting…",
  online: "Online",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  refused: "Not connected",
};
const NEAR_BOTTOM_PX = 48;
const NEAR_TOP_PX = 48; // scrolled this close to the top, older messages load
const HISTORY_PAGE = 200; // messages asked for at a time when catching up
const OLDER_PAGE = 50; // older messages asked for at a time when scrolling up
// Below this width the online list folds away behind its button.
const NARROW_PX = 576;
// At this width and below, the room list is a drawer opened with its button.
const DRAWER_PX = 600;
const NOTIFY_KEY = "flask-chatroom:notifications";

function part(root, name) {
  return root.querySelector("[data-chatroom-" + name + "]");
}

function formatTime(ts) {
  const date = new Date(ts);
  return {
    iso: date.toISOString(),
    short: date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }),
    full: date.toLocaleString(),
  };
}

function setTime(time, ts) {
  const when = formatTime(ts);
  time.dateTime = when.iso;
  time.title = when.full;
  time.textContent = when.short;
}

function smallButton(label, className) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "chatroom__small " + className;
  button.textContent = label;
  return button;
}

// The host's picture when it is on this site (the chat page's policy allows
// only those), else the first letter of the name.
function renderAvatar(user) {
  let url = null;
  if (typeof user.avatar_url === "string" && user.avatar_url) {
    try {
      url = new URL(user.avatar_url, document.baseURI);
    } catch (e) {
      url = null;
    }
  }
  if (url && url.origin === window.location.origin &&
      (url.protocol === "http:" || url.protocol === "https:")) {
    const img = document.createElement("img");
    img.className = "chatroom__avatar";
    img.alt = "";
    img.src = url.href;
    return img;
  }
  const letter = document.createElement("span");
  letter.className = "chatroom__avatar";
  letter.setAttribute("aria-hidden", "true");
  letter.textContent = Array.from(user.name.trim())[0] || "?";
  return letter;
}

export class Chat {
  constructor(root) {
    this.root = root;
    this.room = root.dataset.room;
    this.log = part(root, "log");
    this.form = part(root, "form");
    this.input = part(root, "input");
    this.sendButton = part(root, "send");
    this.status = part(root, "status");
    this.errorLine = part(root, "error");
    this.me = part(root, "me");
    // Optional parts: a template without them just goes without.
    this.typingLine = part(root, "typing");
    this.people = part(root, "people");
    this.peopleList = part(root, "people-list");
    this.peopleToggle = part(root, "people-toggle");
    this.renameButton = part(root, "rename");
    this.renameForm = part(root, "rename-form");
    this.renameInput = part(root, "rename-input");
    this.renameCancel = part(root, "rename-cancel");
    this.mentionList = part(root, "mentions");
    this.roomName = part(root, "room-name");
    this.peopleTitle = this.people ? this.people.querySelector(".chatroom__people-title") : null;
    // The switcher: the room list, a drawer on narrow widgets.
    this.switcher = root.hasAttribute("data-switcher");
    this.roomsPanel = this.switcher ? part(root, "rooms") : null;
    this.roomsList = part(root, "rooms-list");
    this.dmsList = part(root, "dms-list");
    this.roomsToggle = part(root, "rooms-toggle");
    this.notifyButton = part(root, "notify");
    this.newRoomButton = part(root, "new-room");
    this.newRoomForm = part(root, "new-room-form");
    this.newRoomInput = part(root, "new-room-input");
    this.newRoomError = part(root, "new-room-error");
    this.newRoomPrivate = part(root, "new-room-private");
    this.newRoomCancel = part(root, "new-room-cancel");

    this.identity = new Me();
    this.blocked = new Blocked();
    this.moderator = false;
    this.nicknames = false;
    this.loadingOlder = false;
    this.peopleOpen = null; // null: the layout decides; true/false: the reader did
    this.narrow = false;
    this.unseen = 0;
    this.messages = new MessageLog();
    this.views = new Map(); // room -> what it showed when the reader left it
    this.baseTitle = document.title;
    this.roomsLoaded = false;
    this.roomsOpen = false;
    this.drawer = false;
    this.dividerSeq = null; // the read marker where the divider goes, or null
    this.mentionState = null; // the open suggestions: {start, caret, names, active}
    this.notified = new Set(); // ids of the messages a notification was shown for
    this.rooms = new RoomList({ onChange: () => this.showRooms() });
    this.joined = new JoinedRooms();
    // The counts of rooms the connection is not in come only with "rooms".
    this.roomsRefresher = new RoomsRefresher({ refresh: () => this.loadRooms() });
    this.readMarker = new ReadMarker({
      emit: (room, seq) => this.request("read", { room: room, seq: seq }, (err, ack) => {
        if (!err && ack.ok) {
          this.rooms.setCounts(ack);
        }
      }),
    });
    this.outbox = new Outbox({
      send: (entry, done) => {
        const payload = { message: entry.text, room: entry.room || this.room,
                          client_id: entry.clientId };
        if (entry.replyTo) {
          payload.reply_to = entry.replyTo;
        }
        if (entry.attachments && entry.attachments.length) {
          payload.attachments = entry.attachments.map((attachment) => attachment.id);
        }
        this.connection.request("message broadcast", payload, done);
      },
      canSend: () => this.connection.canSend(),
      onSent: (entry, data) => this.confirm(entry, data),
      onFailed: (entry, error) => {
        this.setSendState(entry);
        this.showError(describeError(error));
      },
    });
    this.typers = new Typers({ onChange: () => this.showTyping() });
    this.typing = new TypingSignal({ emit: (typing) => this.emitTyping(typing) });
    this.jump = this.makeJump();
    this.older = this.makeOlder();

    this.olderWaiters = []; // called back when the page of older messages is in
    this.features = null; // what readers can do with messages (after the parts exist)
    // A page of older messages shown alone (a search result in its context):
    // {top: its newest seq, liveSeq: the newest seq of the room seen}, or null.
    this.detached = null;
    this.latestLoading = false;
    this.latest = this.makeLatest();

    this.connection = new Connection({
      room: this.room,
      lastSeq: () => (this.detached ? this.detached.liveSeq : this.messages.lastSeq),
      changesSince: (room) => (this.features ? this.features.cursorOf(room) : null),
      onState: (state) => this.setState(state),
      onError: (text) => this.showError(text),
      onWelcome: (data) => this.welcome(data),
      onOnline: () => {
        this.joined.enter(this.room);
        this.outbox.pump();
      },
      onDisconnect: () => {
        this.joined.reset(); // the server took the connection out of every room
        this.typing.reset();
        this.clearTypers();
        this.features.pause();
      },
    });
    this.features = new MessageFeatures(this);
    this.files = new FileComposer(this);
    const searchForm = part(root, "search");
    this.search = searchForm ? new SearchPanel(this, searchForm, {
      onOpen: (result) => this.showMessage(result),
    }) : null;
    this.socket = window.io(root.dataset.namespace || "/", {
      path: root.dataset.socketioPath || "/socket.io/",
      forceNew: true,
      // Straight to WebSocket (the server's fast path); long-polling only if a
      // WebSocket cannot open (a proxy that blocks it).
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      // Sent with every (re)connection, so the server sends only what was missed.
      auth: (callback) => callback(this.connection.auth()),
    });
    this.connection.attach(this.socket);
    this.bindSocket();
    this.bindForm();
    this.bindPeople();
    this.bindRename();
    this.bindMentions();
    this.bindRooms();
  }

  // A "new messages" button under the log, shown when messages arrive while the
  // reader has scrolled up. It lives in a zero-height bar so that it floats over
  // the bottom of the log without moving anything.
  makeJump() {
    const bar = document.createElement("div");
    bar.className = "chatroom__jumpbar";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "chatroom__jump";
    button.setAttribute("data-chatroom-jump", "");
    button.hidden = true;
    bar.appendChild(button);
    this.log.parentNode.insertBefore(bar, this.log.nextSibling);
    button.addEventListener("click", () => {
      this.scrollToBottom();
      this.log.focus({ preventScroll: true });
    });
    this.log.addEventListener("scroll", () => {
      if (this.unseen && this.isNearBottom()) {
        this.setUnseen(0);
      }
      this.markSeen();
      if (this.log.scrollTop <= NEAR_TOP_PX) {
        this.loadOlder();
      }
    }, { passive: true });
    return button;
  }

  // "Loading older messages…", floating over the top of the log while a page
  // of older messages is on its way, so that it moves nothing.
  makeOlder() {
    const bar = document.createElement("div");
    bar.className = "chatroom__olderbar";
    const note = document.createElement("p");
    note.className = "chatroom__older";
    note.setAttribute("data-chatroom-older", "");
    note.setAttribute("role", "status");
    note.textContent = "Loading older messages…";
    note.hidden = true;
    bar.appendChild(note);
    this.log.parentNode.insertBefore(bar, this.log);
    return note;
  }

  // "Jump to latest": shown while the log shows an older page alone; it
  // brings back the room's latest messages.
  makeLatest() {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "chatroom__jump chatroom__latest";
    button.setAttribute("data-chatroom-latest", "");
    button.textContent = "Jump to latest ↓";
    button.hidden = true;
    this.jump.parentNode.appendChild(button);
    button.addEventListener("click", () => this.jumpToLatest((ok) => {
      if (ok) {
        this.log.focus({ preventScroll: true });
      }
    }));
    return button;
  }

  setUnseen(count) {
    this.unseen = count;
    this.jump.hidden = count === 0 || this.detached !== null;
    this.jump.textContent = count === 1 ? "1 new message ↓" : count + " new messages ↓";
  }

  scrollToBottom() {
    this.log.scrollTop = this.log.scrollHeight;
    this.setUnseen(0);
  }

  setState(state) {
    this.status.dataset.state = state;
    this.status.textContent = STATES[state];
    this.root.dataset.state = state;
    // Nothing can be sent once the server has refused us.
    const refused = state === "refused";
    this.input.disabled = refused;
    if (this.sendButton) {
      this.sendButton.disabled = refused;
    }
  }

  showError(text) {
    const stick = this.isNearBottom(); // the line takes room from the log
    this.errorLine.textContent = text;
    this.errorLine.hidden = !text;
    if (stick) {
      this.log.scrollTop = this.log.scrollHeight;
    }
  }

  request(event, payload, callback) {
    this.connection.request(event, payload, callback);
  }

  // -- the connection ------------------------------------------------------------

  bindSocket() {
    const socket = this.socket;
    socket.on("renamed", (data) => {
      // Another tab of this guest picked a new nickname.
      if (data && typeof data.client === "string") {
        this.setName(data.client);
      }
    });
    socket.on("history", (data) => this.receiveHistory(data));
    socket.on("message receive", (data) => this.receive(data));
    socket.on("message edited", (data) => this.features.receive(data, "edit"));
    socket.on("message deleted", (data) => this.features.receive(data, "delete"));
    socket.on("reactions", (data) => this.features.receive(data, "reactions"));
    socket.on("presence", (data) => this.receivePresence(data));
    socket.on("notice", (data) => this.receiveNotice(data));
    socket.on("typing", (data) => this.receiveTyping(data));
    if (this.switcher) {
      socket.on("dm", (data) => {
        if (data && typeof data.room === "string") {
          this.rooms.addDm(data.room, Array.isArray(data.members) ? data.members : []);
        }
      });
      socket.on("unread", (data) => this.rooms.setCounts(data));
      socket.on("notify", (data) => this.receiveNotify(data));
    }
  }

  // "welcome": who we are (the room it names is the connection's business).
  welcome(data) {
    if (typeof data.client === "string") {
      this.setName(data.client);
    }
    this.identity.setUserId(data.user_id);
    this.rooms.userId = this.identity.userId;
    if (this.switcher) {
      this.loadRooms();
      if (this.identity.userId !== null && !this.blocked.loaded) {
        this.loadBlocks();
      }
    }
    this.moderator = data.moderator === true;
    this.features.welcome(data);
    if (data.attachments === false) {
      this.files.setAllowed(false); // the server takes no files from this user
    }
    this.nicknames = data.nicknames === true;
    if (this.renameButton) {
      this.renameButton.hidden = !this.nicknames || !this.renameForm ||
        !this.renameForm.hidden;
    }
    if (!this.nicknames) {
      this.closeRename();
    }
  }

  setName(name) {
    this.identity.name = name;
    this.me.textContent = "You are " + name;
    this.markMe();
  }

  // -- sending -------------------------------------------------------------------

  bindForm() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (this.mentionKey(event) || this.composerKey(event)) {
        return;
      }
      // keyCode 229: a key that an input method (IME) is still composing with.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing &&
          event.keyCode !== 229) {
        event.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener("input", () => {
      this.typing.input(Boolean(this.input.value.trim()));
    });
    this.input.addEventListener("blur", () => {
      this.typing.stop();
    });
  }

  // Up in the empty text box edits this user's last message; Escape drops the
  // reply being written. True if the key was used.
  composerKey(event) {
    if (event.isComposing || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) {
      return false;
    }
    if (event.key === "ArrowUp" && this.input.value === "" && this.features.editLast()) {
      event.preventDefault();
      return true;
    }
    if (event.key === "Escape" && this.features.replying) {
      event.preventDefault();
      event.stopPropagation();
      this.features.cancelReply(true);
      return true;
    }
    return false;
  }

  // Show the message at once as "sending", then send it when the connection
  // allows (the outbox keeps its client_id through every retry).
  send() {
    const text = this.input.value;
    const hasFiles = this.files.current().size > 0;
    if (!text.trim() && !hasFiles) {
      return;
    }
    if (this.files.busy) {
      this.showError("Wait until the files are uploaded (or cancel them), then send.");
      return;
    }
    const attachments = this.files.ready();
    if (!text.trim() && !attachments.length) {
      this.showError("None of the files could be uploaded: remove them, or write a message.");
      return;
    }
    if (this.detached) {
      // Your message goes below the room's latest ones: back to them first.
      this.jumpToLatest((ok) => {
        if (ok) {
          this.send();
        }
      });
      return;
    }
    this.input.value = "";
    this.files.clear();
    this.typing.stop();
    this.showError("");
    const entry = this.outbox.add(text);
    entry.room = this.room;
    entry.log = this.messages;
    entry.attachments = attachments;
    const quote = this.features.takeReply();
    entry.replyTo = quote ? quote.id : null;
    entry.item = this.render({ client: this.identity.name || "You", message: text,
                               ts: Date.now(), reply_to: quote,
                               attachments: attachments }, true);
    this.setSendState(entry);
    this.messages.append(entry.item);
    this.log.appendChild(entry.item);
    this.scrollToBottom(); // your own message brings you to the bottom
    this.outbox.pump();
  }

  // The server has the message: from its ack {id, seq, ts}, or from its
  // "message receive" or history entry carrying this page's client_id.
  confirm(entry, data) {
    const stick = this.isNearBottom();
    const item = entry.item;
    this.setSendState(entry);
    if (typeof data.id === "string") {
      item.dataset.id = data.id;
    }
    if (typeof data.ts === "number") {
      setTime(item.querySelector("time"), data.ts);
    }
    if (typeof data.client === "string") {
      item.querySelector(".chatroom__author").textContent = data.client;
    }
    const messages = entry.log || this.messages; // its room may not be shown now
    const place = messages.settle(item, { seq: data.seq, id: data.id });
    if (place.moved && item.parentNode) {
      item.dataset.seq = String(data.seq);
      // Into its place among the others' messages.
      item.parentNode.insertBefore(item, place.before);
    }
    // The text as stored, its formatting, and what can be done with it now.
    this.features.confirmed(item, data, false);
    if (stick) {
      this.scrollToBottom();
    }
  }

  retry(entry) {
    if (!this.outbox.retry(entry)) {
      return;
    }
    this.setSendState(entry);
    this.showError("");
    this.outbox.pump();
  }

  discard(entry) {
    if (!this.outbox.discard(entry)) {
      return;
    }
    (entry.log || this.messages).remove(entry.item);
    if (entry.item.parentNode) {
      entry.item.parentNode.removeChild(entry.item);
    }
    this.showError("");
    this.input.focus();
  }

  // Show an own message's state: data-state "pending", "sent" or "failed", a
  // "Sending…" note, or "Not sent" with Retry and Discard buttons.
  setSendState(entry) {
    const stick = this.isNearBottom();
    this.drawSendState(entry);
    if (stick) {
      this.log.scrollTop = this.log.scrollHeight;
    }
  }

  drawSendState(entry) {
    const item = entry.item;
    const state = entry.state === SENT ? "sent" : entry.state === FAILED ? "failed" : "pending";
    item.dataset.state = state;
    let note = item.querySelector(".chatroom__sending");
    if (state === "pending" && !note) {
      note = document.createElement("span");
      note.className = "chatroom__sending";
      note.textContent = "Sending…";
      item.querySelector(".chatroom__meta").appendChild(note);
    } else if (state !== "pending" && note) {
      note.parentNode.removeChild(note);
    }
    let failure = item.querySelector(".chatroom__failure");
    if (failure) {
      failure.parentNode.removeChild(failure);
    }
    if (state !== "failed") {
      return;
    }
    const error = entry.error || {};
    failure = document.createElement("div");
    failure.className = "chatroom__failure";
    const reason = document.createElement("span");
    reason.className = "chatroom__failure-reason";
    reason.textContent = error.code === "rate_limited" ? "Slow down." : "Not sent.";
    const retry = smallButton("Retry", "chatroom__retry");
    retry.addEventListener("click", () => this.retry(entry));
    const discard = smallButton("Discard", "chatroom__discard");
    discard.addEventListener("click", () => this.discard(entry));
    failure.appendChild(reason);
    failure.appendChild(retry);
    failure.appendChild(discard);
    item.appendChild(failure);
    if (error.code === "rate_limited" && typeof error.retry_after === "number") {
      // The server will refuse it again until then.
      retry.disabled = true;
      window.setTimeout(() => {
        retry.disabled = false;
      }, Math.ceil(error.retry_after * 1000));
    }
  }

  // -- typing ----------------------------------------------------------------------

  emitTyping(typing) {
    if (!this.connection.canSend()) {
      return false;
    }
    // A refusal (rate limited, say) does not matter enough to show.
    this.request("typing", { room: this.room, typing: typing }, () => {});
    return true;
  }

  // "typing" {room, client, user_id, typing}: another user started or stopped.
  receiveTyping(data) {
    if (!data || typeof data.client !== "string" || !this.isThisRoom(data.room) ||
        this.identity.is(data.user_id, data.client)) {
      return;
    }
    this.typers.set(personKey(data.user_id, data.client), data.client, data.typing);
    this.showTyping();
  }

  clearTypers() {
    this.typers.clear();
    this.showTyping();
  }

  showTyping() {
    if (!this.typingLine) {
      return;
    }
    const text = this.typers.text();
    if (this.typingLine.textContent !== text) {
      this.typingLine.textContent = text;
    }
  }

  // -- who is here ------------------------------------------------------------------

  bindPeople() {
    if (!this.people) {
      return;
    }
    if (this.peopleToggle) {
      this.peopleToggle.addEventListener("click", () => {
        this.peopleOpen = !this.isPeopleOpen();
        this.layoutPeople();
      });
    }
    // Over the log, the list closes with Escape or a click elsewhere in the widget.
    const close = (focusToggle) => {
      this.peopleOpen = false;
      this.layoutPeople();
      if (focusToggle && this.peopleToggle) {
        this.peopleToggle.focus();
      }
    };
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.narrow && this.isPeopleOpen()) {
        close(true);
      }
    });
    this.root.addEventListener("click", (event) => {
      if (this.narrow && this.isPeopleOpen() && !this.people.contains(event.target) &&
          !(this.peopleToggle && this.peopleToggle.contains(event.target))) {
        close(false);
      }
    });
    // A narrow widget (a phone, or a narrow column of the host's page) folds
    // the list away behind its button; a wide one shows it beside the log.
    const measure = () => {
      const narrow = this.root.clientWidth < NARROW_PX;
      if (narrow !== this.narrow) {
        this.narrow = narrow;
        this.peopleOpen = null; // the reader's choice was for the other layout
      }
      this.layoutPeople();
    };
    if (typeof window.ResizeObserver === "function") {
      new window.ResizeObserver(measure).observe(this.root);
    } else {
      window.addEventListener("resize", measure);
    }
    this.narrow = this.root.clientWidth < NARROW_PX;
    this.layoutPeople();
  }

  isPeopleOpen() {
    return this.peopleOpen === null ? !this.narrow : this.peopleOpen;
  }

  layoutPeople() {
    const open = this.isPeopleOpen();
    this.root.dataset.layout = this.narrow ? "narrow" : "wide";
    this.people.hidden = !open;
    if (this.peopleToggle) {
      this.peopleToggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
  }

  // "presence" {room, users: [{id, name, user_id, avatar_url}], count}: who is in
  // the room, one entry per user.
  receivePresence(data) {
    if (!data || !Array.isArray(data.users)) {
      return;
    }
    for (const user of data.users) {
      if (user && typeof user.name === "string") {
        this.rooms.learnName(user.user_id, user.name);
        this.features.learn(user.id, user.name);
      }
    }
    if (this.switcher && typeof data.room === "string" && data.room !== this.room) {
      this.viewOf(data.room).presence = data; // shown when the reader goes there
      return;
    }
    if (!this.isThisRoom(data.room)) {
      return;
    }
    this.presence = data;
    const { users, count, complete } = readPresence(data);
    // Whoever is not here any more is not typing either (only knowable when
    // the list is complete).
    if (complete) {
      const here = new Set(users.map((user) => personKey(user.user_id, user.name)));
      if (this.typers.keepOnly(here)) {
        this.showTyping();
      }
    }
    if (this.peopleToggle) {
      this.peopleToggle.hidden = false;
      this.peopleToggle.textContent = count + " online";
    }
    if (!this.peopleList) {
      return;
    }
    this.peopleList.textContent = "";
    for (const user of users) {
      this.peopleList.appendChild(this.renderPerson(user));
    }
    this.markMe();
  }

  renderPerson(user) {
    const item = document.createElement("li");
    item.className = "chatroom__person";
    if (typeof user.id === "string") {
      item.dataset.id = user.id;
    }
    if (user.user_id !== null && user.user_id !== undefined) {
      item.dataset.userId = String(user.user_id);
    }
    item.appendChild(renderAvatar(user));
    const name = document.createElement("span");
    name.className = "chatroom__person-name";
    name.textContent = user.name;
    item.appendChild(name);
    // "Message": a direct conversation with another signed-in user, and
    // "Block" / "Unblock" them (no "Message" while they are blocked).
    if (this.switcher && this.identity.userId !== null && user.user_id !== null &&
        user.user_id !== undefined && !this.identity.is(user.user_id, user.name)) {
      const message = smallButton("Message", "chatroom__dm");
      message.setAttribute("aria-label", "Message " + user.name);
      message.addEventListener("click", () => this.openDm(user, message));
      item.appendChild(message);
      const block = smallButton("Block", "chatroom__block");
      block.setAttribute("data-chatroom-block", "");
      block.addEventListener("click", () => this.toggleBlock(user, block));
      item.appendChild(block);
      this.showBlocked(item, user.name);
    }
    return item;
  }

  // A person's "Message" and "Block" buttons as the blocked list says.
  showBlocked(item, name) {
    const block = item.querySelector("[data-chatroom-block]");
    if (!block) {
      return;
    }
    const blocked = this.blocked.has(item.dataset.userId);
    block.textContent = blocked ? "Unblock" : "Block";
    block.setAttribute("aria-label", (blocked ? "Unblock " : "Block ") + name);
    const message = item.querySelector(".chatroom__dm");
    if (message) {
      message.hidden = blocked;
    }
  }

  showAllBlocked() {
    if (!this.peopleList) {
      return;
    }
    for (const item of Array.from(this.peopleList.children)) {
      const name = item.querySelector(".chatroom__person-name");
      this.showBlocked(item, name ? name.textContent : "");
    }
  }

  // "blocks": the users this signed-in user blocks.
  loadBlocks() {
    this.request("blocks", null, (err, ack) => {
      if (!err && ack.ok && this.blocked.load(ack.blocked)) {
        this.showAllBlocked();
      }
    });
  }

  // "block" / "unblock" {user_id}; the acknowledgement has the whole list.
  toggleBlock(user, button) {
    // Not disabled while it is on its way: that would take the focus away.
    if (button.getAttribute("aria-busy") === "true") {
      return;
    }
    const event = this.blocked.has(user.user_id) ? "unblock" : "block";
    button.setAttribute("aria-busy", "true");
    this.request(event, { user_id: String(user.user_id) }, (err, ack) => {
      button.removeAttribute("aria-busy");
      if (err) {
        this.showError(NO_ANSWER);
        return;
      }
      if (!ack.ok) {
        this.showError(describeError(ack.error));
        return;
      }
      this.showError("");
      this.blocked.load(ack.blocked);
      this.showAllBlocked();
    });
  }

  // Mark this user's own entry in the list.
  markMe() {
    if (!this.peopleList) {
      return;
    }
    for (const item of Array.from(this.peopleList.children)) {
      const name = item.querySelector(".chatroom__person-name");
      const me = this.identity.is(item.dataset.userId, name ? name.textContent : null);
      item.classList.toggle("chatroom__person--me", me);
      let tag = item.querySelector(".chatroom__you-tag");
      if (me && !tag) {
        tag = document.createElement("span");
        tag.className = "chatroom__you-tag";
        tag.textContent = "(you)";
        item.appendChild(tag);
      } else if (!me && tag) {
        item.removeChild(tag);
      }
    }
  }

  // "notice" {room, kind: "join"|"leave", client, user_id, ts}: a muted line in
  // the log. Your own arrival is not news to you.
  receiveNotice(data) {
    if (!data || typeof data.client !== "string" || !this.isThisRoom(data.room) ||
        (data.kind !== "join" && data.kind !== "leave") ||
        this.identity.is(data.user_id, data.client)) {
      return;
    }
    const stick = this.isNearBottom();
    const item = document.createElement("div");
    item.className = "chatroom__notice";
    item.dataset.kind = data.kind;
    item.textContent = data.client + (data.kind === "join" ? " joined" : " left");
    if (typeof data.ts === "number") {
      item.title = formatTime(data.ts).full;
    }
    this.log.insertBefore(item, this.messages.insert(item));
    if (stick) {
      this.scrollToBottom();
    }
  }

  // -- nickname ----------------------------------------------------------------------

  bindRename() {
    if (!this.renameButton || !this.renameForm || !this.renameInput) {
      return;
    }
    this.renameButton.addEventListener("click", () => this.openRename());
    if (this.renameCancel) {
      this.renameCancel.addEventListener("click", () => this.closeRename(true));
    }
    this.renameForm.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        this.closeRename(true);
      }
    });
    this.renameForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.rename();
    });
  }

  openRename() {
    this.renameForm.hidden = false;
    this.renameButton.hidden = true;
    this.renameInput.value = this.identity.name || "";
    this.renameInput.focus();
    this.renameInput.select();
  }

  closeRename(focusButton) {
    if (!this.renameForm || !this.renameButton) {
      return;
    }
    this.renameForm.hidden = true;
    this.renameButton.hidden = !this.nicknames;
    if (focusButton && this.nicknames) {
      this.renameButton.focus();
    }
  }

  // "nickname" {name}: acked {ok: true, name} with the name as the server keeps it.
  rename() {
    const name = this.renameInput.value;
    if (!name.trim()) {
      this.showError("Type a name first.");
      return;
    }
    const fields = Array.from(this.renameForm.elements);
    for (const field of fields) {
      field.disabled = true;
    }
    this.request("nickname", { name: name }, (err, ack) => {
      for (const field of fields) {
        field.disabled = false;
      }
      if (!err && ack.ok && typeof ack.name === "string") {
        this.showError("");
        this.setName(ack.name);
        this.closeRename(true);
      } else {
        this.showError(err ? NO_ANSWER : describeError(ack.error));
        this.renameInput.focus();
      }
    });
  }

  // -- receiving -----------------------------------------------------------------

  isNearBottom() {
    const log = this.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight <= NEAR_BOTTOM_PX;
  }

  isThisRoom(room) {
    return !room || !this.room || room === this.room;
  }

  // "message receive": one new message.
  receive(data) {
    if (this.switcher && data && typeof data.room === "string") {
      this.rooms.receive(data.room, data);
    }
    if (data && typeof data.client === "string" && this.isThisRoom(data.room)) {
      // They sent it, so they stopped typing.
      if (this.typers.forget(personKey(data.user_id, data.client))) {
        this.showTyping();
      }
    }
    this.show([data], false);
    this.markSeen();
  }

  // "history" {room, messages, has_more, since}: the room's latest messages when
  // joining, or those missed while reconnecting.
  receiveHistory(data) {
    if (!data || !Array.isArray(data.messages) || !this.isThisRoom(data.room)) {
      return;
    }
    if (this.detached) {
      // Not shown: noted as the room's newest for "Jump to latest".
      this.show(data.messages, false);
      this.features.history(data);
      return;
    }
    this.show(data.messages, false);
    this.features.history(data); // the room's changes: its cursor, or a catch-up
    this.placeDivider();
    this.markSeen();
    if (data.since === null || data.since === undefined) {
      // The latest page: has_more says whether older messages exist.
      this.messages.hasOlder = !!data.has_more;
      if (this.log.scrollTop <= NEAR_TOP_PX) {
        this.loadOlder(); // the log does not fill up yet
      }
    } else if (data.has_more) {
      this.catchUp(); // more was missed than one catch-up holds
    }
  }

  // Ask for the messages after the newest shown, page by page, until none are left.
  catchUp() {
    const after = this.messages.lastSeq;
    if (!this.room || after === null || this.detached) {
      return;
    }
    this.request("history", { room: this.room, after: after, limit: HISTORY_PAGE },
      (err, ack) => {
        if (err || !ack.ok || !Array.isArray(ack.messages)) {
          return;
        }
        this.show(ack.messages, false, true);
        if (ack.has_more && this.messages.lastSeq !== after) {
          this.catchUp();
        }
      });
  }

  // The reader reached the top: put the page of messages before the first one
  // shown above it, and keep what the reader was looking at where it was.
  // done(ok), if given, is called once the page is in (or did not come).
  loadOlder(done = null) {
    if (done) {
      this.olderWaiters.push(done);
    }
    if (this.loadingOlder) {
      return;
    }
    const before = this.messages.firstSeq();
    if (!this.messages.hasOlder || !this.room || before === null || !this.socket.connected) {
      this.olderLoaded(false);
      return;
    }
    this.loadingOlder = true;
    this.older.hidden = false;
    const log = this.messages;
    this.request("history", { room: this.room, before: before, limit: OLDER_PAGE },
      (err, ack) => {
        this.loadingOlder = false;
        this.older.hidden = true;
        const ok = !err && ack.ok && Array.isArray(ack.messages);
        if (log !== this.messages) {
          this.olderLoaded(false); // the reader went to another room
          return;
        }
        const anchor = this.log.querySelector("[data-seq]");
        const top = anchor ? anchor.getBoundingClientRect().top : 0;
        if (ok) {
          this.messages.hasOlder = !!ack.has_more;
          for (const message of ack.messages) {
            this.add(message, true);
          }
        }
        if (anchor) {
          this.log.scrollTop += anchor.getBoundingClientRect().top - top;
        }
        this.olderLoaded(ok);
      });
  }

  olderLoaded(ok) {
    const waiters = this.olderWaiters;
    this.olderWaiters = [];
    for (const done of waiters) {
      done(ok);
    }
  }

  // -- a message in its context (a search result) ----------------------------------

  // Show message *result* ({id, room, seq}) with the messages around it: in
  // its room; scrolled to when shown, after loading older pages when it is
  // near, else in a page of its own (the log then offers "Jump to latest").
  // It is highlighted for a moment and gets the focus.
  showMessage(result) {
    if (result.room !== this.room) {
      if (!this.switcher) {
        this.showError("That message is in another room.");
        return;
      }
      this.switchRoom(result.room, false);
    }
    const log = this.messages;
    if (log.has(result.id)) {
      this.showError("");
      this.features.highlight(log.get(result.id));
      return;
    }
    const first = log.firstSeq();
    if (this.detached || first === null || result.seq > (log.lastSeq || 0)) {
      this.loadContext(result);
      return;
    }
    findOriginal(result.id, {
      has: (id) => log.has(id),
      hasOlder: () => log.hasOlder,
      loadOlder: (done) => this.loadOlder(done),
      maxPages: JUMP_PAGES,
    }, (found) => {
      if (this.messages !== log) {
        return; // the reader went elsewhere meanwhile
      }
      if (found === "found") {
        this.showError("");
        this.features.highlight(log.get(result.id));
      } else if (found === "failed") {
        this.showError(NO_ANSWER);
      } else {
        this.loadContext(result);
      }
    });
  }

  // The page around *result* ("history" before seq + 26), shown alone.
  loadContext(result) {
    const room = this.room;
    this.request("history", contextRequest(room, result.seq), (err, ack) => {
      if (this.room !== room) {
        return;
      }
      if (err || !ack.ok || !Array.isArray(ack.messages)) {
        this.showError(err ? NO_ANSWER : describeError(ack.error));
        return;
      }
      this.showWindow(ack.messages, !!ack.has_more);
      const item = this.messages.get(result.id);
      if (item) {
        this.showError("");
        this.features.highlight(item);
      } else {
        this.showError("That message is no longer in this room's history.");
      }
    });
  }

  // Replace the log with *messages* (a page of older ones): the room's live
  // messages are not shown until "Jump to latest".
  showWindow(messages, hasOlder) {
    const liveSeq = this.detached ? this.detached.liveSeq : this.messages.lastSeq;
    let top = null;
    for (const message of messages) {
      if (message && typeof message.seq === "number" && (top === null || message.seq > top)) {
        top = message.seq;
      }
    }
    this.features.clearLog();
    this.replaceLog(new MessageLog());
    // A page that reaches the newest message seen is the live log again.
    const live = top === null || (liveSeq !== null && top >= liveSeq);
    this.setDetached(live ? null : { top: top, liveSeq: liveSeq });
    for (const message of messages) {
      this.add(message, true);
    }
    this.messages.hasOlder = hasOlder;
    this.setUnseen(0);
  }

  // Back to the room's latest messages (a fresh page); done(ok) once shown.
  jumpToLatest(done = () => {}) {
    if (this.latestLoading) {
      return;
    }
    const room = this.room;
    this.latestLoading = true;
    this.latest.setAttribute("aria-busy", "true");
    this.request("history", { room: room, limit: OLDER_PAGE }, (err, ack) => {
      this.latestLoading = false;
      this.latest.removeAttribute("aria-busy");
      if (this.room !== room) {
        done(false);
        return;
      }
      if (err || !ack.ok || !Array.isArray(ack.messages)) {
        this.showError(err ? NO_ANSWER : describeError(ack.error));
        done(false);
        return;
      }
      const missed = this.detached ? this.detached.liveSeq : null;
      this.features.clearLog();
      this.replaceLog(new MessageLog());
      this.setDetached(null);
      for (const message of ack.messages) {
        this.add(message, true);
      }
      this.messages.hasOlder = !!ack.has_more;
      this.showError("");
      this.scrollToBottom();
      this.placeDivider();
      this.markSeen();
      if (missed !== null && (this.messages.lastSeq === null || missed > this.messages.lastSeq)) {
        this.catchUp(); // arrived while the page was on its way
      }
      done(true);
    });
  }

  setDetached(state) {
    this.detached = state;
    this.latest.hidden = state === null;
    this.root.dataset.detached = state === null ? "false" : "true";
    if (state !== null) {
      this.jump.hidden = true;
    }
  }

  // Empty the log for *log*; this page's own messages not yet confirmed stay
  // (at the end).
  replaceLog(log) {
    const old = this.messages;
    const own = this.outbox.entries.filter((entry) => entry.item && (entry.log || old) === old);
    this.removeDivider();
    this.log.textContent = "";
    this.messages = log;
    for (const entry of own) {
      entry.log = log;
      log.append(entry.item);
      this.log.appendChild(entry.item);
    }
  }

  // *personal*: the messages came in an answer made for this user.
  show(messages, stick, personal = false) {
    stick = stick || this.isNearBottom();
    let added = 0;
    for (const message of messages) {
      if (this.add(message, personal)) {
        added += 1;
      }
    }
    if (!added) {
      return;
    }
    this.trim(stick);
    if (stick) {
      this.scrollToBottom();
    } else {
      this.setUnseen(this.unseen + added);
    }
  }

  // Put one message in the log, in seq order; false if it is not for this log,
  // is already shown (a newer state of it is then drawn), or is one of this
  // page's own (which is then marked sent).
  add(data, personal = false) {
    if (!data || typeof data.message !== "string" || !this.isThisRoom(data.room)) {
      return false;
    }
    const seq = typeof data.seq === "number" ? data.seq : null;
    const id = typeof data.id === "string" ? data.id : null;
    if (this.detached && !(seq !== null && seq <= this.detached.top)) {
      // Newer than the page shown alone: not shown, but this page's own
      // messages are still confirmed.
      const own = this.outbox.find(data.client_id);
      if (own) {
        this.outbox.confirm(own, data);
      } else if (seq !== null && (this.detached.liveSeq === null || seq > this.detached.liveSeq)) {
        this.detached.liveSeq = seq;
      }
      return false;
    }
    if (!this.messages.admit(seq, id)) {
      this.features.refresh(this.messages.get(id), data, personal);
      return false;
    }
    const entry = this.outbox.find(data.client_id);
    if (entry) {
      this.outbox.confirm(entry, data);
      return false;
    }
    const item = this.render(data, this.identity.wrote(data), personal);
    this.log.insertBefore(item, this.messages.insert(item, { seq: seq, id: id }));
    return true;
  }

  // Keep at most MAX_MESSAGES in the log, removing the oldest in one batch; a
  // reader who scrolled up keeps their place.
  trim(stick) {
    const cut = this.messages.trim();
    if (!cut) {
      return;
    }
    const before = cut.kept.getBoundingClientRect().top;
    for (const item of cut.removed) {
      this.log.removeChild(item);
    }
    if (!stick) {
      this.log.scrollTop += cut.kept.getBoundingClientRect().top - before;
    }
  }

  render(data, own, personal = false) {
    const item = document.createElement("div");
    item.className = own ? "chatroom__msg chatroom__msg--own" : "chatroom__msg";
    if (!own && mentionsUser(data, this.identity.userId)) {
      item.classList.add("chatroom__msg--mention");
      item.dataset.mention = "true";
    }
    if (typeof data.id === "string") {
      item.dataset.id = data.id;
    }
    if (typeof data.seq === "number") {
      item.dataset.seq = String(data.seq);
    }
    const meta = document.createElement("div");
    meta.className = "chatroom__meta";
    const from = authorOf(data);
    const author = document.createElement("span");
    author.className = "chatroom__author";
    author.textContent = from.name;
    meta.appendChild(author);
    if (from.server) {
      // A message from the site itself, not from a user who picked its name.
      item.classList.add("chatroom__msg--system");
      item.dataset.system = "true";
      // Seen as a "server" badge, read out as the label's words.
      const badge = document.createElement("span");
      badge.className = "chatroom__badge chatroom__badge--server";
      badge.setAttribute("role", "img");
      badge.setAttribute("aria-label", from.label);
      badge.title = "A message from the server, not from a user";
      badge.textContent = "server";
      author.setAttribute("aria-hidden", "true");
      meta.insertBefore(badge, author.nextSibling);
    }
    const time = document.createElement("time");
    if (typeof data.ts === "number") {
      setTime(time, data.ts);
    }
    meta.appendChild(time);
    item.appendChild(meta);
    // The text (or its formatting), "(edited)", the quote of the message it
    // answers, its reactions and its tools.
    this.features.setup(item, data, personal);
    return item;
  }

  // -- the switcher: rooms, unread counts, read state ---------------------------------

  // "rooms": the rooms this user may see, with their unread counts.
  loadRooms() {
    this.request("rooms", null, (err, ack) => {
      if (err || !ack.ok || !Array.isArray(ack.rooms)) {
        return;
      }
      const first = !this.roomsLoaded;
      this.roomsLoaded = true;
      if (!this.rooms.has(this.room)) {
        this.rooms.upsert(this.room, {});
      }
      this.rooms.load(ack.rooms);
      if (first) {
        this.openDivider();
        this.placeDivider();
      }
      this.markSeen();
    });
  }

  // The page is back (shown, or its window focused): fresh counts.
  refreshRooms() {
    if (this.roomsLoaded && document.visibilityState === "visible" && this.socket.connected) {
      this.roomsRefresher.poke();
    }
  }

  viewOf(room) {
    let view = this.views.get(room);
    if (!view) {
      view = { messages: new MessageLog(), nodes: null, scrollTop: 0, stick: true,
               draft: "", presence: null };
      this.views.set(room, view);
    }
    return view;
  }

  // Draw the room list, the current room and the tab title.
  showRooms() {
    if (!this.switcher) {
      return;
    }
    const groups = this.rooms.groups();
    this.fillRoomList(this.roomsList, groups.rooms);
    this.fillRoomList(this.dmsList, groups.conversations);
    document.title = tabTitle(this.baseTitle, this.rooms.total());
  }

  fillRoomList(list, entries) {
    if (!list) {
      return;
    }
    const items = new Map();
    for (const item of Array.from(list.children)) {
      items.set(item.dataset.room, item);
    }
    const wanted = entries.map((entry) => entry.name);
    for (const [name, item] of items) {
      if (!wanted.includes(name)) {
        list.removeChild(item);
        items.delete(name);
      }
    }
    entries.forEach((entry, index) => {
      let item = items.get(entry.name);
      if (!item) {
        item = this.roomItem(entry.name);
      }
      if (list.children[index] !== item) {
        list.insertBefore(item, list.children[index] || null);
      }
      this.drawRoomItem(item, entry);
    });
    // An empty list says so, rather than showing nothing under its heading.
    list.dataset.empty = entries.length ? "false" : "true";
  }

  roomItem(name) {
    const item = document.createElement("li");
    item.className = "chatroom__rooms-item";
    item.dataset.room = name;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "chatroom__room-link";
    button.dataset.room = name;
    // The name, then the badges: the button's aria-label reads them out
    // after the name ("#lobby, 3 unread, 1 mention").
    for (const className of ["chatroom__room-label", "chatroom__count",
                             "chatroom__mention-badge"]) {
      const span = document.createElement("span");
      span.className = className;
      if (className !== "chatroom__room-label") {
        span.setAttribute("aria-hidden", "true");
      }
      button.appendChild(span);
    }
    button.addEventListener("click", () => this.switchRoom(name, true));
    item.appendChild(button);
    return item;
  }

  drawRoomItem(item, entry) {
    const button = item.firstChild;
    const [label, countBadge, mentionBadge] = Array.from(button.children);
    label.textContent = this.rooms.label(entry.name);
    countBadge.textContent = entry.unread ? String(entry.unread) : "";
    countBadge.hidden = !entry.unread;
    mentionBadge.textContent = entry.mentions ? "@" : "";
    mentionBadge.hidden = !entry.mentions;
    button.setAttribute("aria-label", this.rooms.describe(entry.name));
    button.dataset.unread = String(entry.unread);
    button.dataset.mentions = String(entry.mentions);
    if (entry.name === this.room) {
      button.setAttribute("aria-current", "true");
    } else {
      button.removeAttribute("aria-current");
    }
  }

  // Show *room*, keeping the one left as it was (its log, scroll position and
  // draft); join it (again) so that what was missed arrives.
  switchRoom(room, fromList) {
    if (this.drawer && fromList) {
      this.setRoomsOpen(false);
    }
    if (room === this.room) {
      if (fromList) {
        this.input.focus();
      }
      return;
    }
    this.closeMentions();
    this.features.leaveRoom();
    this.typing.stop();
    this.clearTypers();
    if (this.detached) {
      // The room is shown from its latest messages when the reader comes back.
      this.replaceLog(new MessageLog());
      this.setDetached(null);
    }
    const old = this.viewOf(this.room);
    old.messages = this.messages;
    old.draft = this.input.value;
    old.stick = this.isNearBottom();
    old.scrollTop = this.log.scrollTop;
    old.presence = this.presence || null;
    this.removeDivider();
    old.nodes = document.createDocumentFragment();
    while (this.log.firstChild) {
      old.nodes.appendChild(this.log.firstChild);
    }

    this.room = room;
    this.root.dataset.room = room;
    this.connection.room = room;
    this.connection.inRoom = false;
    if (!this.rooms.has(room)) {
      this.rooms.upsert(room, {});
    }
    const view = this.viewOf(room);
    this.messages = view.messages;
    if (view.nodes) {
      this.log.appendChild(view.nodes);
      view.nodes = null;
    }
    this.input.value = view.draft;
    this.files.showRoom();
    this.setUnseen(0);
    const label = this.rooms.label(room);
    if (this.roomName) {
      this.roomName.textContent = label;
    }
    this.log.setAttribute("aria-label", "Messages in " + label);
    if (this.peopleTitle) {
      this.peopleTitle.textContent = "Online in " + label;
    }
    this.presence = null;
    if (this.peopleList) {
      this.peopleList.textContent = "";
    }
    if (view.presence) {
      this.receivePresence(view.presence);
    }
    this.log.scrollTop = view.stick ? this.log.scrollHeight : view.scrollTop;
    this.openDivider();
    this.placeDivider();
    this.showRooms();
    if (fromList) {
      this.input.focus();
    }
    if (this.socket.connected) {
      this.connection.enterRoom();
      // Out of the rooms shown longest ago (their counts still come with "rooms").
      for (const gone of this.joined.enter(room)) {
        this.request("leave", { room: gone }, () => {});
      }
    }
  }

  // "dm" {user_id}: open (or find) the direct conversation with *user*.
  openDm(user, button) {
    button.disabled = true;
    this.request("dm", { user_id: String(user.user_id) }, (err, ack) => {
      button.disabled = false;
      if (err) {
        this.showError(NO_ANSWER);
        return;
      }
      if (!ack.ok || typeof ack.room !== "string") {
        this.showError(describeError(ack.error));
        return;
      }
      this.showError("");
      this.rooms.addDm(ack.room, [{ id: String(user.user_id), name: user.name }]);
      this.switchRoom(ack.room, true);
    });
  }

  // Opening a room with unread messages: the divider goes after the read marker.
  openDivider() {
    const entry = this.rooms.get(this.room);
    this.dividerSeq = entry && entry.unread > 0 ? this.rooms.readSeq(this.room) : null;
  }

  removeDivider() {
    const divider = this.log.querySelector("[data-chatroom-divider]");
    if (divider) {
      divider.parentNode.removeChild(divider);
    }
  }

  // Put "Unread messages" before the first message after the read marker.
  placeDivider() {
    if (this.dividerSeq === null || this.log.querySelector("[data-chatroom-divider]")) {
      return;
    }
    const after = this.dividerSeq;
    const first = Array.from(this.log.querySelectorAll(".chatroom__msg[data-seq]"))
      .find((item) => Number(item.dataset.seq) > after);
    if (!first) {
      return;
    }
    const divider = document.createElement("div");
    divider.className = "chatroom__divider";
    divider.setAttribute("data-chatroom-divider", "");
    divider.setAttribute("role", "separator");
    divider.textContent = "Unread messages";
    this.log.insertBefore(divider, first);
  }

  // The reader sees the bottom of the log: say so ("read"), at most once a second.
  markSeen() {
    if (!this.switcher || !this.roomsLoaded || document.visibilityState !== "visible" ||
        !this.isNearBottom() || !this.socket.connected || this.detached) {
      return;
    }
    const seq = this.messages.lastSeq;
    if (seq === null) {
      return;
    }
    this.rooms.markRead(this.room, seq);
    this.readMarker.seen(this.room, seq);
  }

  // "notify" {kind: "mention"|"dm", room, message}: a mention or a direct
  // message for this user, wherever they are.
  receiveNotify(data) {
    if (!data || typeof data.room !== "string" || !data.message) {
      return;
    }
    if (!this.rooms.has(data.room)) {
      if (data.kind === "dm") {
        // Named after its sender until the rooms list brings all its members.
        const from = data.message;
        this.rooms.addDm(data.room, from.user_id === null || from.user_id === undefined ? []
          : [{ id: String(from.user_id), name: typeof from.client === "string" ? from.client : null }]);
      } else {
        this.rooms.upsert(data.room, {});
      }
      this.loadRooms(); // its members and counts
    }
    const shown = data.room === this.room && document.visibilityState === "visible";
    if (!shown) {
      this.rooms.receive(data.room, data.message);
    }
    const id = typeof data.message.id === "string" ? data.message.id : null;
    if (document.visibilityState !== "visible" && this.notificationsOn() &&
        !(id && this.notified.has(id))) {
      if (id) {
        this.notified.add(id);
      }
      const from = typeof data.message.client === "string" ? data.message.client : "Someone";
      const title = data.kind === "dm" ? "Message from " + from
        : from + " mentioned you in " + this.rooms.label(data.room);
      const text = typeof data.message.message === "string" ? data.message.message : "";
      try {
        const note = new window.Notification(title, { body: text.slice(0, 200), tag: data.room });
        note.onclick = () => {
          window.focus();
          this.switchRoom(data.room, false);
          note.close();
        };
      } catch (e) {
        // A browser that only shows notifications from a service worker.
      }
    }
  }

  notificationsOn() {
    return typeof window.Notification === "function" &&
      window.Notification.permission === "granted" &&
      window.localStorage.getItem(NOTIFY_KEY) === "on";
  }

  showNotifyButton() {
    const button = this.notifyButton;
    if (!button) {
      return;
    }
    if (typeof window.Notification !== "function") {
      button.hidden = true;
      return;
    }
    button.hidden = false;
    const denied = window.Notification.permission === "denied";
    button.disabled = denied;
    button.textContent = denied ? "Notifications blocked"
      : this.notificationsOn() ? "Disable notifications" : "Enable notifications";
  }

  // Only a click asks the browser for permission; never on load.
  toggleNotifications() {
    if (this.notificationsOn()) {
      window.localStorage.setItem(NOTIFY_KEY, "off");
      this.showNotifyButton();
      return;
    }
    const enable = (permission) => {
      if (permission === "granted") {
        window.localStorage.setItem(NOTIFY_KEY, "on");
      }
      this.showNotifyButton();
      this.notifyButton.focus();
    };
    if (window.Notification.permission === "granted") {
      enable("granted");
    } else {
      Promise.resolve(window.Notification.requestPermission()).then(enable, () => enable(null));
    }
  }

  bindRooms() {
    if (!this.switcher || !this.roomsPanel) {
      return;
    }
    this.bindNewRoom();
    this.showNotifyButton();
    if (this.notifyButton) {
      this.notifyButton.addEventListener("click", () => this.toggleNotifications());
    }
    if (this.roomsToggle) {
      this.roomsToggle.addEventListener("click", () => this.setRoomsOpen(!this.roomsOpen));
    }
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.drawer && this.roomsOpen) {
        this.setRoomsOpen(false);
        if (this.roomsToggle) {
          this.roomsToggle.focus();
        }
      }
    });
    this.root.addEventListener("click", (event) => {
      if (this.drawer && this.roomsOpen && !this.roomsPanel.contains(event.target) &&
          !(this.roomsToggle && this.roomsToggle.contains(event.target))) {
        this.setRoomsOpen(false);
      }
    });
    document.addEventListener("visibilitychange", () => {
      this.markSeen();
      this.refreshRooms();
    });
    window.addEventListener("focus", () => this.refreshRooms());
    const measure = () => {
      const drawer = this.root.clientWidth <= DRAWER_PX;
      if (drawer !== this.drawer) {
        this.drawer = drawer;
        this.roomsOpen = false;
      }
      this.layoutRooms();
    };
    if (typeof window.ResizeObserver === "function") {
      new window.ResizeObserver(measure).observe(this.root);
    } else {
      window.addEventListener("resize", measure);
    }
    this.drawer = this.root.clientWidth <= DRAWER_PX;
    this.rooms.upsert(this.room, {});
    this.layoutRooms();
    this.showRooms();
  }

  // -- making a room ("create room") -------------------------------------------------

  bindNewRoom() {
    if (!this.newRoomButton || !this.newRoomForm || !this.newRoomInput) {
      return;
    }
    this.newRoomButton.addEventListener("click", () => {
      if (this.newRoomForm.hidden) {
        this.openNewRoom();
      } else {
        this.closeNewRoom(true);
      }
    });
    if (this.newRoomCancel) {
      this.newRoomCancel.addEventListener("click", () => this.closeNewRoom(true));
    }
    this.newRoomForm.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation(); // the form closes, not the drawer around it
        this.closeNewRoom(true);
      }
    });
    this.newRoomInput.addEventListener("input", () => this.showNewRoomError(""));
    this.newRoomForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.createRoom();
    });
  }

  openNewRoom() {
    this.newRoomForm.hidden = false;
    this.newRoomButton.setAttribute("aria-expanded", "true");
    this.newRoomInput.focus();
  }

  closeNewRoom(refocus) {
    if (!this.newRoomForm || this.newRoomForm.hidden) {
      return;
    }
    this.newRoomForm.hidden = true;
    this.newRoomButton.setAttribute("aria-expanded", "false");
    this.newRoomInput.value = "";
    if (this.newRoomPrivate) {
      this.newRoomPrivate.checked = false;
    }
    this.showNewRoomError("");
    if (refocus) {
      this.newRoomButton.focus();
    }
  }

  // The refusal beside the name field (role="alert"), or none.
  showNewRoomError(text) {
    if (this.newRoomError) {
      this.newRoomError.textContent = text;
      this.newRoomError.hidden = !text;
    }
    if (text) {
      this.newRoomInput.setAttribute("aria-invalid", "true");
    } else {
      this.newRoomInput.removeAttribute("aria-invalid");
    }
  }

  // "create room" {room, private}: on success the room joins the list and is shown.
  createRoom() {
    const name = this.newRoomInput.value.trim();
    if (!name) {
      this.showNewRoomError("Type a room name first.");
      this.newRoomInput.focus();
      return;
    }
    const priv = Boolean(this.newRoomPrivate && this.newRoomPrivate.checked);
    const submit = this.newRoomForm.querySelector("[type=submit]");
    if (submit) {
      submit.disabled = true;
    }
    this.request("create room", { room: name, private: priv }, (err, ack) => {
      if (submit) {
        submit.disabled = false;
      }
      if (err) {
        this.showNewRoomError(NO_ANSWER);
        this.newRoomInput.focus();
        return;
      }
      if (!ack.ok || typeof ack.room !== "string") {
        this.showNewRoomError(describeError(ack.error));
        this.newRoomInput.focus();
        return;
      }
      this.closeNewRoom(false);
      this.rooms.upsert(ack.room, { kind: priv ? "private" : "public" });
      this.switchRoom(ack.room, true);
    });
  }

  setRoomsOpen(open) {
    this.roomsOpen = open;
    this.layoutRooms();
    if (open && this.drawer) {
      const current = this.roomsPanel.querySelector("[aria-current]") ||
        this.roomsPanel.querySelector("button");
      if (current) {
        current.focus();
      }
    }
  }

  layoutRooms() {
    this.root.dataset.rooms = this.drawer ? "drawer" : "column";
    this.roomsPanel.hidden = this.drawer && !this.roomsOpen;
    if (this.roomsToggle) {
      this.roomsToggle.hidden = !this.drawer;
      this.roomsToggle.setAttribute("aria-expanded", this.drawer && this.roomsOpen ? "true" : "false");
    }
  }

  // -- @mentions in the composer -------------------------------------------------------

  // The names a message can mention here: who is in the room, and this user.
  mentionNames() {
    const names = [];
    if (this.presence && Array.isArray(this.presence.users)) {
      for (const user of this.presence.users) {
        if (user && typeof user.name === "string") {
          names.push(user.name);
        }
      }
    }
    if (this.identity.name) {
      names.push(this.identity.name);
    }
    return names;
  }

  bindMentions() {
    if (!this.mentionList) {
      return;
    }
    this.input.setAttribute("role", "combobox");
    this.input.setAttribute("aria-autocomplete", "list");
    this.input.setAttribute("aria-expanded", "false");
    this.input.setAttribute("aria-controls", this.mentionList.id);
    this.input.addEventListener("input", () => this.updateMentions());
    this.input.addEventListener("click", () => this.updateMentions());
    this.input.addEventListener("blur", () => this.closeMentions());
    // A click on a suggestion must not take the focus from the text box first.
    this.mentionList.addEventListener("mousedown", (event) => event.preventDefault());
    this.mentionList.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) {
        this.chooseMention(Number(option.dataset.index));
      }
    });
  }

  updateMentions() {
    const caret = this.input.selectionStart;
    const query = this.input.selectionEnd === caret ? mentionQuery(this.input.value, caret) : null;
    const others = this.mentionNames().filter((name) => name !== this.identity.name);
    const names = query ? matchNames(others, query.query) : [];
    if (!names.length) {
      this.closeMentions();
      return;
    }
    const previous = this.mentionState;
    const keep = previous && previous.names[previous.active];
    const active = Math.max(0, names.indexOf(keep));
    this.mentionState = { start: query.start, caret: caret, names: names, active: active };
    this.drawMentions();
  }

  drawMentions() {
    const state = this.mentionState;
    const list = this.mentionList;
    list.textContent = "";
    state.names.forEach((name, index) => {
      const option = document.createElement("li");
      option.className = "chatroom__mention-option";
      option.id = list.id + "-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", index === state.active ? "true" : "false");
      option.dataset.index = String(index);
      option.textContent = "@" + name;
      list.appendChild(option);
    });
    list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-activedescendant", list.id + "-" + state.active);
  }

  closeMentions() {
    this.mentionState = null;
    if (!this.mentionList) {
      return;
    }
    this.mentionList.hidden = true;
    this.mentionList.textContent = "";
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  chooseMention(index) {
    const state = this.mentionState;
    if (!state || !state.names[index]) {
      return;
    }
    const done = insertMention(this.input.value, state.start, state.caret, state.names[index]);
    this.input.value = done.text;
    this.input.setSelectionRange(done.caret, done.caret);
    this.closeMentions();
    this.input.focus();
  }

  // A key in the text box while suggestions are open; true if it was theirs.
  mentionKey(event) {
    const state = this.mentionState;
    if (!state || event.isComposing) {
      return false;
    }
    const count = state.names.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      state.active = (state.active + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
      this.drawMentions();
    } else if (event.key === "Enter" || event.key === "Tab") {
      this.chooseMention(state.active);
    } else if (event.key === "Escape") {
      this.closeMentions();
      event.stopPropagation(); // the text box's Escape, not a panel's
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }
}
