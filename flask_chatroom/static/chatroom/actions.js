/* flask-chatroom: what a reader can do with a message. Touches the DOM.
 *
 *   Toolbar        Reply, React, Edit and Delete at the end of a message's top
 *                  line (a WAI-ARIA toolbar: one Tab stop, arrow keys inside);
 *                  shown on hover and focus, always on touch screens
 *   Editor         edit in place: Enter saves ("edit message"), Shift+Enter
 *                  adds a line, Escape cancels
 *   Confirm        "Delete this message?" inside the message, Delete / Cancel
 *                  (Escape cancels); never window.confirm
 *   ReplyBar       "Replying to Ada: …" above the text box, ✕ or Escape cancels
 *
 * The widget decides what is allowed and sends the requests; these only draw
 * and report.
 */

export const TOOLS = ["reply", "react", "edit", "delete"];
const LABELS = { reply: "Reply", react: "React", edit: "Edit", delete: "Delete" };
const CLASSES = {
  reply: "chatroom__tool chatroom__reply",
  react: "chatroom__tool chatroom__react",
  edit: "chatroom__tool chatroom__edit",
  delete: "chatroom__tool chatroom__delete",
};

// A button that cannot be used for now, but keeps the focus it has.
function setBusy(element, on) {
  if (on) {
    element.setAttribute("aria-disabled", "true");
  } else {
    element.removeAttribute("aria-disabled");
  }
}

function button(label, className) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = label;
  return element;
}

// The message's toolbar with the tools in *allowed* (a Set) shown; *author* is
// the name the buttons' labels use; onTool(name, button) for a click. Returns
// the toolbar, or null when no tool is allowed (it is then removed).
export function drawToolbar(item, allowed, { author, own, onTool }) {
  const meta = item.querySelector(".chatroom__meta");
  let bar = meta.querySelector(".chatroom__tools");
  if (!allowed.size) {
    if (bar) {
      meta.removeChild(bar);
    }
    return null;
  }
  if (!bar) {
    bar = document.createElement("div");
    bar.className = "chatroom__tools";
    bar.setAttribute("role", "toolbar");
    for (const name of TOOLS) {
      const tool = button(LABELS[name], CLASSES[name]);
      tool.dataset.tool = name;
      tool.addEventListener("click", () => onTool(name, tool));
      bar.appendChild(tool);
    }
    bar.addEventListener("keydown", (event) => moveInToolbar(bar, event));
    meta.appendChild(bar);
  }
  bar.setAttribute("aria-label", own ? "Your message" : "Message from " + author);
  const whose = own ? "your message" : "the message from " + author;
  const names = {
    reply: "Reply to " + (own ? "your message" : author),
    react: "React to " + whose,
    edit: "Edit " + whose,
    delete: "Delete " + whose,
  };
  let first = null;
  let focusable = null;
  for (const tool of Array.from(bar.children)) {
    const name = tool.dataset.tool;
    tool.hidden = !allowed.has(name);
    tool.setAttribute("aria-label", names[name]);
    if (!tool.hidden) {
      first = first || tool;
      if (tool.tabIndex === 0 && !focusable) {
        focusable = tool;
      }
    }
  }
  // One Tab stop: the last one used, or the first shown.
  for (const tool of Array.from(bar.children)) {
    tool.tabIndex = tool === (focusable || first) ? 0 : -1;
  }
  return bar;
}

function moveInToolbar(bar, event) {
  const tools = Array.from(bar.children).filter((tool) => !tool.hidden);
  const at = tools.indexOf(document.activeElement);
  if (at === -1) {
    return;
  }
  let next = null;
  if (event.key === "ArrowRight") {
    next = (at + 1) % tools.length;
  } else if (event.key === "ArrowLeft") {
    next = (at - 1 + tools.length) % tools.length;
  } else if (event.key === "Home") {
    next = 0;
  } else if (event.key === "End") {
    next = tools.length - 1;
  } else {
    return;
  }
  event.preventDefault();
  for (const tool of tools) {
    tool.tabIndex = -1;
  }
  tools[next].tabIndex = 0;
  tools[next].focus();
}

let editors = 0;

// Edit a message in place: a text box instead of its text. onSave(text) and
// onCancel() are called; the caller closes it (close()).
export class Editor {
  constructor(item, textElement, text, { label = "Edit your message", maxLength = null,
                                         onSave, onCancel }) {
    editors += 1;
    this.item = item;
    this.textElement = textElement;
    const form = document.createElement("form");
    form.className = "chatroom__editor";
    form.setAttribute("data-chatroom-editor", "");
    const id = "chatroom-edit-" + editors;
    const caption = document.createElement("label");
    caption.className = "chatroom__label";
    caption.htmlFor = id;
    caption.textContent = label;
    const input = document.createElement("textarea");
    input.className = "chatroom__edit-input";
    input.id = id;
    input.rows = Math.min(8, Math.max(2, text.split("\n").length));
    input.value = text;
    if (maxLength) {
      input.maxLength = maxLength;
    }
    const hint = document.createElement("span");
    hint.className = "chatroom__edit-hint";
    hint.id = id + "-hint";
    hint.textContent = "Enter saves, Escape cancels";
    input.setAttribute("aria-describedby", hint.id);
    const row = document.createElement("div");
    row.className = "chatroom__edit-actions";
    const save = button("Save", "chatroom__small chatroom__edit-save");
    save.type = "submit";
    const cancel = button("Cancel", "chatroom__small chatroom__edit-cancel");
    row.appendChild(hint);
    row.appendChild(save);
    row.appendChild(cancel);
    form.appendChild(caption);
    form.appendChild(input);
    form.appendChild(row);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      onSave(input.value);
    });
    cancel.addEventListener("click", () => onCancel());
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        onCancel();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing &&
                 event.keyCode !== 229) {
        event.preventDefault();
        onSave(input.value);
      }
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        onCancel();
      }
    });
    this.form = form;
    this.input = input;
    this.save = save;
    textElement.hidden = true;
    item.insertBefore(form, textElement.nextSibling);
    item.classList.add("chatroom__msg--editing");
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  // While the edit is on its way: nothing is disabled (that would take the
  // focus away), a second save is ignored.
  busy(on) {
    this.input.readOnly = on;
    setBusy(this.save, on);
    if (on) {
      this.form.setAttribute("aria-busy", "true");
    } else {
      this.form.removeAttribute("aria-busy");
    }
  }

  get isBusy() {
    return this.form.getAttribute("aria-busy") === "true";
  }

  close() {
    if (this.form.parentNode) {
      this.form.parentNode.removeChild(this.form);
    }
    this.item.classList.remove("chatroom__msg--editing");
    // The text element may have been replaced meanwhile (a live edit).
    const text = this.item.querySelector(".chatroom__text");
    if (text) {
      text.hidden = false;
    }
  }
}

// "Delete this message?" inside the message: onConfirm() and onCancel().
export class Confirm {
  constructor(item, { question = "Delete this message?", onConfirm, onCancel }) {
    this.item = item;
    const box = document.createElement("div");
    box.className = "chatroom__confirm";
    box.setAttribute("role", "group");
    box.setAttribute("data-chatroom-confirm", "");
    const text = document.createElement("span");
    text.className = "chatroom__confirm-text";
    text.id = "chatroom-confirm-" + (++editors);
    text.textContent = question;
    box.setAttribute("aria-labelledby", text.id);
    const yes = button("Delete", "chatroom__small chatroom__confirm-delete");
    const no = button("Cancel", "chatroom__small chatroom__confirm-cancel");
    yes.addEventListener("click", () => onConfirm());
    no.addEventListener("click", () => onCancel());
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        onCancel();
      }
    });
    box.appendChild(text);
    box.appendChild(yes);
    box.appendChild(no);
    item.appendChild(box);
    this.box = box;
    this.yes = yes;
    this.no = no;
    no.focus();
  }

  busy(on) {
    setBusy(this.yes, on);
  }

  get isBusy() {
    return this.yes.getAttribute("aria-disabled") === "true";
  }

  close() {
    if (this.box.parentNode) {
      this.box.parentNode.removeChild(this.box);
    }
  }
}

// The bar above the text box while a reply is being written.
export class ReplyBar {
  // *form*: the composer's form (the bar goes right before it); *input*: its
  // text box (described by the bar); onCancel() for ✕.
  constructor(form, input, { element = null, onCancel }) {
    let bar = element;
    if (!bar) {
      bar = document.createElement("div");
      bar.className = "chatroom__replybar";
      bar.setAttribute("data-chatroom-reply", "");
      bar.hidden = true;
      form.parentNode.insertBefore(bar, form);
    }
    bar.textContent = "";
    if (!bar.id) {
      bar.id = (input.id || "chatroom-input") + "-reply";
    }
    const text = document.createElement("span");
    text.className = "chatroom__replybar-text";
    const close = button("✕", "chatroom__replybar-cancel");
    close.setAttribute("aria-label", "Cancel the reply");
    close.addEventListener("click", () => onCancel());
    bar.appendChild(text);
    bar.appendChild(close);
    this.element = bar;
    this.text = text;
    this.input = input;
    this.quote = null; // {id, client, excerpt}
  }

  show(quote) {
    this.quote = quote;
    this.text.textContent = "";
    this.text.appendChild(document.createTextNode("Replying to "));
    const name = document.createElement("strong");
    name.textContent = quote.client || "a message";
    this.text.appendChild(name);
    if (quote.excerpt) {
      this.text.appendChild(document.createTextNode(": " + quote.excerpt));
    }
    this.element.hidden = false;
    const described = (this.input.getAttribute("aria-describedby") || "").split(/\s+/)
      .filter((id) => id && id !== this.element.id);
    described.push(this.element.id);
    this.input.setAttribute("aria-describedby", described.join(" "));
  }

  hide() {
    this.quote = null;
    this.element.hidden = true;
    this.text.textContent = "";
    const described = (this.input.getAttribute("aria-describedby") || "").split(/\s+/)
      .filter((id) => id && id !== this.element.id);
    if (described.length) {
      this.input.setAttribute("aria-describedby", described.join(" "));
    } else {
      this.input.removeAttribute("aria-describedby");
    }
  }
}

// A message's quote of the message it answers: a button that goes there.
export function drawQuote(item, quote, { onJump, before }) {
  let element = item.querySelector(".chatroom__quote");
  if (!quote) {
    if (element) {
      element.parentNode.removeChild(element);
    }
    return;
  }
  if (!element) {
    element = document.createElement("button");
    element.type = "button";
    element.className = "chatroom__quote";
    element.addEventListener("click", () => onJump(element.dataset.replyTo));
    item.insertBefore(element, before);
  }
  element.dataset.replyTo = quote.id;
  element.textContent = "";
  element.classList.toggle("chatroom__quote--deleted", quote.deleted);
  const hidden = document.createElement("span");
  hidden.className = "chatroom__label";
  hidden.textContent = "In reply to ";
  element.appendChild(hidden);
  if (quote.deleted) {
    const gone = document.createElement("span");
    gone.className = "chatroom__quote-text";
    gone.textContent = "a deleted message";
    element.appendChild(gone);
    element.title = "The original message was deleted";
    return;
  }
  const name = document.createElement("span");
  name.className = "chatroom__quote-author";
  name.textContent = quote.client || "a message";
  element.appendChild(name);
  if (quote.excerpt) {
    element.appendChild(document.createTextNode(" "));
    const text = document.createElement("span");
    text.className = "chatroom__quote-text";
    text.textContent = quote.excerpt;
    element.appendChild(text);
  }
  element.title = "Show the original message";
}
