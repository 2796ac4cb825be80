/* flask-chatroom browser client. Plain JavaScript, no build step.
 *
 * Finds every element with a data-chatroom attribute (rendered by the
 * chat_widget() macro) and connects it to the chat's Socket.IO namespace.
 * User text is only ever set with textContent: nothing a user sends becomes HTML.
 * Web addresses in messages become links built with DOM calls, and only when
 * they are http: or https: addresses.
 * Runs under a strict Content-Security-Policy: no inline code, no eval, no
 * inline styles.
 */
(function () {
  "use strict";

  if (window.FlaskChatroom) {
    return; // the widget's assets were included twice on one page
  }

  var STATES = {
    connecting: "Connecting…",
    online: "Online",
    reconnecting: "Reconnecting…",
    offline: "Offline",
    refused: "Not connected",
  };
  var ACK_TIMEOUT_MS = 10000;
  // A host's own "connect" handler on a shared namespace means no welcome: the
  // widget then joins its room by itself, which registers the connection.
  var WELCOME_WAIT_MS = 3000;
  var NEAR_BOTTOM_PX = 48;
  var NEAR_TOP_PX = 48; // scrolled this close to the top, older messages load
  var MAX_MESSAGES = 500; // at most this many messages stay on the page;
  var TRIM_TO = 450; // past it, the oldest go down to this many at once
  var HISTORY_PAGE = 200; // messages asked for at a time when catching up
  var OLDER_PAGE = 50; // older messages asked for at a time when scrolling up
  // Typing: "true" at most this often while the user types (the server allows
  // 2 a second), "false" after this long without a key, and another user's
  // "typing" line goes after this long without news from them.
  var TYPING_EVERY_MS = 2000;
  var TYPING_IDLE_MS = 3000;
  var TYPING_EXPIRE_MS = 5000;
  // Below this width the online list folds away behind its button.
  var NARROW_PX = 576;
  var LINK_REL = "nofollow noopener noreferrer ugc";
  // An http(s) address runs until whitespace or a character that cannot be in
  // one unescaped; trailing punctuation is trimmed off afterwards.
  var URL_SOURCE = "\\bhttps?:\\/\\/[^\\s<>\"`\\u0000-\\u001f\\u007f]+";

  function part(root, name) {
    return root.querySelector("[data-chatroom-" + name + "]");
  }

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function formatTime(ts) {
    var date = new Date(ts);
    return {
      iso: date.toISOString(),
      short: date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }),
      full: date.toLocaleString(),
    };
  }

  function count(text, ch) {
    return text.split(ch).length - 1;
  }

  // Trailing punctuation ends a sentence rather than the address, and a closing
  // bracket belongs to the address only when it closes one opened inside it.
  function trimUrl(url) {
    var end = url.length;
    while (end > 0) {
      var ch = url.charAt(end - 1);
      var open = ch === ")" ? "(" : ch === "]" ? "[" : null;
      var head = url.slice(0, end);
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
  function safeHref(text) {
    var url;
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

  // Put *text* in *parent* as text nodes, with its http(s) addresses as links.
  function appendText(parent, text) {
    var pattern = new RegExp(URL_SOURCE, "gi");
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      var raw = trimUrl(match[0]);
      var href = raw ? safeHref(raw) : null;
      if (!href) {
        continue; // stays text
      }
      if (match.index > last) {
        parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      }
      var link = document.createElement("a");
      link.className = "chatroom__link";
      link.href = href;
      link.target = "_blank";
      link.rel = LINK_REL;
      link.textContent = raw;
      parent.appendChild(link);
      last = match.index + raw.length;
      pattern.lastIndex = last;
    }
    if (last < text.length) {
      parent.appendChild(document.createTextNode(text.slice(last)));
    }
  }

  function setText(element, text) {
    element.textContent = "";
    appendText(element, text);
  }

  // A person's key in the typing list: the host's id, or the name for a guest.
  function personKey(userId, name) {
    return userId === null || userId === undefined ? "guest name:" + name : "user:" + userId;
  }

  // The sentence for a refusal ({code, message, retry_after}).
  function describeError(error) {
    if (!error || typeof error.message !== "string") {
      return "The chat refused that.";
    }
    var wait = typeof error.retry_after === "number" ? error.retry_after : null;
    if (error.code === "muted" && wait !== null) {
      var minutes = Math.max(1, Math.ceil(wait / 60));
      return error.message + " You can write again in " +
        (minutes === 1 ? "1 minute." : minutes + " minutes.");
    }
    if (error.code === "rate_limited" && wait !== null && wait >= 1) {
      return error.message + " (" + Math.ceil(wait) + " s)";
    }
    return error.message;
  }

  var NO_ANSWER = "The chat did not answer; check your connection.";

  function Chat(root) {
    var self = this;
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

    this.userId = null; // the host's id of a signed-in user, from "welcome"
    this.myName = null; // the name others see, from "welcome" and "nickname"
    this.moderator = false;
    this.nicknames = false;
    this.welcomed = false;
    this.welcomeTimer = null;
    this.welcomeRoom = null; // the room the server put the connection in
    this.joining = false;
    this.inRoom = false; // whether the connection is in this widget's room
    this.lastSeq = null; // the newest seq shown: where a reconnection catches up
    this.byId = new Map(); // message id -> its <li>, so nothing shows twice
    // This page's messages the server has not confirmed, oldest first; each is
    // {clientId, text, item, state: "queued"|"sending"|"failed", attempt}.
    this.outbox = [];
    this.sending = null; // the outbox entry on its way (one at a time, in order)
    this.inflight = 0; // requests waiting for their acknowledgement
    this.hasOlder = false; // the server has messages older than the first shown
    this.loadingOlder = false;
    this.typers = new Map(); // personKey -> {name, timer}: who is typing
    this.typingSentAt = null; // when "typing: true" last went out
    this.idleTimer = null;
    this.peopleOpen = null; // null: the layout decides; true/false: the reader did
    this.narrow = false;
    this.unseen = 0;
    this.jump = this.makeJump();
    this.older = this.makeOlder();

    this.socket = window.io(root.dataset.namespace || "/", {
      path: root.dataset.socketioPath || "/socket.io/",
      forceNew: true,
      // Straight to WebSocket (the server's fast path); long-polling only if a
      // WebSocket cannot open (a proxy that blocks it).
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      // Sent with every (re)connection, so the server sends only what was missed.
      auth: function (callback) {
        callback(self.authData());
      },
    });
    this.bindSocket();
    this.bindForm();
    this.bindPeople();
    this.bindRename();
    this.setState("connecting");
  }

  Chat.prototype.authData = function () {
    var since = {};
    if (this.room && this.lastSeq !== null) {
      since[this.room] = this.lastSeq;
    }
    return { since: since };
  };

  // A "new messages" button under the log, shown when messages arrive while the
  // reader has scrolled up. It lives in a zero-height bar so that it floats over
  // the bottom of the log without moving anything.
  Chat.prototype.makeJump = function () {
    var self = this;
    var bar = document.createElement("div");
    bar.className = "chatroom__jumpbar";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "chatroom__jump";
    button.setAttribute("data-chatroom-jump", "");
    button.hidden = true;
    bar.appendChild(button);
    this.log.parentNode.insertBefore(bar, this.log.nextSibling);
    button.addEventListener("click", function () {
      self.scrollToBottom();
      self.log.focus({ preventScroll: true });
    });
    this.log.addEventListener("scroll", function () {
      if (self.unseen && self.isNearBottom()) {
        self.setUnseen(0);
      }
      if (self.log.scrollTop <= NEAR_TOP_PX) {
        self.loadOlder();
      }
    }, { passive: true });
    return button;
  };

  // "Loading older messages…", floating over the top of the log while a page
  // of older messages is on its way, so that it moves nothing.
  Chat.prototype.makeOlder = function () {
    var bar = document.createElement("div");
    bar.className = "chatroom__olderbar";
    var note = document.createElement("p");
    note.className = "chatroom__older";
    note.setAttribute("data-chatroom-older", "");
    note.setAttribute("role", "status");
    note.textContent = "Loading older messages…";
    note.hidden = true;
    bar.appendChild(note);
    this.log.parentNode.insertBefore(bar, this.log);
    return note;
  };

  Chat.prototype.setUnseen = function (count) {
    this.unseen = count;
    this.jump.hidden = count === 0;
    this.jump.textContent = count === 1 ? "1 new message ↓" : count + " new messages ↓";
  };

  Chat.prototype.scrollToBottom = function () {
    this.log.scrollTop = this.log.scrollHeight;
    this.setUnseen(0);
  };

  Chat.prototype.setState = function (state) {
    this.status.dataset.state = state;
    this.status.textContent = STATES[state];
    this.root.dataset.state = state;
    // Nothing can be sent once the server has refused us.
    var refused = state === "refused";
    this.input.disabled = refused;
    if (this.sendButton) {
      this.sendButton.disabled = refused;
    }
  };

  Chat.prototype.showError = function (text) {
    var stick = this.isNearBottom(); // the line takes room from the log
    this.errorLine.textContent = text;
    this.errorLine.hidden = !text;
    if (stick) {
      this.log.scrollTop = this.log.scrollHeight;
    }
  };

  // Emit a request and call back with (err, ack). While any is waiting, a
  // "chat error" event is left to the callback, which knows what was asked.
  Chat.prototype.request = function (event, payload, callback) {
    var self = this;
    this.inflight += 1;
    this.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, function (err, ack) {
      self.inflight -= 1;
      callback(err, ack || {});
    });
  };

  Chat.prototype.canSend = function () {
    return this.socket.connected && this.inRoom;
  };

  // -- the connection ------------------------------------------------------------

  Chat.prototype.bindSocket = function () {
    var self = this;
    var socket = this.socket;
    socket.on("connect", function () {
      self.showError("");
      self.welcomed = false;
      window.clearTimeout(self.welcomeTimer);
      self.welcomeTimer = window.setTimeout(function () {
        if (socket.connected && !self.welcomed && !self.joining && !self.inRoom) {
          self.enterRoom();
        }
      }, WELCOME_WAIT_MS);
    });
    socket.on("disconnect", function (reason) {
      window.clearTimeout(self.welcomeTimer);
      self.inRoom = false;
      self.joining = false;
      self.welcomeRoom = null;
      self.typingSentAt = null;
      self.clearTypers();
      if (reason === "io server disconnect" || reason === "io client disconnect") {
        self.setState("offline");
      } else {
        self.setState("reconnecting");
      }
    });
    socket.io.on("reconnect_attempt", function () {
      self.setState("reconnecting");
    });
    socket.on("connect_error", function (err) {
      if (socket.active) {
        self.setState("reconnecting");
      } else {
        // The server refused the connection; it will not be retried. The
        // reason is {"message", "data"}; a chat refusal has data {"code", "message"}.
        var data = err && err.data;
        var reason = data && typeof data.message === "string" ? data.message
          : err && typeof err.message === "string" ? err.message : "";
        self.setState("refused");
        self.showError(reason);
      }
    });
    socket.on("renamed", function (data) {
      // Another tab of this guest picked a new nickname.
      if (data && typeof data.client === "string") {
        self.setName(data.client);
      }
    });
    socket.on("welcome", function (data) {
      self.welcome(data || {});
    });
    socket.on("history", function (data) {
      self.receiveHistory(data);
    });
    socket.on("message receive", function (data) {
      self.receive(data);
    });
    socket.on("message deleted", function (data) {
      self.markDeleted(data);
    });
    socket.on("presence", function (data) {
      self.receivePresence(data);
    });
    socket.on("notice", function (data) {
      self.receiveNotice(data);
    });
    socket.on("typing", function (data) {
      self.receiveTyping(data);
    });
    socket.on("chat error", function (error) {
      // The widget's own requests report their refusals themselves.
      if (self.inflight === 0 && error && typeof error.message === "string") {
        self.showError(describeError(error));
      }
    });
  };

  // "welcome" {client, user_id, guest, room, moderator, nicknames}: who we are,
  // and the room the server put us in (the default room, or none). A widget for
  // another room joins it.
  Chat.prototype.welcome = function (data) {
    this.welcomed = true;
    window.clearTimeout(this.welcomeTimer);
    if (typeof data.client === "string") {
      this.setName(data.client);
    }
    this.userId = data.user_id === null || data.user_id === undefined
      ? null : String(data.user_id);
    this.setModerator(data.moderator === true);
    this.nicknames = data.nicknames === true;
    if (this.renameButton) {
      this.renameButton.hidden = !this.nicknames || !this.renameForm ||
        !this.renameForm.hidden;
    }
    if (!this.nicknames) {
      this.closeRename();
    }
    var room = typeof data.room === "string" ? data.room : null;
    if (!this.room || room === this.room) {
      this.inRoom = true;
      this.setState("online");
      this.pump();
      return;
    }
    this.welcomeRoom = room;
    if (this.inRoom) {
      this.leaveWelcomeRoom();
    } else if (!this.joining) {
      this.enterRoom();
    }
  };

  Chat.prototype.setName = function (name) {
    this.myName = name;
    this.me.textContent = "You are " + name;
    this.markMe();
  };

  // Join this widget's room, asking only for what was missed if messages are
  // already shown, then say "online".
  Chat.prototype.enterRoom = function () {
    var self = this;
    var payload = { room: this.room };
    if (this.lastSeq !== null) {
      payload.since = this.lastSeq;
    }
    this.joining = true;
    this.request("join", payload, function (err, ack) {
      self.joining = false;
      if (!self.socket.connected) {
        return; // disconnected meanwhile; the next connection joins again
      }
      if (!err && ack.ok) {
        self.inRoom = true;
        self.setState("online");
        self.leaveWelcomeRoom();
        self.pump();
      } else if (err) {
        self.showError("The chat did not answer; reload the page to try again.");
      } else {
        self.setState("refused");
        self.showError(describeError(ack.error));
      }
    });
  };

  // A widget for another room does not stay in the default room: it would only
  // count this user as present there.
  Chat.prototype.leaveWelcomeRoom = function () {
    var room = this.welcomeRoom;
    if (this.inRoom && room && this.room && room !== this.room) {
      this.welcomeRoom = null;
      this.socket.emit("leave", { room: room });
    }
  };

  // -- sending -------------------------------------------------------------------

  Chat.prototype.bindForm = function () {
    var self = this;
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.send();
    });
    this.input.addEventListener("keydown", function (event) {
      // keyCode 229: a key that an input method (IME) is still composing with.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing &&
          event.keyCode !== 229) {
        event.preventDefault();
        self.send();
      }
    });
    this.input.addEventListener("input", function () {
      self.noteTyping();
    });
    this.input.addEventListener("blur", function () {
      self.stopTyping();
    });
  };

  // Show the message at once as "sending", then send it when the connection
  // allows. Each message keeps its client_id through every retry, so the server
  // stores and broadcasts it once however often it is sent.
  Chat.prototype.send = function () {
    var text = this.input.value;
    if (!text.trim()) {
      return;
    }
    this.input.value = "";
    this.stopTyping();
    this.showError("");
    var entry = {
      clientId: newClientId(),
      text: text,
      item: null,
      state: "queued",
      attempt: 0,
    };
    entry.item = this.render({ client: this.myName || "You", message: text, ts: Date.now() }, true);
    this.setSendState(entry);
    this.outbox.push(entry);
    this.log.appendChild(entry.item);
    this.scrollToBottom(); // your own message brings you to the bottom
    this.pump();
  };

  // Send the oldest queued message, if none is on its way; one at a time keeps
  // them in order.
  Chat.prototype.pump = function () {
    if (this.sending || !this.canSend()) {
      return;
    }
    var entry = null;
    for (var i = 0; i < this.outbox.length; i++) {
      if (this.outbox[i].state === "queued") {
        entry = this.outbox[i];
        break;
      }
    }
    if (!entry) {
      return;
    }
    var self = this;
    var attempt = ++entry.attempt;
    entry.state = "sending";
    this.sending = entry;
    this.request("message broadcast",
      { message: entry.text, room: this.room, client_id: entry.clientId },
      function (err, ack) {
        if (self.sending === entry) {
          self.sending = null;
        }
        if (entry.attempt !== attempt || entry.state !== "sending") {
          self.pump(); // confirmed meanwhile by its "message receive", or discarded
          return;
        }
        if (!err && ack.ok) {
          self.confirm(entry, ack);
        } else if (err) {
          // No answer (the connection dropped, or the server was too slow): it
          // goes again, with the same client_id, once the connection allows.
          entry.state = "queued";
        } else {
          self.fail(entry, ack.error);
        }
        self.pump();
      });
  };

  Chat.prototype.findEntry = function (clientId) {
    if (typeof clientId !== "string") {
      return null;
    }
    for (var i = 0; i < this.outbox.length; i++) {
      if (this.outbox[i].clientId === clientId) {
        return this.outbox[i];
      }
    }
    return null;
  };

  Chat.prototype.dropEntry = function (entry) {
    var index = this.outbox.indexOf(entry);
    if (index !== -1) {
      this.outbox.splice(index, 1);
    }
  };

  // The server has the message: from its ack {id, seq, ts}, or from its
  // "message receive" or history entry carrying this page's client_id.
  Chat.prototype.confirm = function (entry, data) {
    var stick = this.isNearBottom();
    var item = entry.item;
    entry.state = "sent";
    this.dropEntry(entry);
    this.setSendState(entry);
    if (typeof data.id === "string") {
      item.dataset.id = data.id;
      this.byId.set(data.id, item);
    }
    if (typeof data.ts === "number") {
      setTime(item.querySelector("time"), data.ts);
    }
    if (typeof data.client === "string") {
      item.querySelector(".chatroom__author").textContent = data.client;
    }
    if (data.deleted) {
      showDeleted(item);
    } else if (typeof data.message === "string") {
      setText(item.querySelector(".chatroom__text"), data.message); // as stored
    }
    if (typeof data.seq === "number") {
      item.dataset.seq = String(data.seq);
      // Into its place among the others' messages.
      this.log.insertBefore(item, this.placeFor(data.seq, item));
    }
    this.addModeration(item);
    if (stick) {
      this.scrollToBottom();
    }
  };

  Chat.prototype.fail = function (entry, error) {
    entry.state = "failed";
    entry.error = error || null;
    this.setSendState(entry);
    this.showError(describeError(error));
  };

  Chat.prototype.retry = function (entry) {
    if (entry.state !== "failed") {
      return;
    }
    entry.state = "queued";
    this.setSendState(entry);
    this.showError("");
    this.pump();
  };

  Chat.prototype.discard = function (entry) {
    if (entry.state !== "failed") {
      return;
    }
    this.dropEntry(entry);
    if (entry.item.parentNode) {
      entry.item.parentNode.removeChild(entry.item);
    }
    this.showError("");
    this.input.focus();
  };

  // Show an own message's state: data-state "pending", "sent" or "failed", a
  // "Sending…" note, or "Not sent" with Retry and Discard buttons.
  Chat.prototype.setSendState = function (entry) {
    var stick = this.isNearBottom();
    this.drawSendState(entry);
    if (stick) {
      this.log.scrollTop = this.log.scrollHeight;
    }
  };

  Chat.prototype.drawSendState = function (entry) {
    var self = this;
    var item = entry.item;
    var state = entry.state === "sent" ? "sent" : entry.state === "failed" ? "failed" : "pending";
    item.dataset.state = state;
    var note = item.querySelector(".chatroom__sending");
    if (state === "pending" && !note) {
      note = document.createElement("span");
      note.className = "chatroom__sending";
      note.textContent = "Sending…";
      item.querySelector(".chatroom__meta").appendChild(note);
    } else if (state !== "pending" && note) {
      note.parentNode.removeChild(note);
    }
    var failure = item.querySelector(".chatroom__failure");
    if (failure) {
      failure.parentNode.removeChild(failure);
    }
    if (state !== "failed") {
      return;
    }
    var error = entry.error || {};
    failure = document.createElement("div");
    failure.className = "chatroom__failure";
    var reason = document.createElement("span");
    reason.className = "chatroom__failure-reason";
    reason.textContent = error.code === "rate_limited" ? "Slow down." : "Not sent.";
    var retry = smallButton("Retry", "chatroom__retry");
    retry.addEventListener("click", function () {
      self.retry(entry);
    });
    var discard = smallButton("Discard", "chatroom__discard");
    discard.addEventListener("click", function () {
      self.discard(entry);
    });
    failure.appendChild(reason);
    failure.appendChild(retry);
    failure.appendChild(discard);
    item.appendChild(failure);
    if (error.code === "rate_limited" && typeof error.retry_after === "number") {
      // The server will refuse it again until then.
      retry.disabled = true;
      window.setTimeout(function () {
        retry.disabled = false;
      }, Math.ceil(error.retry_after * 1000));
    }
  };

  function smallButton(label, className) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "chatroom__small " + className;
    button.textContent = label;
    return button;
  }

  // -- typing ----------------------------------------------------------------------

  // The user typed: say so now and then, and say it stopped after a pause.
  Chat.prototype.noteTyping = function () {
    var self = this;
    window.clearTimeout(this.idleTimer);
    if (!this.input.value.trim()) {
      this.stopTyping();
      return;
    }
    this.idleTimer = window.setTimeout(function () {
      self.stopTyping();
    }, TYPING_IDLE_MS);
    var now = Date.now();
    if (this.typingSentAt === null || now - this.typingSentAt >= TYPING_EVERY_MS) {
      if (this.emitTyping(true)) {
        this.typingSentAt = now;
      }
    }
  };

  Chat.prototype.stopTyping = function () {
    window.clearTimeout(this.idleTimer);
    if (this.typingSentAt !== null) {
      this.typingSentAt = null;
      this.emitTyping(false);
    }
  };

  Chat.prototype.emitTyping = function (typing) {
    if (!this.canSend()) {
      return false;
    }
    // A refusal (rate limited, say) does not matter enough to show.
    this.request("typing", { room: this.room, typing: typing }, function () {});
    return true;
  };

  // "typing" {room, client, user_id, typing}: another user started or stopped.
  Chat.prototype.receiveTyping = function (data) {
    if (!data || typeof data.client !== "string" || !this.isThisRoom(data.room) ||
        this.isMe(data.user_id, data.client)) {
      return;
    }
    var self = this;
    var key = personKey(data.user_id, data.client);
    this.forgetTyper(key);
    if (data.typing === true) {
      var entry = { name: data.client, timer: null };
      entry.timer = window.setTimeout(function () {
        if (self.typers.get(key) === entry) {
          self.forgetTyper(key);
          self.showTyping();
        }
      }, TYPING_EXPIRE_MS);
      this.typers.set(key, entry);
    }
    this.showTyping();
  };

  Chat.prototype.forgetTyper = function (key) {
    var entry = this.typers.get(key);
    if (entry) {
      window.clearTimeout(entry.timer);
      this.typers.delete(key);
      return true;
    }
    return false;
  };

  Chat.prototype.clearTypers = function () {
    var self = this;
    Array.from(this.typers.keys()).forEach(function (key) {
      self.forgetTyper(key);
    });
    this.showTyping();
  };

  Chat.prototype.showTyping = function () {
    if (!this.typingLine) {
      return;
    }
    var names = [];
    this.typers.forEach(function (entry) {
      names.push(entry.name);
    });
    var text = "";
    if (names.length === 1) {
      text = names[0] + " is typing…";
    } else if (names.length === 2) {
      text = names[0] + " and " + names[1] + " are typing…";
    } else if (names.length > 2) {
      text = "Several people are typing…";
    }
    if (this.typingLine.textContent !== text) {
      this.typingLine.textContent = text;
    }
  };

  // Whether a user id and name are this connection's user.
  Chat.prototype.isMe = function (userId, name) {
    if (userId !== null && userId !== undefined) {
      return this.userId !== null && String(userId) === this.userId;
    }
    return this.userId === null && name === this.myName;
  };

  // -- who is here ------------------------------------------------------------------

  Chat.prototype.bindPeople = function () {
    var self = this;
    if (!this.people) {
      return;
    }
    if (this.peopleToggle) {
      this.peopleToggle.addEventListener("click", function () {
        self.peopleOpen = !self.isPeopleOpen();
        self.layoutPeople();
      });
    }
    // Over the log, the list closes with Escape or a click elsewhere in the widget.
    var close = function (focusToggle) {
      self.peopleOpen = false;
      self.layoutPeople();
      if (focusToggle && self.peopleToggle) {
        self.peopleToggle.focus();
      }
    };
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && self.narrow && self.isPeopleOpen()) {
        close(true);
      }
    });
    this.root.addEventListener("click", function (event) {
      if (self.narrow && self.isPeopleOpen() && !self.people.contains(event.target) &&
          !(self.peopleToggle && self.peopleToggle.contains(event.target))) {
        close(false);
      }
    });
    // A narrow widget (a phone, or a narrow column of the host's page) folds
    // the list away behind its button; a wide one shows it beside the log.
    var measure = function () {
      var narrow = self.root.clientWidth < NARROW_PX;
      if (narrow !== self.narrow) {
        self.narrow = narrow;
        self.peopleOpen = null; // the reader's choice was for the other layout
      }
      self.layoutPeople();
    };
    if (typeof window.ResizeObserver === "function") {
      new window.ResizeObserver(measure).observe(this.root);
    } else {
      window.addEventListener("resize", measure);
    }
    this.narrow = this.root.clientWidth < NARROW_PX;
    this.layoutPeople();
  };

  Chat.prototype.isPeopleOpen = function () {
    return this.peopleOpen === null ? !this.narrow : this.peopleOpen;
  };

  Chat.prototype.layoutPeople = function () {
    var open = this.isPeopleOpen();
    this.root.dataset.layout = this.narrow ? "narrow" : "wide";
    this.people.hidden = !open;
    if (this.peopleToggle) {
      this.peopleToggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
  };

  // "presence" {room, users: [{id, name, user_id, avatar_url}], count}: who is in
  // the room, one entry per user.
  Chat.prototype.receivePresence = function (data) {
    if (!data || !Array.isArray(data.users) || !this.isThisRoom(data.room)) {
      return;
    }
    var users = data.users.filter(function (user) {
      return user && typeof user.name === "string";
    });
    // A large room's list is capped; count is how many are really here.
    var count = typeof data.count === "number" ? data.count : users.length;
    var complete = users.length >= count;
    // Whoever is not here any more is not typing either (only knowable when
    // the list is complete).
    var here = new Set(users.map(function (user) {
      return personKey(user.user_id, user.name);
    }));
    var self = this;
    var gone = false;
    if (complete) {
      Array.from(this.typers.keys()).forEach(function (key) {
        if (!here.has(key)) {
          gone = self.forgetTyper(key) || gone;
        }
      });
    }
    if (gone) {
      this.showTyping();
    }
    if (this.peopleToggle) {
      this.peopleToggle.hidden = false;
      this.peopleToggle.textContent = count + " online";
    }
    if (!this.peopleList) {
      return;
    }
    this.peopleList.textContent = "";
    users.forEach(function (user) {
      self.peopleList.appendChild(self.renderPerson(user));
    });
    this.markMe();
  };

  Chat.prototype.renderPerson = function (user) {
    var item = document.createElement("li");
    item.className = "chatroom__person";
    if (typeof user.id === "string") {
      item.dataset.id = user.id;
    }
    if (user.user_id !== null && user.user_id !== undefined) {
      item.dataset.userId = String(user.user_id);
    }
    item.appendChild(renderAvatar(user));
    var name = document.createElement("span");
    name.className = "chatroom__person-name";
    name.textContent = user.name;
    item.appendChild(name);
    return item;
  };

  // The host's picture when it is on this site (the chat page's policy allows
  // only those), else the first letter of the name.
  function renderAvatar(user) {
    var url = null;
    if (typeof user.avatar_url === "string" && user.avatar_url) {
      try {
        url = new URL(user.avatar_url, document.baseURI);
      } catch (e) {
        url = null;
      }
    }
    if (url && url.origin === window.location.origin &&
        (url.protocol === "http:" || url.protocol === "https:")) {
      var img = document.createElement("img");
      img.className = "chatroom__avatar";
      img.alt = "";
      img.src = url.href;
      return img;
    }
    var letter = document.createElement("span");
    letter.className = "chatroom__avatar";
    letter.setAttribute("aria-hidden", "true");
    letter.textContent = Array.from(user.name.trim())[0] || "?";
    return letter;
  }

  // Mark this user's own entry in the list.
  Chat.prototype.markMe = function () {
    if (!this.peopleList) {
      return;
    }
    var self = this;
    Array.prototype.forEach.call(this.peopleList.children, function (item) {
      var name = item.querySelector(".chatroom__person-name");
      var me = self.isMe(item.dataset.userId, name ? name.textContent : null);
      item.classList.toggle("chatroom__person--me", me);
      var tag = item.querySelector(".chatroom__you-tag");
      if (me && !tag) {
        tag = document.createElement("span");
        tag.className = "chatroom__you-tag";
        tag.textContent = "(you)";
        item.appendChild(tag);
      } else if (!me && tag) {
        item.removeChild(tag);
      }
    });
  };

  // "notice" {room, kind: "join"|"leave", client, user_id, ts}: a muted line in
  // the log. Your own arrival is not news to you.
  Chat.prototype.receiveNotice = function (data) {
    if (!data || typeof data.client !== "string" || !this.isThisRoom(data.room) ||
        (data.kind !== "join" && data.kind !== "leave") ||
        this.isMe(data.user_id, data.client)) {
      return;
    }
    var stick = this.isNearBottom();
    var item = document.createElement("li");
    item.className = "chatroom__notice";
    item.dataset.kind = data.kind;
    item.textContent = data.client + (data.kind === "join" ? " joined" : " left");
    if (typeof data.ts === "number") {
      item.title = formatTime(data.ts).full;
    }
    this.log.insertBefore(item, this.placeFor(null, null));
    if (stick) {
      this.scrollToBottom();
    }
  };

  // -- nickname ----------------------------------------------------------------------

  Chat.prototype.bindRename = function () {
    var self = this;
    if (!this.renameButton || !this.renameForm || !this.renameInput) {
      return;
    }
    this.renameButton.addEventListener("click", function () {
      self.openRename();
    });
    if (this.renameCancel) {
      this.renameCancel.addEventListener("click", function () {
        self.closeRename(true);
      });
    }
    this.renameForm.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        self.closeRename(true);
      }
    });
    this.renameForm.addEventListener("submit", function (event) {
      event.preventDefault();
      self.rename();
    });
  };

  Chat.prototype.openRename = function () {
    this.renameForm.hidden = false;
    this.renameButton.hidden = true;
    this.renameInput.value = this.myName || "";
    this.renameInput.focus();
    this.renameInput.select();
  };

  Chat.prototype.closeRename = function (focusButton) {
    if (!this.renameForm || !this.renameButton) {
      return;
    }
    this.renameForm.hidden = true;
    this.renameButton.hidden = !this.nicknames;
    if (focusButton && this.nicknames) {
      this.renameButton.focus();
    }
  };

  // "nickname" {name}: acked {ok: true, name} with the name as the server keeps it.
  Chat.prototype.rename = function () {
    var self = this;
    var name = this.renameInput.value;
    if (!name.trim()) {
      this.showError("Type a name first.");
      return;
    }
    var fields = Array.prototype.slice.call(this.renameForm.elements);
    fields.forEach(function (field) {
      field.disabled = true;
    });
    this.request("nickname", { name: name }, function (err, ack) {
      fields.forEach(function (field) {
        field.disabled = false;
      });
      if (!err && ack.ok && typeof ack.name === "string") {
        self.showError("");
        self.setName(ack.name);
        self.closeRename(true);
      } else {
        self.showError(err ? NO_ANSWER : describeError(ack.error));
        self.renameInput.focus();
      }
    });
  };

  // -- moderation ---------------------------------------------------------------------

  Chat.prototype.setModerator = function (moderator) {
    if (moderator === this.moderator) {
      return;
    }
    this.moderator = moderator;
    var self = this;
    this.byId.forEach(function (item) {
      self.addModeration(item);
    });
  };

  // A moderator gets a Delete button on every stored message that is not removed.
  Chat.prototype.addModeration = function (item) {
    var button = item.querySelector(".chatroom__delete");
    var wanted = this.moderator && !!item.dataset.id && item.dataset.deleted !== "true";
    if (!wanted) {
      if (button) {
        button.parentNode.removeChild(button);
      }
      return;
    }
    if (button) {
      return;
    }
    var self = this;
    var author = item.querySelector(".chatroom__author");
    button = document.createElement("button");
    button.type = "button";
    button.className = "chatroom__delete";
    button.textContent = "Delete";
    button.setAttribute("aria-label",
      "Delete the message from " + (author ? author.textContent : "this user"));
    button.addEventListener("click", function () {
      self.deleteMessage(item, button);
    });
    item.querySelector(".chatroom__meta").appendChild(button);
  };

  // "delete message" {id}: the room gets "message deleted", this page too.
  Chat.prototype.deleteMessage = function (item, button) {
    var self = this;
    button.disabled = true;
    this.request("delete message", { id: item.dataset.id }, function (err, ack) {
      button.disabled = false;
      if (err) {
        self.showError(NO_ANSWER);
      } else if (!ack.ok) {
        self.showError(describeError(ack.error));
      } else {
        self.showError("");
      }
    });
  };

  // -- receiving -----------------------------------------------------------------

  Chat.prototype.isNearBottom = function () {
    var log = this.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight <= NEAR_BOTTOM_PX;
  };

  Chat.prototype.isThisRoom = function (room) {
    return !room || !this.room || room === this.room;
  };

  // "message receive": one new message.
  Chat.prototype.receive = function (data) {
    if (data && typeof data.client === "string" && this.isThisRoom(data.room)) {
      // They sent it, so they stopped typing.
      if (this.forgetTyper(personKey(data.user_id, data.client))) {
        this.showTyping();
      }
    }
    this.show([data], false);
  };

  // "history" {room, messages, has_more, since}: the room's latest messages when
  // joining, or those missed while reconnecting.
  Chat.prototype.receiveHistory = function (data) {
    if (!data || !Array.isArray(data.messages) || !this.isThisRoom(data.room)) {
      return;
    }
    this.show(data.messages, false);
    if (data.since === null || data.since === undefined) {
      // The latest page: has_more says whether older messages exist.
      this.hasOlder = !!data.has_more;
      if (this.log.scrollTop <= NEAR_TOP_PX) {
        this.loadOlder(); // the log does not fill up yet
      }
    } else if (data.has_more) {
      this.catchUp(); // more was missed than one catch-up holds
    }
  };

  // Ask for the messages after the newest shown, page by page, until none are left.
  Chat.prototype.catchUp = function () {
    var self = this;
    var after = this.lastSeq;
    if (!this.room || after === null) {
      return;
    }
    this.request("history", { room: this.room, after: after, limit: HISTORY_PAGE },
      function (err, ack) {
        if (err || !ack.ok || !Array.isArray(ack.messages)) {
          return;
        }
        self.show(ack.messages, false);
        if (ack.has_more && self.lastSeq !== after) {
          self.catchUp();
        }
      });
  };

  Chat.prototype.firstSeq = function () {
    for (var node = this.log.firstElementChild; node; node = node.nextElementSibling) {
      if (node.dataset.seq) {
        return Number(node.dataset.seq);
      }
    }
    return null;
  };

  // The reader reached the top: put the page of messages before the first one
  // shown above it, and keep what the reader was looking at where it was.
  Chat.prototype.loadOlder = function () {
    var self = this;
    var before = this.firstSeq();
    if (!this.hasOlder || this.loadingOlder || !this.room || before === null ||
        !this.socket.connected) {
      return;
    }
    this.loadingOlder = true;
    this.older.hidden = false;
    this.request("history", { room: this.room, before: before, limit: OLDER_PAGE },
      function (err, ack) {
        self.loadingOlder = false;
        self.older.hidden = true;
        var anchor = self.log.querySelector("[data-seq]");
        var top = anchor ? anchor.getBoundingClientRect().top : 0;
        if (!err && ack.ok && Array.isArray(ack.messages)) {
          self.hasOlder = !!ack.has_more;
          for (var i = 0; i < ack.messages.length; i++) {
            self.add(ack.messages[i]);
          }
        }
        if (anchor) {
          self.log.scrollTop += anchor.getBoundingClientRect().top - top;
        }
      });
  };

  Chat.prototype.show = function (messages, stick) {
    stick = stick || this.isNearBottom();
    var added = 0;
    for (var i = 0; i < messages.length; i++) {
      if (this.add(messages[i])) {
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
  };

  // Where a message with *seq* goes: before the first later message, and before
  // this page's own messages still on their way, which stay last. Notices and
  // messages without a seq go last, before those too.
  Chat.prototype.placeFor = function (seq, except) {
    var before = null;
    for (var node = this.log.lastElementChild; node; node = node.previousElementSibling) {
      if (node === except) {
        continue;
      }
      var state = node.dataset.state;
      if (state === "pending" || state === "failed") {
        before = node;
      } else if (seq !== null && node.dataset.seq) {
        if (Number(node.dataset.seq) < seq) {
          break;
        }
        before = node;
      } else if (seq === null) {
        break;
      }
    }
    return before;
  };

  // Put one message in the log, in seq order; false if it is not for this log,
  // is already shown, or is one of this page's own (which is then marked sent).
  Chat.prototype.add = function (data) {
    if (!data || typeof data.message !== "string" || !this.isThisRoom(data.room)) {
      return false;
    }
    var seq = typeof data.seq === "number" ? data.seq : null;
    if (seq !== null && (this.lastSeq === null || seq > this.lastSeq)) {
      this.lastSeq = seq;
    }
    var id = typeof data.id === "string" ? data.id : null;
    if (id !== null && this.byId.has(id)) {
      return false;
    }
    var entry = this.findEntry(data.client_id);
    if (entry) {
      this.confirm(entry, data);
      return false;
    }
    var item = this.render(data, this.isOwn(data));
    this.log.insertBefore(item, this.placeFor(seq, null));
    if (id !== null) {
      this.byId.set(id, item);
    }
    this.addModeration(item);
    return true;
  };

  // A signed-in user's messages from other tabs and earlier visits.
  Chat.prototype.isOwn = function (data) {
    return this.userId !== null && data.user_id !== null && data.user_id !== undefined &&
      String(data.user_id) === this.userId;
  };

  // Keep at most MAX_MESSAGES in the log, removing the oldest in one batch; a
  // reader who scrolled up keeps their place.
  Chat.prototype.trim = function (stick) {
    var log = this.log;
    if (log.children.length <= MAX_MESSAGES) {
      return;
    }
    var extra = log.children.length - TRIM_TO;
    var kept = log.children[extra];
    var before = kept.getBoundingClientRect().top;
    while (extra-- > 0) {
      var old = log.firstElementChild;
      if (old.dataset.id) {
        this.byId.delete(old.dataset.id);
      }
      if (old.dataset.seq) {
        this.hasOlder = true; // the server still has it
      }
      log.removeChild(old);
    }
    if (!stick) {
      log.scrollTop += kept.getBoundingClientRect().top - before;
    }
  };

  function setTime(time, ts) {
    var when = formatTime(ts);
    time.dateTime = when.iso;
    time.title = when.full;
    time.textContent = when.short;
  }

  Chat.prototype.render = function (data, own) {
    var item = document.createElement("li");
    item.className = own ? "chatroom__msg chatroom__msg--own" : "chatroom__msg";
    if (typeof data.id === "string") {
      item.dataset.id = data.id;
    }
    if (typeof data.seq === "number") {
      item.dataset.seq = String(data.seq);
    }
    var meta = document.createElement("div");
    meta.className = "chatroom__meta";
    var author = document.createElement("span");
    author.className = "chatroom__author";
    author.textContent = String(data.client);
    meta.appendChild(author);
    var time = document.createElement("time");
    if (typeof data.ts === "number") {
      setTime(time, data.ts);
    }
    meta.appendChild(time);
    var text = document.createElement("p");
    text.className = "chatroom__text";
    item.appendChild(meta);
    item.appendChild(text);
    if (data.deleted) {
      showDeleted(item);
    } else {
      appendText(text, data.message);
    }
    return item;
  };

  function showDeleted(item) {
    var text = item.querySelector(".chatroom__text");
    text.className = "chatroom__text chatroom__text--deleted";
    text.textContent = "This message was removed.";
    item.dataset.deleted = "true";
  }

  // "message deleted" {id, room}: a moderator removed a message.
  Chat.prototype.markDeleted = function (data) {
    var item = data && typeof data.id === "string" && this.isThisRoom(data.room)
      ? this.byId.get(data.id) : null;
    if (item) {
      showDeleted(item);
      this.addModeration(item);
    }
  };

  // -- start -----------------------------------------------------------------------

  var instances = [];

  function init(root) {
    if (root.chatroom) {
      return root.chatroom;
    }
    var chat = new Chat(root);
    root.chatroom = chat;
    instances.push(chat);
    return chat;
  }

  function initAll() {
    if (typeof window.io !== "function") {
      console.error("flask-chatroom: the Socket.IO client did not load.");
      return;
    }
    document.querySelectorAll("[data-chatroom]").forEach(init);
  }

  window.FlaskChatroom = { init: init, instances: instances };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initAll);
  } else {
    initAll();
  }
})();
