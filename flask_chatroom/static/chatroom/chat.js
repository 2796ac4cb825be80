/* flask-chatroom browser client. Plain JavaScript, no build step.
 *
 * Finds every element with a data-chatroom attribute (rendered by the
 * chat_widget() macro) and connects it to the chat's Socket.IO namespace.
 * User text is only ever set with textContent: nothing a user sends becomes HTML.
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
  var MAX_MESSAGES = 500; // at most this many messages stay on the page;
  var TRIM_TO = 450; // past it, the oldest go down to this many at once
  var HISTORY_PAGE = 200; // messages asked for at a time when catching up

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

    this.userId = null; // the host's id of a signed-in user, from "welcome"
    this.welcomed = false;
    this.welcomeTimer = null;
    this.welcomeRoom = null; // the room the server put the connection in
    this.joining = false;
    this.inRoom = false; // whether the connection is in this widget's room
    this.lastSeq = null; // the newest seq shown: where a reconnection catches up
    this.byId = new Map(); // message id -> its <li>, so nothing shows twice
    this.ownIds = new Set(); // client_ids of this page's messages on their way
    this.pending = null; // {text, clientId} of a send the server did not confirm
    this.unseen = 0;
    this.jump = this.makeJump();

    this.socket = window.io(root.dataset.namespace || "/", {
      path: root.dataset.socketioPath || "/socket.io/",
      forceNew: true,
      // Sent with every (re)connection, so the server sends only what was missed.
      auth: function (callback) {
        callback(self.authData());
      },
    });
    this.bindSocket();
    this.bindForm();
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
    }, { passive: true });
    return button;
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
    this.errorLine.textContent = text;
    this.errorLine.hidden = !text;
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
    socket.on("chat error", function (error) {
      if (error && typeof error.message === "string") {
        self.showError(error.message);
      }
    });
  };

  // "welcome" {client, user_id, room}: who we are, and the room the server put
  // us in (the default room, or none). A widget for another room joins it.
  Chat.prototype.welcome = function (data) {
    this.welcomed = true;
    window.clearTimeout(this.welcomeTimer);
    if (typeof data.client === "string") {
      this.me.textContent = "You are " + data.client;
    }
    this.userId = data.user_id === null || data.user_id === undefined
      ? null : String(data.user_id);
    var room = typeof data.room === "string" ? data.room : null;
    if (!this.room || room === this.room) {
      this.inRoom = true;
      this.setState("online");
      return;
    }
    this.welcomeRoom = room;
    if (this.inRoom) {
      this.leaveWelcomeRoom();
    } else if (!this.joining) {
      this.enterRoom();
    }
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
    this.socket
      .timeout(ACK_TIMEOUT_MS)
      .emit("join", payload, function (err, ack) {
        self.joining = false;
        if (!self.socket.connected) {
          return; // disconnected meanwhile; the next connection joins again
        }
        if (!err && ack && ack.ok) {
          self.inRoom = true;
          self.setState("online");
          self.leaveWelcomeRoom();
        } else if (err) {
          self.showError("The chat did not answer; reload the page to try again.");
        } else {
          self.setState("refused");
          self.showError(ack && ack.error ? ack.error.message : "");
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
  };

  Chat.prototype.send = function () {
    var self = this;
    var text = this.input.value;
    if (!text.trim()) {
      return;
    }
    // Sending the same text again after an unconfirmed try reuses its id: if the
    // first try did arrive, the server keeps one copy.
    var clientId = this.pending && this.pending.text === text
      ? this.pending.clientId : newClientId();
    this.pending = null;
    this.ownIds.add(clientId);
    this.input.value = "";
    this.showError("");
    this.socket
      .timeout(ACK_TIMEOUT_MS)
      .emit("message broadcast", { message: text, room: this.room, client_id: clientId },
        function (err, ack) {
          if (!err && ack && ack.ok) {
            return;
          }
          if (!self.input.value) {
            self.input.value = text; // give the text back so it can be sent again
          }
          if (err) {
            self.pending = { text: text, clientId: clientId };
            self.showError("The message was not confirmed; check your connection and send it again.");
          } else {
            self.ownIds.delete(clientId);
            self.showError(ack && ack.error ? ack.error.message : "The message was refused.");
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
    // Your own message brings you to the bottom.
    var own = !!data && typeof data.client_id === "string" && this.ownIds.has(data.client_id);
    this.show([data], own);
  };

  // "history" {room, messages, has_more, since}: the room's latest messages when
  // joining, or those missed while reconnecting.
  Chat.prototype.receiveHistory = function (data) {
    if (!data || !Array.isArray(data.messages) || !this.isThisRoom(data.room)) {
      return;
    }
    this.show(data.messages, false);
    if (data.has_more && typeof data.since === "number") {
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
    this.socket
      .timeout(ACK_TIMEOUT_MS)
      .emit("history", { room: this.room, after: after, limit: HISTORY_PAGE },
        function (err, ack) {
          if (err || !ack || !ack.ok || !Array.isArray(ack.messages)) {
            return;
          }
          self.show(ack.messages, false);
          if (ack.has_more && self.lastSeq !== after) {
            self.catchUp();
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

  // Put one message in the log, in seq order; false if it is not for this log
  // or is already shown.
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
    var item = this.render(data, this.isOwn(data));
    var before = null;
    if (seq !== null) {
      // Usually the newest: the loop stops at the last item.
      for (var node = this.log.lastElementChild; node; node = node.previousElementSibling) {
        if (node.dataset.seq) {
          if (Number(node.dataset.seq) < seq) {
            break;
          }
          before = node;
        }
      }
    }
    this.log.insertBefore(item, before);
    if (id !== null) {
      this.byId.set(id, item);
    }
    return true;
  };

  Chat.prototype.isOwn = function (data) {
    if (typeof data.client_id === "string" && this.ownIds.has(data.client_id)) {
      this.ownIds.delete(data.client_id);
      return true;
    }
    // A signed-in user's messages from other tabs and earlier visits.
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
      log.removeChild(old);
    }
    if (!stick) {
      log.scrollTop += kept.getBoundingClientRect().top - before;
    }
  };

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
    if (typeof data.ts === "number") {
      var when = formatTime(data.ts);
      var time = document.createElement("time");
      time.dateTime = when.iso;
      time.title = when.full;
      time.textContent = when.short;
      meta.appendChild(time);
    }
    var text = document.createElement("p");
    text.className = "chatroom__text";
    if (data.deleted) {
      showDeleted(text);
    } else {
      text.textContent = data.message;
    }
    item.appendChild(meta);
    item.appendChild(text);
    return item;
  };

  function showDeleted(text) {
    text.className = "chatroom__text chatroom__text--deleted";
    text.textContent = "This message was removed.";
  }

  // "message deleted" {id, room}: a moderator removed a message.
  Chat.prototype.markDeleted = function (data) {
    var item = data && typeof data.id === "string" && this.isThisRoom(data.room)
      ? this.byId.get(data.id) : null;
    if (item) {
      showDeleted(item.querySelector(".chatroom__text"));
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
