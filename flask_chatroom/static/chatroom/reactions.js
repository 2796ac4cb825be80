/* flask-chatroom: a message's reactions on the page. Touches the DOM.
 *
 * Under a message, a bar of chips, one per emoji: "👍 3", pressed
 * (aria-pressed) when this user is one of the three, titled with who reacted.
 * A click toggles this user's reaction ("react" {id, emoji, on}); the
 * acknowledgement's reactions are what the chip then shows.
 * The message's "React" button opens a small picker of the chat's emoji
 * (welcome.reactions) inside the message: arrow keys move between them,
 * Enter or Space picks one, Escape closes it and gives the focus back.
 */

export const SHOWN_NAMES = 10;

// "Ada, Grace and 3 more" for a reaction's user ids; *nameOf(id)* gives a
// name, or null when nobody by that id was seen (the id is shown then).
export function whoReacted(reaction, nameOf) {
  const names = reaction.userIds.slice(0, SHOWN_NAMES).map((id) => nameOf(id) || id);
  const more = reaction.count - names.length;
  if (!names.length) {
    return reaction.count === 1 ? "1 person" : reaction.count + " people";
  }
  return more > 0 ? names.join(", ") + " and " + more + " more" : names.join(", ");
}

// Draw *reactions* (the message state's) under the message *item*, after
// *after* (its text). onToggle(emoji, on, chip) is called for a click.
export function drawReactions(item, reactions, { nameOf, onToggle, after = null,
                                                 enabled = true }) {
  let bar = item.querySelector(".chatroom__reactions");
  if (!reactions.length) {
    if (bar) {
      bar.parentNode.removeChild(bar);
    }
    return;
  }
  if (!bar) {
    bar = document.createElement("div");
    bar.className = "chatroom__reactions";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Reactions");
    item.insertBefore(bar, after ? after.nextSibling : null);
  }
  const chips = new Map();
  for (const chip of Array.from(bar.children)) {
    chips.set(chip.dataset.emoji, chip);
  }
  reactions.forEach((reaction, index) => {
    let chip = chips.get(reaction.emoji);
    chips.delete(reaction.emoji);
    if (!chip) {
      chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chatroom__chip";
      chip.dataset.emoji = reaction.emoji;
      const emoji = document.createElement("span");
      emoji.className = "chatroom__chip-emoji";
      const count = document.createElement("span");
      count.className = "chatroom__chip-count";
      chip.appendChild(emoji);
      chip.appendChild(document.createTextNode(" "));
      chip.appendChild(count);
      chip.addEventListener("click", () => {
        if (chip.getAttribute("aria-busy") !== "true") {
          onToggle(chip.dataset.emoji, chip.getAttribute("aria-pressed") !== "true", chip);
        }
      });
    }
    chip.querySelector(".chatroom__chip-emoji").textContent = reaction.emoji;
    chip.querySelector(".chatroom__chip-count").textContent = String(reaction.count);
    chip.setAttribute("aria-pressed", reaction.me ? "true" : "false");
    chip.dataset.count = String(reaction.count);
    chip.disabled = !enabled;
    const who = whoReacted(reaction, nameOf);
    chip.title = who;
    chip.setAttribute("aria-label", reaction.emoji + " " + reaction.count + ": " + who);
    if (bar.children[index] !== chip) {
      bar.insertBefore(chip, bar.children[index] || null);
    }
  });
  for (const chip of chips.values()) {
    bar.removeChild(chip);
  }
}

// The picker of the chat's emoji, one at a time in the page.
export class EmojiPicker {
  constructor() {
    this.element = null;
    this.opener = null;
    this.onPick = null;
    this.outside = (event) => {
      if (this.element && !this.element.contains(event.target) &&
          !(this.opener && this.opener.contains(event.target))) {
        this.close(false);
      }
    };
  }

  get open() {
    return this.element !== null;
  }

  // Open under *anchor* (inserted after it, inside *item*) with *emojis*; the
  // ones in *mine* are pressed. onPick(emoji, on) for a choice.
  show(item, anchor, opener, emojis, mine, onPick) {
    this.close(false);
    const picker = document.createElement("div");
    picker.className = "chatroom__picker";
    picker.setAttribute("role", "group");
    picker.setAttribute("aria-label", "Pick a reaction");
    picker.setAttribute("data-chatroom-picker", "");
    emojis.forEach((emoji, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "chatroom__pick";
      button.textContent = emoji;
      button.dataset.emoji = emoji;
      button.tabIndex = index === 0 ? 0 : -1;
      const on = mine.has(emoji);
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.setAttribute("aria-label", (on ? "Remove " : "React with ") + emoji);
      button.addEventListener("click", () => {
        const pick = this.onPick;
        this.close(true);
        if (pick) {
          pick(emoji, button.getAttribute("aria-pressed") !== "true");
        }
      });
      picker.appendChild(button);
    });
    picker.addEventListener("keydown", (event) => this.key(event));
    picker.addEventListener("focusout", (event) => {
      if (this.element === picker && event.relatedTarget &&
          !picker.contains(event.relatedTarget)) {
        this.close(false);
      }
    });
    item.insertBefore(picker, anchor ? anchor.nextSibling : null);
    this.element = picker;
    this.opener = opener;
    this.onPick = onPick;
    if (opener) {
      opener.setAttribute("aria-expanded", "true");
    }
    document.addEventListener("mousedown", this.outside, true);
    const first = picker.querySelector("button");
    if (first) {
      first.focus();
    }
  }

  key(event) {
    const buttons = Array.from(this.element.querySelectorAll("button"));
    const at = buttons.indexOf(document.activeElement);
    let next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") {
      next = (at + 1) % buttons.length;
    } else if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
      next = (at - 1 + buttons.length) % buttons.length;
    } else if (event.key === "Home") {
      next = 0;
    } else if (event.key === "End") {
      next = buttons.length - 1;
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      this.close(true);
      return;
    } else {
      return;
    }
    event.preventDefault();
    buttons.forEach((button, index) => {
      button.tabIndex = index === next ? 0 : -1;
    });
    buttons[next].focus();
  }

  // Close it; *refocus*: give the focus back to the button that opened it.
  close(refocus) {
    const picker = this.element;
    if (!picker) {
      return;
    }
    const opener = this.opener;
    this.element = null;
    this.opener = null;
    this.onPick = null;
    document.removeEventListener("mousedown", this.outside, true);
    if (picker.parentNode) {
      picker.parentNode.removeChild(picker);
    }
    if (opener) {
      opener.setAttribute("aria-expanded", "false");
      if (refocus && opener.isConnected) {
        opener.focus();
      }
    }
  }
}
