"""Messages people can act on (issue 15) in a real browser: edit in place (Up
arrow, Enter, Escape, "(edited)"), delete after an inline confirmation, replies
and going to a quoted message that needs older history, reactions from two users,
Markdown formatting drawn safely (with an XSS corpus of Markdown payloads), and
an offline page catching up on every change exactly once; axe-core audits of each
new state in both themes, and the new controls at 320 px.

Each user is a browser context of its own, signed in to the example app (Ada is
a moderator, Grace and Linus are not). Uses tests/test_browser.py's pages
(console errors, page errors and CSP violations are asserted absent).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer, start_server, stop_server
from .test_browser import NETWORK_DOWN, Browsing, Tab, expect, wait_sent
from .test_browser_conversations import audit, axe_script, sign_in

__all__ = ["axe_script"]  # a fixture, used by name

pytestmark = [pytest.mark.browser, pytest.mark.server]

EDITED = re.compile(r"^Edited ")
DELETED = "This message was removed."
PRESSED = "aria-pressed"

# Counts what would show that script ran: a window flag the payloads set, and
# dialogs (alert, confirm) from either the payloads or the widget.
XSS_RECORDER = """
window.__xss = 0;
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The example host app with a third user (Linus) and no rate limits (tests
    post older history quickly), shared by this module's tests: each uses a
    room of its own."""
    live = start_server(
        tmp_path_factory.mktemp("browser-messages"),
        config={"CHATROOM_RATE_LIMITS": None, "TEST_USERS": {"linus": "Linus"}},
    )
    yield live
    stop_server(live)


@pytest.fixture
def browsing(browser: Any) -> Iterator[Browsing]:
    session = Browsing(browser)
    yield session
    session.close()


def user(
    browsing: Browsing, server: LiveServer, name: str, room: str, **options: Any
) -> Tab:
    """*name* signed in, on the full chat page of *room*, online; dialogs are
    recorded (and dismissed) in ``tab.dialogs``."""
    tab = sign_in(browsing, server, name, f"{server.url}/chat/{room}", **options)
    dialogs: list[str] = []
    tab.page.on(
        "dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss())
    )
    tab.dialogs = dialogs  # type: ignore[attr-defined]
    return tab


def message(tab: Tab, text: str) -> Any:
    """The message whose own text (not a quote of it) holds *text*."""
    return tab.log.locator(".chatroom__msg").filter(
        has=tab.page.locator(".chatroom__text", has_text=text)
    )


def shown(tab: Tab, text: str) -> Any:
    """The message holding *text*, once there and stored, found by its id from
    then on (its text may change)."""
    item = message(tab, text)
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-id", re.compile(r"^\w+$"))
    return tab.log.locator(f'.chatroom__msg[data-id="{item.get_attribute("data-id")}"]')


def tool(item: Any, name: str) -> Any:
    """A message's toolbar button whose name starts with *name* (Reply, React,
    Edit, Delete)."""
    return item.locator(".chatroom__tools").get_by_role(
        "button", name=re.compile("^" + name)
    )


def post_many(tab: Tab, room: str, texts: list[str]) -> None:
    """Post *texts* from *tab*'s socket, one after another, acked."""
    tab.page.evaluate(
        """async ([room, texts]) => {
          const socket = window.FlaskChatroom.instances[0].socket;
          for (const text of texts) {
            const ack = await socket.timeout(5000).emitWithAck(
              "message broadcast", {room: room, message: text});
            if (!ack.ok) throw new Error(JSON.stringify(ack));
          }
        }""",
        [room, texts],
    )


def cursor(tab: Tab, room: str) -> Any:
    return tab.page.evaluate(
        "(room) => window.FlaskChatroom.instances[0].features.cursorOf(room)", room
    )


SNAPSHOT = """(log) => [...log.querySelectorAll(".chatroom__msg")].map(item => {
  const text = item.querySelector(".chatroom__text");
  const quote = item.querySelector(".chatroom__quote");
  return {
    author: item.querySelector(".chatroom__author").textContent,
    text: text ? text.textContent : null,
    edited: !!item.querySelector(".chatroom__edited"),
    deleted: item.dataset.deleted === "true",
    quote: quote ? quote.textContent : null,
    chips: [...item.querySelectorAll(".chatroom__chip")].map(
      chip => chip.dataset.emoji + " " + chip.dataset.count),
  };
})"""


def snapshot(tab: Tab) -> list[dict[str, Any]]:
    """What the log shows of each message, the same for every reader."""
    return list(tab.log.evaluate(SNAPSHOT))


def wait_same(a: Tab, b: Tab, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        left, right = snapshot(a), snapshot(b)
        if left == right:
            return left
        if time.monotonic() > deadline:
            assert left == right
        time.sleep(0.1)


def no_horizontal_scroll(tab: Tab, width: int = 320) -> None:
    widths = tab.page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth]"
    )
    assert max(widths) <= width, widths


def drop_connection(tab: Tab) -> None:
    tab.allow = NETWORK_DOWN
    tab.page.evaluate(
        """() => {
          const socket = window.FlaskChatroom.instances[0].socket;
          socket.io.reconnection(false);
          socket.io.engine.close();
        }"""
    )
    expect(tab.root).to_have_attribute("data-state", "reconnecting")


def reconnect(tab: Tab) -> None:
    tab.page.evaluate(
        """() => {
          const socket = window.FlaskChatroom.instances[0].socket;
          socket.io.reconnection(true);
          socket.connect();
        }"""
    )
    expect(tab.root).to_have_attribute("data-state", "online")


# -- edit ---------------------------------------------------------------------------


def test_editing_in_place_with_up_arrow_enter_and_escape(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "edits")
    linus = user(browsing, server, "Linus", "edits")
    grace.send("my first draft")
    wait_sent(grace, "my first draft")
    theirs = shown(linus, "my first draft")

    # Up in the empty text box edits the last own message; Escape cancels.
    grace.input.focus()
    grace.input.press("ArrowUp")
    own = shown(grace, "my first draft")
    editor = own.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("my first draft")
    editor.fill("this is not kept")
    editor.press("Escape")
    expect(own.locator("[data-chatroom-editor]")).to_have_count(0)
    expect(own.locator(".chatroom__text")).to_have_text("my first draft")
    expect(grace.input).to_be_focused()
    expect(own.locator(".chatroom__edited")).to_have_count(0)

    # Up again, a new text, Enter saves: both pages show it, marked edited.
    grace.input.press("ArrowUp")
    expect(editor).to_be_focused()
    editor.fill("my second thoughts")
    editor.press("Enter")
    expect(own.locator("[data-chatroom-editor]")).to_have_count(0)
    expect(grace.input).to_be_focused()
    for item in (own, theirs):
        expect(item.locator(".chatroom__text")).to_have_text("my second thoughts")
        marker = item.locator(".chatroom__edited")
        expect(marker).to_have_text("(edited)")
        expect(marker).to_have_attribute("title", EDITED)
        expect(marker).to_have_attribute("datetime", re.compile(r"^\d{4}-"))

    # Shift+Enter adds a line; the toolbar's Edit button edits too, Save saves.
    tool(own, "Edit").click()
    expect(editor).to_be_focused()
    editor.press("End")
    editor.press("Shift+Enter")
    editor.press_sequentially("and a second line")
    own.get_by_role("button", name="Save").click()
    expect(theirs.locator(".chatroom__text")).to_have_text(
        "my second thoughts\nand a second line"
    )
    # Focus goes back to the button that started it.
    expect(tool(own, "Edit")).to_be_focused()

    # Only the author (and moderators) may edit; a reader gets Reply and React.
    expect(tool(theirs, "Reply")).to_have_count(1)
    expect(tool(theirs, "React")).to_have_count(1)
    expect(tool(theirs, "Edit")).to_be_hidden()
    expect(tool(theirs, "Delete")).to_be_hidden()
    linus.input.focus()
    linus.input.press("ArrowUp")  # Linus has no message of his own here
    expect(linus.log.locator("[data-chatroom-editor]")).to_have_count(0)

    # A moderator edits anyone's message.
    ada = user(browsing, server, "Ada", "edits")
    item = shown(ada, "and a second line")
    tool(item, "Edit").click()
    box = item.get_by_role("textbox", name="Edit the message from Grace")
    box.fill("tidied by a moderator")
    box.press("Enter")
    for tab in (ada, grace, linus):
        expect(
            shown(tab, "tidied by a moderator").locator(".chatroom__edited")
        ).to_have_count(1)
    assert grace.dialogs == linus.dialogs == ada.dialogs == []  # type: ignore[attr-defined]
    browsing.assert_clean()


def test_the_toolbar_is_one_tab_stop_moved_through_with_arrow_keys(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "toolbar")
    grace.send("tools by keyboard")
    wait_sent(grace, "tools by keyboard")
    item = shown(grace, "tools by keyboard")
    reply = tool(item, "Reply")
    reply.focus()
    bar = item.locator(".chatroom__tools")
    expect(bar).to_have_attribute("role", "toolbar")
    # The toolbar shows while it holds the focus.
    assert float(bar.evaluate("el => getComputedStyle(el).opacity")) == 1
    names = ["Reply", "React", "Edit", "Delete"]
    for name in names[1:]:
        grace.page.keyboard.press("ArrowRight")
        expect(tool(item, name)).to_be_focused()
    grace.page.keyboard.press("ArrowRight")
    expect(reply).to_be_focused()  # it wraps around
    grace.page.keyboard.press("End")
    expect(tool(item, "Delete")).to_be_focused()
    # Visible focus, and one Tab stop: only the focused tool has tabindex 0.
    focused = grace.page.evaluate(
        "() => getComputedStyle(document.activeElement).outlineStyle"
    )
    assert focused != "none"
    assert bar.locator('[tabindex="0"]').count() == 1
    grace.page.keyboard.press("Enter")
    expect(item.get_by_role("group", name="Delete this message?")).to_be_visible()
    grace.page.keyboard.press("Escape")
    expect(item.get_by_role("group", name="Delete this message?")).to_have_count(0)
    expect(tool(item, "Delete")).to_be_focused()
    browsing.assert_clean()


# -- delete -------------------------------------------------------------------------


def test_deleting_asks_inside_the_message_first(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "deletes")
    linus = user(browsing, server, "Linus", "deletes")
    grace.send("something regrettable")
    wait_sent(grace, "something regrettable")
    own = shown(grace, "something regrettable")
    message_id = own.get_attribute("data-id")
    theirs = shown(linus, "something regrettable")

    delete = tool(own, "Delete")
    expect(delete).to_have_accessible_name("Delete your message")
    delete.click()
    question = own.get_by_role("group", name="Delete this message?")
    expect(question).to_be_visible()
    expect(question.get_by_role("button", name="Cancel", exact=True)).to_be_focused()
    # Cancel (here with Escape) leaves the message as it was.
    grace.page.keyboard.press("Escape")
    expect(question).to_have_count(0)
    expect(delete).to_be_focused()
    expect(theirs.locator(".chatroom__text")).to_have_text("something regrettable")

    delete.click()
    question.get_by_role("button", name="Delete", exact=True).click()
    for tab in (grace, linus):
        item = tab.log.locator(f'[data-id="{message_id}"]')
        expect(item.locator(".chatroom__text")).to_have_text(DELETED)
        expect(item).to_have_attribute("data-deleted", "true")
        expect(item.locator(".chatroom__tools")).to_have_count(0)
    expect(grace.log.locator(f'[data-id="{message_id}"]')).to_be_focused()
    # Not window.confirm: no dialog was ever opened.
    assert grace.dialogs == []  # type: ignore[attr-defined]

    # A moderator deletes others' messages, after the same question.
    ada = user(browsing, server, "Ada", "deletes")
    linus.send("spam spam spam")
    wait_sent(linus, "spam spam spam")
    item = shown(ada, "spam spam spam")
    tool(item, "Delete").click()
    expect(tool(item, "Delete")).to_have_accessible_name(
        "Delete the message from Linus"
    )
    item.get_by_role("group", name="Delete this message?").get_by_role(
        "button", name="Delete", exact=True
    ).click()
    expect(linus.log.locator(".chatroom__text").last).to_have_text(DELETED)
    assert ada.dialogs == []  # type: ignore[attr-defined]
    browsing.assert_clean()


# -- replies --------------------------------------------------------------------------


def test_a_reply_quotes_its_original_and_goes_there_through_older_history(
    browsing: Browsing, server: LiveServer
) -> None:
    room = "replies"
    grace = user(browsing, server, "Grace", room)
    grace.send("the original question")
    wait_sent(grace, "the original question")
    original = shown(grace, "the original question")
    original_id = original.get_attribute("data-id")
    # More than a page of history after it (CHATROOM_HISTORY_LIMIT is 50).
    post_many(grace, room, [f"filler {n:02d}" for n in range(70)])
    expect(message(grace, "filler 69")).to_have_count(1)

    # Reply: the bar above the text box; Escape and ✕ cancel it.
    tool(original, "Reply").click()
    bar = grace.part("reply")
    expect(bar).to_be_visible()
    expect(bar).to_have_text(re.compile(r"^Replying to Grace: the original question"))
    expect(grace.input).to_be_focused()
    expect(grace.input).to_have_attribute(
        "aria-describedby", re.compile(bar.get_attribute("id") or "-")
    )
    grace.input.press("Escape")
    expect(bar).to_be_hidden()
    tool(original, "Reply").click()
    bar.get_by_role("button", name="Cancel the reply").click()
    expect(bar).to_be_hidden()
    expect(grace.input).to_be_focused()
    tool(original, "Reply").click()
    grace.send("the answer, at last")
    expect(bar).to_be_hidden()
    wait_sent(grace, "the answer, at last")
    reply = shown(grace, "the answer, at last")
    expect(reply.locator(".chatroom__quote")).to_have_text(
        re.compile("Grace.*the original question")
    )

    # A reader who comes later has only the latest page: going to the original
    # loads older history until it is in, then shows it.
    linus = user(browsing, server, "Linus", room)
    theirs = shown(linus, "the answer, at last")
    expect(message(linus, "the original question")).to_have_count(0)
    quote = theirs.locator(".chatroom__quote")
    expect(quote).to_have_attribute("data-reply-to", original_id or "-")
    quote.click()
    target = linus.log.locator(f'[data-id="{original_id}"]')
    expect(target).to_have_count(1)
    expect(target).to_be_focused()
    expect(target).to_have_class(re.compile(r"\bchatroom__msg--highlight\b"))
    expect(target).to_be_in_viewport()
    expect(target).not_to_have_class(
        re.compile(r"\bchatroom__msg--highlight\b"), timeout=5000
    )

    # The original edited live: its quotes follow; deleted: they say so.
    tool(original, "Edit").click()
    box = original.get_by_role("textbox", name="Edit your message")
    box.fill("the original    question,\n\nrephrased")
    box.press("Enter")
    for tab in (grace, linus):
        expect(
            message(tab, "the answer, at last").locator(".chatroom__quote")
        ).to_have_text(re.compile("the original question, rephrased$"))
    # Linus starts a reply to it too; its bar goes, with a word, when the
    # original is deleted.
    tool(target, "Reply").click()
    expect(linus.part("reply")).to_have_text(re.compile("question, rephrased"))
    tool(original, "Delete").click()
    original.get_by_role("button", name="Delete", exact=True).click()
    expect(linus.part("reply")).to_be_hidden()
    expect(linus.part("error")).to_have_text(
        "The message you were replying to was deleted."
    )
    for tab in (grace, linus):
        quoted = message(tab, "the answer, at last").locator(".chatroom__quote")
        expect(quoted).to_have_text(re.compile("deleted"))
        expect(quoted).to_have_class(re.compile(r"\bchatroom__quote--deleted\b"))
    browsing.assert_clean()


def test_a_quote_of_a_message_not_in_history_says_so(
    browsing: Browsing, server: LiveServer
) -> None:
    room = "lost-replies"
    grace = user(browsing, server, "Grace", room)
    post_many(grace, room, [f"line {n:02d}" for n in range(60)])
    linus = user(browsing, server, "Linus", room)
    expect(linus.messages()).to_have_count(50)
    # A reply to a message this room never had (as a server might send for a
    # message purged since).
    linus.hand(
        "message receive",
        {
            "id": "f" * 32,
            "room": room,
            "seq": 10_000,
            "client": "Grace",
            "user_id": "grace",
            "message": "about something long gone",
            "ts": int(time.time() * 1000),
            "reply_to": {"id": "0" * 32, "client": "Grace", "excerpt": "long gone"},
        },
    )
    shown(linus, "about something long gone").locator(".chatroom__quote").click()
    expect(linus.part("error")).to_have_text(re.compile("no longer in this room"))
    # It loaded every older page on the way.
    expect(linus.messages()).to_have_count(61)
    browsing.assert_clean()


# -- reactions -----------------------------------------------------------------------


def test_reactions_from_two_users(browsing: Browsing, server: LiveServer) -> None:
    grace = user(browsing, server, "Grace", "reactions")
    linus = user(browsing, server, "Linus", "reactions")
    grace.send("react to me")
    wait_sent(grace, "react to me")
    own = shown(grace, "react to me")
    theirs = shown(linus, "react to me")

    # Linus opens the picker with the keyboard, moves right and picks ❤️.
    react = tool(theirs, "React")
    react.focus()
    linus.page.keyboard.press("Enter")
    picker = theirs.locator("[data-chatroom-picker]")
    expect(picker).to_be_visible()
    expect(react).to_have_attribute("aria-expanded", "true")
    picks = picker.get_by_role("button")
    expect(picks).to_have_count(8)
    expect(picks.first).to_be_focused()
    linus.page.keyboard.press("ArrowRight")
    expect(picks.nth(1)).to_be_focused()
    expect(picks.nth(1)).to_have_text("❤️")
    linus.page.keyboard.press("Enter")
    expect(picker).to_have_count(0)
    expect(react).to_be_focused()

    def chip(item: Any, emoji: str) -> Any:
        return item.locator(f'.chatroom__chip[data-emoji="{emoji}"]')

    expect(chip(theirs, "❤️")).to_have_text("❤️ 1")
    expect(chip(theirs, "❤️")).to_have_attribute(PRESSED, "true")
    expect(chip(own, "❤️")).to_have_text("❤️ 1")
    expect(chip(own, "❤️")).to_have_attribute(PRESSED, "false")
    expect(chip(own, "❤️")).to_have_attribute("title", "Linus")

    # Grace adds hers by clicking the chip.
    chip(own, "❤️").click()
    for item in (own, theirs):
        expect(chip(item, "❤️")).to_have_text("❤️ 2")
    expect(chip(own, "❤️")).to_have_attribute(PRESSED, "true")
    expect(chip(theirs, "❤️")).to_have_attribute(PRESSED, "true")
    expect(chip(theirs, "❤️")).to_have_attribute("title", re.compile("Grace"))
    expect(chip(theirs, "❤️")).to_have_attribute("title", re.compile("Linus"))

    # And 👍 from the picker, opened with the mouse; Escape closes it unchanged.
    tool(own, "React").click()
    expect(own.locator("[data-chatroom-picker]")).to_be_visible()
    grace.page.keyboard.press("Escape")
    expect(own.locator("[data-chatroom-picker]")).to_have_count(0)
    expect(tool(own, "React")).to_be_focused()
    tool(own, "React").click()
    own.locator("[data-chatroom-picker]").get_by_role(
        "button", name="React with 👍"
    ).click()
    expect(chip(theirs, "👍")).to_have_text("👍 1")
    expect(chip(theirs, "👍")).to_have_attribute(PRESSED, "false")

    # Linus takes his ❤️ back.
    chip(theirs, "❤️").click()
    for item in (own, theirs):
        expect(chip(item, "❤️")).to_have_text("❤️ 1")
    expect(chip(theirs, "❤️")).to_have_attribute(PRESSED, "false")
    expect(chip(own, "❤️")).to_have_attribute(PRESSED, "true")
    # Grace takes hers back: the chip goes.
    chip(own, "❤️").click()
    for item in (own, theirs):
        expect(chip(item, "❤️")).to_have_count(0)
        expect(item.locator(".chatroom__chip")).to_have_count(1)

    # A page opened now shows the same, with its own pressed state.
    again = user(browsing, server, "Linus", "reactions")
    later = shown(again, "react to me")
    expect(chip(later, "👍")).to_have_text("👍 1")
    expect(chip(later, "👍")).to_have_attribute(PRESSED, "false")
    browsing.assert_clean()


# -- formatting ------------------------------------------------------------------------

FORMATTED = [
    ("**bold** and *italic* and ~~gone~~", "strong", "bold"),
    ("some `inline code` here", "code", "inline code"),
    ("```\ndef f():\n    return 1\n```", "pre", "def f():\n    return 1"),
    ("> a quoted line", "blockquote", "a quoted line"),
    ("- one\n- two\n- three", "ul", "one"),
    ("1. first\n2. second", "ol", "first"),
    ("see [the site](https://example.com/page)", "a", "the site"),
]

# Markdown-specific attempts at running script: none may run, and no link may
# point anywhere but http(s).
XSS = [
    "[click](javascript:window.__xss=1)",
    "[click](JaVaScRiPt:window.__xss=1)",
    "[click](javascript&#58;window.__xss=1)",
    "[click](&#106;avascript:window.__xss=1)",
    "[click](&#x6A;&#x61;vascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](DATA:text/html,<script>alert(1)</script>)",
    "[click](vbscript:msgbox(1))",
    "[click](VBScript:msgbox(1))",
    "[click]( javascript:alert(1) )",
    "[click](<javascript:alert(1)>)",
    '[click](https://example.com "title" onclick="window.__xss=1")',
    '[click](https://example.com/"><img src=x onerror=window.__xss=1>)',
    "<javascript:alert(1)>",
    '<https://example.com/"onmouseover="window.__xss=1>',
    "<https://example.com/'onmouseover='window.__xss=1'>",
    "`<script>window.__xss=1</script>`",
    "`<img src=x onerror=window.__xss=1>`",
    "```\n<script>window.__xss=1</script>\n<img src=x onerror=alert(1)>\n```",
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=1">',
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">raw link</a>',
    "![image](x onerror=alert(1))",
    "![image](javascript:alert(1))",
    "***nested _emphasis **with [a link](javascript:alert(1))**_***",
    "**<img src=x onerror=alert(1)>** _<script>alert(1)</script>_",
    "> <script>alert(1)</script>\n> [q](javascript:alert(1))",
    "- [l](javascript:alert(1))\n- `<b onmouseover=alert(1)>`",
    "[a]: javascript:alert(1)\n\n[a]",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<!-- <script>alert(1)</script> -->",
]
ALLOWED_TAGS = {
    "p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "span",
}  # fmt: skip


def test_formatting_is_drawn_and_script_never_runs(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "formatting")
    linus = user(browsing, server, "Linus", "formatting")
    for tab in (grace, linus):
        tab.page.evaluate(XSS_RECORDER)
    for text, _, _ in FORMATTED:
        grace.send(text)
    for tab in (grace, linus):
        expect(tab.messages()).to_have_count(len(FORMATTED))
    for tab in (grace, linus):
        texts = tab.log.locator(".chatroom__text")
        for index, (_, tag, inner) in enumerate(FORMATTED):
            element = texts.nth(index).locator(tag).first
            expect(element).to_have_count(1)
            assert inner in (element.text_content() or "")
        link = tab.log.locator(".chatroom__text a")
        expect(link).to_have_attribute("href", "https://example.com/page")
        expect(link).to_have_attribute("rel", "nofollow noopener noreferrer ugc")
        expect(link).to_have_attribute("target", "_blank")
        # Code blocks keep their lines; plain paragraphs do not show markup.
        pre = tab.log.locator(".chatroom__text pre")
        assert pre.evaluate("el => getComputedStyle(el).whiteSpace") == "pre"
        assert "**" not in (texts.nth(0).text_content() or "")
    # Both themes style them.
    for theme in ("dark", "light"):
        grace.page.evaluate(
            """(theme) => document.querySelectorAll("body, [data-theme]")
                  .forEach(el => { el.dataset.theme = theme; })""",
            theme,
        )
        code = grace.log.locator(".chatroom__text code").first
        assert code.evaluate("el => getComputedStyle(el).fontFamily") != ""
        assert (
            code.evaluate("el => getComputedStyle(el).backgroundColor")
            != "rgba(0, 0, 0, 0)"
        )

    # The XSS corpus.
    start = grace.messages().count()
    for text in XSS:
        grace.send(text)
    total = start + len(XSS)
    for tab in (grace, linus):
        expect(tab.messages()).to_have_count(total)
        expect(tab.log.locator('[data-state="pending"]')).to_have_count(0)
    for tab in (grace, linus):
        for link in tab.log.locator(".chatroom__text a").all():
            link.hover()
        hrefs = tab.log.locator(".chatroom__text a").evaluate_all(
            "els => els.map(a => a.getAttribute('href'))"
        )
        assert all(re.match(r"^https?://", href) for href in hrefs), hrefs
        rels = set(
            tab.log.locator(".chatroom__text a").evaluate_all(
                "els => els.map(a => a.getAttribute('rel') + ' ' + a.target)"
            )
        )
        assert rels == {"nofollow noopener noreferrer ugc _blank"}
        tags = tab.log.evaluate(
            """el => [...new Set([...el.querySelectorAll('.chatroom__text *')]
                 .map(e => e.localName))]"""
        )
        assert set(tags) <= ALLOWED_TAGS, tags
        attributes = tab.log.evaluate(
            """el => [...new Set([...el.querySelectorAll('.chatroom__text *')]
                 .flatMap(e => e.getAttributeNames()))]"""
        )
        assert set(attributes) <= {"class", "href", "rel", "target", "start"}
        assert tab.log.locator("img, script, svg, iframe").count() == 0
        assert tab.page.evaluate("window.__xss") == 0
        assert tab.dialogs == []  # type: ignore[attr-defined]
    # The text of each stays readable: the script-looking parts are text.
    expect(
        message(linus, "window.__xss=1</script>").first.locator(".chatroom__text")
    ).to_contain_text("<script>")
    browsing.assert_clean()


# -- exactly once --------------------------------------------------------------------


def test_a_page_that_was_offline_catches_up_on_every_change_exactly_once(
    browsing: Browsing, server: LiveServer
) -> None:
    room = "offline"
    grace = user(browsing, server, "Grace", room)
    linus = user(browsing, server, "Linus", room)
    for text in ("to be edited", "to be deleted", "to be reacted to"):
        grace.send(text)
        wait_sent(grace, text)
    linus.send("linus was here")
    wait_sent(linus, "linus was here")
    reacted = shown(linus, "to be reacted to")
    tool(reacted, "React").click()
    reacted.locator("[data-chatroom-picker]").get_by_role(
        "button", name="React with 👍"
    ).click()
    expect(shown(grace, "to be reacted to").locator(".chatroom__chip")).to_have_text(
        "👍 1"
    )
    wait_same(grace, linus)

    # Linus's connection drops; Grace edits, deletes and reacts meanwhile.
    drop_connection(linus)
    item = shown(grace, "to be edited")
    tool(item, "Edit").click()
    box = item.get_by_role("textbox", name="Edit your message")
    box.fill("edited while **you** were away")
    box.press("Enter")
    expect(item.locator(".chatroom__edited")).to_have_count(1)
    item = shown(grace, "to be deleted")
    tool(item, "Delete").click()
    item.get_by_role("button", name="Delete", exact=True).click()
    expect(grace.log.locator('[data-deleted="true"]')).to_have_count(1)
    item = shown(grace, "to be reacted to")
    item.locator('.chatroom__chip[data-emoji="👍"]').click()
    expect(item.locator('.chatroom__chip[data-emoji="👍"]')).to_have_text("👍 2")
    tool(item, "React").click()
    item.locator("[data-chatroom-picker]").get_by_role(
        "button", name="React with 🎉"
    ).click()
    expect(item.locator(".chatroom__chip")).to_have_count(2)
    grace.send("said while you were away")
    wait_sent(grace, "said while you were away")
    expect(message(linus, "said while you were away")).to_have_count(0)

    # Back: the same log as Grace's, and the same cursor.
    reconnect(linus)
    log = wait_same(grace, linus)
    assert [entry["text"] for entry in log] == [
        "edited while you were away",
        DELETED,
        "to be reacted to",
        "linus was here",
        "said while you were away",
    ]
    assert [entry["edited"] for entry in log] == [True, False, False, False, False]
    assert [entry["deleted"] for entry in log] == [False, True, False, False, False]
    assert log[2]["chips"] == ["🎉 1", "👍 2"]
    expect(shown(linus, "edited while").locator(".chatroom__text strong")).to_have_text(
        "you"
    )
    # Linus's own 👍 is still his (pressed), Grace's 🎉 is not.
    chips = shown(linus, "to be reacted to").locator(".chatroom__chip")
    expect(chips.filter(has_text="👍")).to_have_attribute(PRESSED, "true")
    expect(chips.filter(has_text="🎉")).to_have_attribute(PRESSED, "false")
    seq = cursor(grace, room)
    assert seq == 5  # 👍, the edit, the deletion, 👍 and 🎉: no gaps
    assert cursor(linus, room) == seq

    # Live changes go on from there, each applied once.
    item = shown(grace, "linus was here")
    tool(item, "React").click()
    item.locator("[data-chatroom-picker]").get_by_role(
        "button", name="React with 👀"
    ).click()
    expect(shown(linus, "linus was here").locator(".chatroom__chip")).to_have_text(
        "👀 1"
    )
    assert cursor(linus, room) == seq + 1
    # A change delivered again (or late, out of order) changes nothing.
    edited_id = shown(linus, "edited while").get_attribute("data-id")
    linus.hand(
        "message edited",
        {
            "id": edited_id,
            "room": room,
            "message": "a stale copy",
            "edited_ts": 1,
            "change_seq": 1,
        },
    )
    linus.hand(
        "reactions",
        {
            "id": shown(linus, "linus was here").get_attribute("data-id"),
            "room": room,
            "reactions": [],
            "change_seq": seq + 1,
            "user_id": "grace",
            "emoji": "👀",
            "on": False,
        },
    )
    wait_same(grace, linus)
    expect(shown(linus, "edited while").locator(".chatroom__text")).to_have_text(
        "edited while you were away"
    )
    assert cursor(linus, room) == seq + 1
    browsing.assert_clean()


LOSE_ONE_EDIT = """() => {
  const socket = window.FlaskChatroom.instances[0].socket;
  const [apply] = socket.listeners("message edited");
  socket.off("message edited", apply);
  window.__lost = 0;
  socket.on("message edited", (data) => {
    if (window.__lost++ === 0) return;  // the first one never arrives
    apply(data);
  });
  window.__asked = [];
  const timeout = socket.timeout.bind(socket);
  socket.timeout = (ms) => {
    const timed = timeout(ms);
    const emit = timed.emit.bind(timed);
    timed.emit = (event, ...args) => {
      window.__asked.push(event);
      return emit(event, ...args);
    };
    return timed;
  };
}"""


def test_a_change_lost_on_the_way_is_fetched_and_applied_in_order(
    browsing: Browsing, server: LiveServer
) -> None:
    room = "lost-change"
    grace = user(browsing, server, "Grace", room)
    linus = user(browsing, server, "Linus", room)
    for text in ("edit me", "react to me"):
        grace.send(text)
        wait_sent(grace, text)
    edited, reacted = shown(linus, "edit me"), shown(linus, "react to me")
    linus.page.evaluate(LOSE_ONE_EDIT)

    item = shown(grace, "edit me")
    tool(item, "Edit").click()
    box = item.get_by_role("textbox", name="Edit your message")
    box.fill("edited, but the news got lost")
    box.press("Enter")
    mine = shown(grace, "react to me")
    tool(mine, "React").click()
    mine.locator("[data-chatroom-picker]").get_by_role(
        "button", name="React with ✅"
    ).click()
    expect(mine.locator(".chatroom__chip")).to_have_text("✅ 1")
    # Linus got the reaction (change 2) but not the edit (change 1): after a
    # moment the page asks for the changes after its cursor, and applies both.
    expect(reacted.locator(".chatroom__chip")).to_have_text("✅ 1")
    expect(edited.locator(".chatroom__text")).to_have_text(
        "edited, but the news got lost"
    )
    assert linus.page.evaluate("window.__lost") == 1  # its event never came
    assert "changes" in linus.page.evaluate("window.__asked")
    assert cursor(linus, room) == cursor(grace, room) == 2
    wait_same(grace, linus)
    browsing.assert_clean()


def test_a_change_that_overtakes_its_message_waits_for_it(
    browsing: Browsing, server: LiveServer
) -> None:
    # With several server processes, a change made on one can reach a page
    # before the message it changes, posted on another: handed to the page here
    # in that order.
    room = "overtaken"
    grace = user(browsing, server, "Grace", room)
    grace.send("already here")
    wait_sent(grace, "already here")
    seq = int(shown(grace, "already here").get_attribute("data-seq") or 0)
    start = cursor(grace, room)
    assert start == 0
    now = int(time.time() * 1000)
    new_id, old_id = "e" * 32, "d" * 32
    grace.hand(
        "reactions",
        {
            "id": new_id,
            "room": room,
            "seq": seq + 1,
            "change_seq": start + 1,
            "reactions": [{"emoji": "👀", "count": 1, "user_ids": ["linus"]}],
            "user_id": "linus",
            "emoji": "👀",
            "on": True,
        },
    )
    # A change to an older message this page does not hold is dropped: that
    # message comes as it is now when it is loaded.
    grace.hand(
        "message edited",
        {
            "id": old_id,
            "room": room,
            "seq": seq - 1,
            "change_seq": start + 2,
            "message": "not kept",
            "edited_ts": now,
        },
    )
    assert cursor(grace, room) == start + 2
    grace.hand(
        "message receive",
        {
            "id": new_id,
            "room": room,
            "seq": seq + 1,
            "client": "Linus",
            "user_id": "linus",
            "message": "I was overtaken",
            "ts": now,
        },
    )
    item = shown(grace, "I was overtaken")
    expect(item.locator(".chatroom__chip")).to_have_text("👀 1")
    # Who reacted, by the name its author's message gave.
    expect(item.locator(".chatroom__chip")).to_have_attribute("title", "Linus")
    grace.hand(
        "history",
        {
            "room": room,
            "messages": [
                {
                    "id": old_id,
                    "room": room,
                    "seq": seq - 1 if seq > 1 else 0,
                    "client": "Linus",
                    "user_id": "linus",
                    "message": "as it is now",
                    "ts": now,
                }
            ],
            "has_more": False,
            "since": seq + 1,
            "change_seq": start + 2,
        },
    )
    old = shown(grace, "as it is now")
    expect(old.locator(".chatroom__edited")).to_have_count(0)
    browsing.assert_clean()


# -- accessibility and narrow screens ------------------------------------------------


def test_new_states_pass_axe_in_both_themes(
    browsing: Browsing, server: LiveServer, axe_script: Path
) -> None:
    # axe-core is injected, so these pages do without the CSP.
    grace = user(browsing, server, "Grace", "audit", bypass_csp=True)
    linus = user(browsing, server, "Linus", "audit", bypass_csp=True)
    grace.send(
        "**formatted** with `code`, a [link](https://example.com) and\n\n> a quote"
    )
    grace.send("```\nprint('a code block')\n```\n- and\n- a list")
    wait_sent(grace, "a code block")
    own = shown(grace, "a code block")
    theirs = shown(linus, "a code block")
    tool(theirs, "React").click()
    theirs.locator("[data-chatroom-picker]").get_by_role(
        "button", name="React with 🎉"
    ).click()
    expect(own.locator(".chatroom__chip")).to_have_text("🎉 1")
    audit(grace, axe_script, "formatted messages and reactions")

    tool(own, "Reply").focus()
    grace.page.keyboard.press("ArrowRight")
    audit(grace, axe_script, "message toolbar")

    tool(own, "React").click()
    expect(own.locator("[data-chatroom-picker]")).to_be_visible()
    audit(grace, axe_script, "reaction picker open")
    grace.page.keyboard.press("Escape")

    tool(own, "Reply").click()
    expect(grace.part("reply")).to_be_visible()
    audit(grace, axe_script, "reply bar")
    grace.input.press("Escape")

    tool(own, "Edit").click()
    expect(own.locator("[data-chatroom-editor]")).to_be_visible()
    audit(grace, axe_script, "editing")
    own.get_by_role("textbox", name="Edit your message").press("Escape")

    tool(own, "Delete").click()
    expect(own.get_by_role("group", name="Delete this message?")).to_be_visible()
    audit(grace, axe_script, "confirm delete")
    grace.page.keyboard.press("Escape")

    grace.send("a reply to be quoted")
    wait_sent(grace, "a reply to be quoted")
    tool(own, "Reply").click()
    grace.send("quoting it")
    expect(wait_sent(grace, "quoting it").locator(".chatroom__quote")).to_be_visible()
    audit(grace, axe_script, "a reply with its quote")
    browsing.assert_clean()


def test_the_new_controls_fit_a_320_px_screen(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "narrow")
    linus = user(
        browsing, server, "Linus", "narrow", viewport={"width": 320, "height": 568}
    )
    grace.send("a long line of code:\n\n```\n" + "x = 1; " * 40 + "\n```")
    grace.send("> " + "quoted words " * 20)
    wait_sent(grace, "quoted words")
    linus.send("mine, from a phone")
    wait_sent(linus, "mine, from a phone")
    own = shown(linus, "mine, from a phone")
    theirs = shown(linus, "quoted words")
    no_horizontal_scroll(linus)
    # The code block scrolls inside its bubble, not the page.
    pre = linus.log.locator(".chatroom__text pre")
    assert pre.evaluate("el => el.scrollWidth > el.clientWidth")
    assert pre.evaluate("el => el.getBoundingClientRect().right <= 320")

    tool(theirs, "React").click()
    picker = theirs.locator("[data-chatroom-picker]")
    expect(picker).to_be_visible()
    box = picker.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    no_horizontal_scroll(linus)
    picker.get_by_role("button", name="React with 😂").click()
    expect(theirs.locator(".chatroom__chip")).to_have_text("😂 1")

    tool(theirs, "Reply").click()
    bar = linus.part("reply")
    expect(bar).to_be_visible()
    box = bar.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    expect(linus.part("send")).to_be_in_viewport()
    no_horizontal_scroll(linus)
    linus.input.press("Escape")

    tool(own, "Edit").click()
    editor = own.locator("[data-chatroom-editor]")
    expect(editor).to_be_visible()
    box = editor.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    no_horizontal_scroll(linus)
    own.get_by_role("textbox", name="Edit your message").press("Escape")

    tool(own, "Delete").click()
    question = own.get_by_role("group", name="Delete this message?")
    expect(question).to_be_visible()
    box = question.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    no_horizontal_scroll(linus)
    browsing.assert_clean()
