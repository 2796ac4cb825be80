/* flask-chatroom: attaching files in the composer. Touches the DOM.
 *
 * FileComposer gives the widget's form an "Attach files" button (which opens
 * a hidden file picker), takes files dropped on the widget (the log shows a
 * drop target while they are dragged over it) and files pasted into the text
 * box (a screenshot, say). Each file is uploaded at once (uploads.js, with
 * XMLHttpRequest: its progress, and Cancel) and shown as a chip above the text
 * box: its name, a progress bar, Cancel while it goes, then the server's
 * thumbnail or "Ready", or the server's refusal (role="alert"), with Remove.
 * Each room keeps its own chips, as it keeps its draft.
 * Names are only ever set with textContent; no blob: URLs (the chat's CSP
 * allows images from its own site only).
 */

import { humanSize, readAttachments } from "./attachments.js";
import { DONE, FAILED, UPLOADING, Uploads, sendFile } from "./uploads.js";

// Narrower than this, the text box's placeholder loses its "(…)" hint.
const NARROW_PX = 480;

function part(root, name) {
  return root.querySelector("[data-chatroom-" + name + "]");
}

function make(tag, className, text = null) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== null) {
    node.textContent = text;
  }
  return node;
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const token = meta ? meta.getAttribute("content") : null;
  return token || null;
}

// Whether a drag carries files (not text or a link being dragged).
function hasFiles(event) {
  const types = event.dataTransfer ? Array.from(event.dataTransfer.types || []) : [];
  return types.includes("Files");
}

export class FileComposer {
  // *chat*: the widget (its root, form, input, room and api base).
  constructor(chat) {
    this.chat = chat;
    this.api = chat.root.dataset.api || null;
    // data-attachments: uploads are on, files up to this many bytes.
    const max = Number(chat.root.dataset.attachments);
    this.maxBytes = max > 0 ? max : null;
    this.rooms = new Map(); // room -> Uploads
    this.allowed = Boolean(this.api) && chat.root.hasAttribute("data-attachments");
    this.dragDepth = 0;
    const root = chat.root;
    this.button = part(root, "attach");
    this.picker = part(root, "file");
    this.list = part(root, "uploads");
    if (!this.button) {
      this.button = make("button", "chatroom__attach");
      this.button.type = "button";
      this.button.setAttribute("data-chatroom-attach", "");
      const icon = make("span", "chatroom__attach-icon", "📎");
      icon.setAttribute("aria-hidden", "true");
      this.button.appendChild(icon);
      this.button.appendChild(make("span", "chatroom__label", "Attach files"));
      chat.form.insertBefore(this.button, chat.input);
    }
    if (!this.picker) {
      this.picker = document.createElement("input");
      this.picker.type = "file";
      this.picker.multiple = true;
      this.picker.hidden = true;
      this.picker.tabIndex = -1;
      this.picker.setAttribute("data-chatroom-file", "");
      chat.form.appendChild(this.picker);
    }
    if (!this.list) {
      this.list = make("ul", "chatroom__uploads");
      this.list.setAttribute("data-chatroom-uploads", "");
      this.list.setAttribute("aria-label", "Files to send");
      this.list.hidden = true;
      chat.form.parentNode.insertBefore(this.list, chat.form);
    }
    this.hint = make("p", "chatroom__drophint", "Drop files to attach them");
    this.hint.setAttribute("aria-hidden", "true");
    this.hint.hidden = true;
    chat.log.parentNode.insertBefore(this.hint, chat.log);
    // On a narrow widget the button leaves the text box too little room for
    // a long placeholder: its short form (without the "(…)" hint) is shown.
    this.placeholder = chat.input.getAttribute("placeholder") || "";
    this.setAllowed(this.allowed);
    this.bind();
    if (typeof window.ResizeObserver === "function") {
      new window.ResizeObserver(() => this.fitPlaceholder()).observe(chat.root);
    } else {
      window.addEventListener("resize", () => this.fitPlaceholder());
    }
  }

  fitPlaceholder() {
    const narrow = this.allowed && this.chat.root.clientWidth < NARROW_PX;
    const text = narrow ? this.placeholder.replace(/\s*\([^)]*\)\s*$/, "") : this.placeholder;
    if (this.placeholder && this.chat.input.getAttribute("placeholder") !== text) {
      this.chat.input.setAttribute("placeholder", text);
    }
  }

  // Whether this user may attach files here (an API to upload to, and the
  // server's word in "welcome").
  setAllowed(allowed) {
    this.allowed = Boolean(allowed && this.api) &&
      this.chat.root.hasAttribute("data-attachments");
    this.button.hidden = !this.allowed;
    this.fitPlaceholder();
  }

  bind() {
    this.button.addEventListener("click", () => {
      if (this.allowed) {
        this.picker.click();
      }
    });
    this.picker.addEventListener("change", () => {
      const files = Array.from(this.picker.files || []);
      this.picker.value = "";
      this.addFiles(files);
      this.chat.input.focus();
    });
    const root = this.chat.root;
    root.addEventListener("dragenter", (event) => {
      if (!this.allowed || !hasFiles(event)) {
        return;
      }
      event.preventDefault();
      this.dragDepth += 1;
      this.setDragging(true);
    });
    root.addEventListener("dragover", (event) => {
      if (!this.allowed || !hasFiles(event)) {
        return;
      }
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      this.setDragging(true);
    });
    root.addEventListener("dragleave", (event) => {
      if (!this.allowed || !hasFiles(event)) {
        return;
      }
      this.dragDepth = Math.max(0, this.dragDepth - 1);
      if (this.dragDepth === 0) {
        this.setDragging(false);
      }
    });
    root.addEventListener("drop", (event) => {
      if (!this.allowed || !hasFiles(event)) {
        return;
      }
      event.preventDefault();
      this.dragDepth = 0;
      this.setDragging(false);
      this.addFiles(Array.from(event.dataTransfer.files || []));
    });
    this.chat.input.addEventListener("paste", (event) => {
      const data = event.clipboardData;
      if (!this.allowed || !data) {
        return;
      }
      let files = Array.from(data.files || []);
      if (!files.length && data.items) {
        files = Array.from(data.items).filter((item) => item.kind === "file")
          .map((item) => item.getAsFile()).filter(Boolean);
      }
      if (!files.length) {
        return;
      }
      // A copied image often comes with its address as text: the file is what
      // was meant.
      event.preventDefault();
      this.addFiles(files);
    });
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      const chip = button ? button.closest("[data-key]") : null;
      if (!chip) {
        return;
      }
      const uploads = this.current();
      const upload = uploads.get(chip.dataset.key);
      if (upload) {
        this.removeUpload(uploads, upload, chip);
      }
    });
  }

  setDragging(on) {
    if (on) {
      this.chat.root.dataset.drop = "on";
    } else {
      delete this.chat.root.dataset.drop;
    }
    this.hint.hidden = !on;
  }

  uploadsFor(room) {
    let uploads = this.rooms.get(room);
    if (!uploads) {
      uploads = new Uploads({
        maxBytes: this.maxBytes,
        start: (upload, { progress, done }) => sendFile({
          url: this.api + "/rooms/" + encodeURIComponent(room) + "/attachments",
          file: upload.file,
          csrf: csrfToken(),
          makeXhr: () => new window.XMLHttpRequest(),
          makeForm: () => new window.FormData(),
          onProgress: progress,
          onDone: done,
        }),
        onChange: (upload) => {
          if (this.rooms.get(this.chat.room) === uploads) {
            this.draw(upload);
          }
        },
      });
      this.rooms.set(room, uploads);
    }
    return uploads;
  }

  current() {
    return this.uploadsFor(this.chat.room);
  }

  addFiles(files) {
    if (!this.allowed || !files.length) {
      return;
    }
    const uploads = this.current();
    for (const file of files) {
      uploads.add(file);
    }
    this.chat.showError("");
  }

  // The focus moves to a neighbour when its chip goes.
  removeUpload(uploads, upload, chip) {
    const focused = chip.contains(document.activeElement);
    const next = chip.nextElementSibling || chip.previousElementSibling;
    uploads.remove(upload);
    if (focused) {
      const target = next ? next.querySelector("button[data-action]") : null;
      (target || this.chat.input).focus();
    }
  }

  // -- what the composer sends ----------------------------------------------------

  get busy() {
    return this.current().busy;
  }

  // The stored uploads' attachments, for the message being sent.
  ready() {
    return this.current().ready();
  }

  clear() {
    this.current().clear();
  }

  // The reader went to another room: its own chips.
  showRoom() {
    this.list.textContent = "";
    this.draw(null);
  }

  // -- drawing ----------------------------------------------------------------------

  // Redraw *upload*'s chip (null: the whole list, keeping unchanged chips).
  draw(upload) {
    const uploads = this.current();
    const chips = new Map();
    for (const chip of Array.from(this.list.children)) {
      chips.set(chip.dataset.key, chip);
    }
    for (const [key, chip] of chips) {
      if (!uploads.get(key)) {
        this.list.removeChild(chip);
      }
    }
    uploads.list.forEach((entry, index) => {
      let chip = chips.get(entry.key);
      if (!chip) {
        chip = make("li", "chatroom__upload");
        chip.dataset.key = entry.key;
      }
      if (this.list.children[index] !== chip) {
        this.list.insertBefore(chip, this.list.children[index] || null);
      }
      if (!upload || upload === entry || !chip.firstChild) {
        this.drawChip(chip, entry);
      }
    });
    this.list.hidden = uploads.size === 0;
  }

  drawChip(chip, upload) {
    if (chip.dataset.state === upload.state && upload.state === UPLOADING && chip.firstChild) {
      // Only the progress moved.
      const bar = chip.querySelector("progress");
      bar.max = Math.max(1, upload.total);
      bar.value = Math.min(upload.loaded, bar.max);
      return;
    }
    const focused = chip.contains(document.activeElement);
    chip.textContent = "";
    chip.dataset.state = upload.state;
    const head = make("span", "chatroom__upload-head");
    if (upload.state === DONE) {
      const [attachment] = readAttachments([upload.attachment], document.baseURI);
      const thumb = attachment ? attachment.thumbnailUrl : null;
      if (thumb) {
        const img = make("img", "chatroom__upload-thumb");
        img.alt = "";
        img.src = thumb;
        head.appendChild(img);
      }
    }
    head.appendChild(make("span", "chatroom__upload-name", upload.name));
    const size = humanSize(upload.size);
    if (size) {
      head.appendChild(make("span", "chatroom__upload-size", size));
    }
    chip.appendChild(head);
    if (upload.state === UPLOADING) {
      const bar = make("progress", "chatroom__upload-progress");
      bar.max = Math.max(1, upload.total);
      bar.value = Math.min(upload.loaded, bar.max);
      bar.setAttribute("aria-label", "Uploading " + upload.name);
      chip.appendChild(bar);
    } else if (upload.state === DONE) {
      chip.appendChild(make("span", "chatroom__upload-ready", "Ready to send"));
    }
    const action = make("button", "chatroom__small chatroom__upload-action",
      upload.state === UPLOADING ? "Cancel" : "Remove");
    action.type = "button";
    action.dataset.action = upload.state === UPLOADING ? "cancel" : "remove";
    action.setAttribute("aria-label",
      (upload.state === UPLOADING ? "Cancel uploading " : "Remove ") + upload.name);
    chip.appendChild(action);
    if (upload.state === FAILED) {
      const error = make("p", "chatroom__upload-error",
        upload.error && upload.error.message ? upload.error.message : "The upload failed.");
      error.setAttribute("role", "alert");
      chip.appendChild(error);
    }
    if (focused) {
      action.focus();
    }
  }
}
