/* flask-chatroom browser client: the entry module. Native ES modules, no build
 * step: load it with <script type="module"> after the bundled Socket.IO client,
 * a classic script that defines the global io(). The chat_assets() macro writes
 * both tags.
 *
 * The widget's code is split by what it holds; only widget.js touches the page:
 *   widget.js      the Chat class: every part of the page, drawn from the models
 *   connection.js  the connection state machine and the widget's room
 *   outbox.js      own messages until the server has them (retries keep client_id)
 *   messagelog.js  the log's order: by seq, duplicates dropped, trimmed
 *   people.js      who this user is, who is here, who is typing
 *   rooms.js       the switcher's rooms, unread counts, read markers
 *   mentions.js    @mentions: the composer's suggestions, names in messages
 *   links.js       web addresses in messages; errors.js, the refusal sentences
 *
 * This module connects every element with a data-chatroom attribute once the
 * page has loaded, and offers window.FlaskChatroom = {init(element), instances}
 * for widgets added later. Runs under a strict Content-Security-Policy: no
 * inline code, no eval, no inline styles.
 */

import { Chat } from "./widget.js";

const instances = [];

function init(root) {
  if (root.chatroom) {
    return root.chatroom;
  }
  const chat = new Chat(root);
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

// A second copy (the assets included twice, under another URL) leaves the
// widgets to the first.
if (!window.FlaskChatroom) {
  window.FlaskChatroom = { init: init, instances: instances };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initAll);
  } else {
    initAll();
  }
}
