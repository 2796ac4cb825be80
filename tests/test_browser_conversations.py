"""Conversations in a real browser (issue 14): the full page's room list, direct
messages, unread counts and the divider, the tab title, @mention suggestions,
notifications, the narrow-screen drawer, each control by keyboard, and an axe-core
audit of every new state in both themes.

Uses tests/test_browser.py's pages (Tab, Browsing: console errors, page errors and
CSP violations are asserted absent) on its own server, with three rooms and a
third demo account.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, LiveServer, start_server, stop_server
from .test_browser import (
    ANY_NAME,
    Browsing,
    Tab,
    expect,
    wait_for_text,
    wait_sent,
)

pytestmark = [pytest.mark.browser, pytest.mark.server]

TITLE = "Acme chat"
JS_DIR = ROOT / "tests" / "js"
AXE = JS_DIR / "node_modules" / "axe-core" / "axe.min.js"
THEMES = ("dark", "light")
# A server where signed-in users may make rooms (the page shows "New room").
ROOM_CREATION = pytest.mark.parametrize(
    "server", [{"TEST_ROOM_CREATION": True}], indirect=True, ids=["room creation"]
)

# Records what the page asks of the Notification API, and lets a test say the
# page is hidden (a headless page is always visible).
NOTIFICATION_RECORDER = """
window.__notifications = [];
window.__permissionAsked = 0;
window.__hidden = false;
Object.defineProperty(document, "visibilityState", {
  configurable: true, get: () => (window.__hidden ? "hidden" : "visible"),
});
class FakeNotification {
  constructor(title, options) {
    window.__notifications.push({ title: title, body: (options || {}).body });
  }
  close() {}
  static requestPermission() {
    window.__permissionAsked += 1;
    FakeNotification.permission = "granted";
    return Promise.resolve("granted");
  }
}
FakeNotification.permission = "default";
window.Notification = FakeNotification;
"""


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The example host app with three listed rooms and a third user, Linus; a
    new one for each test, so that no test sees another's unread messages.
    Indirect parameters add config (``ROOM_CREATION``: users may make rooms)."""
    live = start_server(
        tmp_path,
        config={
            "CHATROOM_ROOMS": ["lobby", "dev", "random"],
            "TEST_USERS": {"linus": "Linus"},
            **getattr(request, "param", {}),
        },
    )
    yield live
    stop_server(live)


@pytest.fixture
def browsing(browser: Any) -> Iterator[Browsing]:
    session = Browsing(browser)
    yield session
    session.close()


@pytest.fixture
def chat_url(server: LiveServer) -> str:
    return server.url + "/chat/"


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's script, installed by ``npm ci`` in tests/js when missing."""
    install = "cd tests/js && npm ci  (Debian: apt-get install -y npm)"
    in_ci = os.environ.get("CI") == "true"
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            message = f"npm is not available to install axe-core; run: {install}"
            if in_ci:
                pytest.fail(message)
            pytest.skip(message)
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0 or not AXE.exists():
            message = (
                f"`npm ci` in tests/js did not install axe-core; run: {install}\n"
                + result.stdout
                + result.stderr
            )
            if in_ci:
                pytest.fail(message)
            pytest.skip(message)
    return AXE


def sign_in(
    browsing: Browsing, server: LiveServer, name: str, url: str, **options: Any
) -> Tab:
    """A new browser context signed in as *name* (Ada, Grace or Linus), on *url*,
    online; *options* go to the new context (viewport, bypass_csp)."""
    context = browsing.context(**options)
    context.add_init_script(NOTIFICATION_RECORDER)
    form = context.request.get(server.url + "/login").text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "the sign-in form has no CSRF token"
    response = context.request.post(
        server.url + "/login",
        form={"user": name.lower(), "csrf_token": token.group(1)},
        max_redirects=0,
    )
    assert response.status == 302
    tab = browsing.open(url, context)
    assert tab.wait_online(ANY_NAME) == name
    return tab


def rooms_of(tab: Tab) -> Any:
    return tab.part("rooms")


def room_button(tab: Tab, label: str) -> Any:
    """The room list's button for the room labelled *label* ("#dev", "Grace")."""
    return tab.part("rooms").locator(
        ".chatroom__room-link",
        has=tab.page.locator(".chatroom__room-label", has_text=label),
    )


def room_labels(tab: Tab, part: str) -> list[str]:
    return tab.part(part).locator(".chatroom__room-label").all_text_contents()


def expect_current(tab: Tab, label: str) -> None:
    expect(room_button(tab, label)).to_have_attribute("aria-current", "true")
    expect(tab.part("room-name")).to_have_text(label)


def set_theme(tab: Tab, theme: str) -> None:
    tab.page.evaluate(
        """(theme) => document.querySelectorAll("body, [data-theme]")
              .forEach(el => { el.dataset.theme = theme; })""",
        theme,
    )


def audit(tab: Tab, axe: Path, state: str) -> None:
    """axe-core over the whole page in both themes: no serious or critical
    violation (the report is printed when there are)."""
    if not tab.page.evaluate("typeof window.axe === 'object'"):
        tab.page.add_script_tag(path=str(axe))
    problems = []
    for theme in THEMES:
        set_theme(tab, theme)
        result = tab.page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})"
        )
        for violation in result["violations"]:
            if violation["impact"] in ("serious", "critical"):
                problems.append(
                    {
                        "state": state,
                        "theme": theme,
                        "id": violation["id"],
                        "impact": violation["impact"],
                        "help": violation["help"],
                        "nodes": [
                            {
                                "target": node["target"],
                                "summary": node["failureSummary"],
                            }
                            for node in violation["nodes"]
                        ],
                    }
                )
    set_theme(tab, "dark")
    if problems:
        report = json.dumps(problems, indent=2)
        print(f"axe-core violations ({state}):\n{report}")
        pytest.fail(f"axe-core found serious or critical violations:\n{report}")


# -- tests --------------------------------------------------------------------------


def test_switching_rooms_keeps_each_room_s_log_and_draft(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(browsing, server, "Ada", chat_url)
    labels = ada.part("rooms-list").locator(".chatroom__room-label")
    expect(labels).to_have_text(["#lobby", "#dev", "#random"])
    expect_current(ada, "#lobby")
    # Enough of a log to scroll: older messages, as a history page would bring.
    ada.hand(
        "history",
        {
            "room": "lobby",
            "messages": [
                {
                    "id": f"{seq:032x}",
                    "room": "lobby",
                    "seq": seq,
                    "client": "Grace",
                    "user_id": "grace",
                    "message": f"old news {seq}",
                    "ts": 1795693009523,
                }
                for seq in range(1, 61)
            ],
            "has_more": False,
            "since": None,
        },
    )
    ada.send("said in the lobby")
    wait_sent(ada, "said in the lobby")
    ada.input.fill("a draft for the lobby")
    ada.log.evaluate("el => { el.scrollTop = 300; }")

    room_button(ada, "#dev").click()
    expect_current(ada, "#dev")
    expect(ada.root).to_have_attribute("data-state", "online")
    expect(room_button(ada, "#lobby")).not_to_have_attribute("aria-current", "true")
    expect(ada.input).to_have_value("")
    expect(ada.input).to_be_focused()
    expect(ada.messages("said in the lobby")).to_have_count(0)
    expect(ada.log).to_have_attribute("aria-label", "Messages in #dev")
    ada.send("said in dev")
    wait_sent(ada, "said in dev")
    ada.input.fill("a draft for dev")

    # By keyboard: the lobby's button, then Enter.
    room_button(ada, "#lobby").focus()
    ada.page.keyboard.press("Enter")
    expect_current(ada, "#lobby")
    expect(ada.input).to_have_value("a draft for the lobby")
    wait_for_text(ada, "said in the lobby")
    assert ada.log.evaluate("el => el.scrollTop") == 300  # where the reader was
    expect(ada.messages("said in dev")).to_have_count(0)
    room_button(ada, "#dev").click()
    expect(ada.input).to_have_value("a draft for dev")
    wait_for_text(ada, "said in dev")
    # Back and forth, nothing is shown twice.
    expect(ada.messages()).to_have_count(1)
    room_button(ada, "#lobby").click()
    expect(ada.messages()).to_have_count(61)
    browsing.assert_clean()


def test_a_direct_message_between_two_users_while_a_third_sees_nothing(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(browsing, server, "Ada", chat_url)
    grace = sign_in(browsing, server, "Grace", chat_url)
    linus = sign_in(browsing, server, "Linus", chat_url)
    expect(ada.people()).to_have_count(3)

    # By keyboard: the online list's "Message" button, then Enter.
    ada.page.get_by_role("button", name="Message Grace").focus()
    ada.page.keyboard.press("Enter")
    expect_current(ada, "Grace")
    expect(ada.input).to_be_focused()
    assert room_labels(ada, "dms-list") == ["Grace"]
    ada.send("psst, Grace")
    wait_sent(ada, "psst, Grace")
    # Grace's sidebar gets the conversation live; Linus's does not.
    expect(room_button(grace, "Ada")).to_have_count(1)
    expect(linus.part("dms-list").locator("li")).to_have_count(0)

    # After a reload, Grace has it (stored), with its unread count.
    grace.page.reload()
    grace.wait_online(ANY_NAME)
    button = room_button(grace, "Ada")
    expect(button.locator(".chatroom__count")).to_have_text("1")
    expect(grace.page).to_have_title(f"(1) {TITLE}")
    button.click()
    wait_for_text(grace, "psst, Grace")
    expect(grace.page.locator("[data-chatroom-divider]")).to_have_text(
        "Unread messages"
    )
    expect(grace.page).to_have_title(TITLE)
    expect(button.locator(".chatroom__count")).to_be_hidden()

    # Linus, reloaded, has no conversation in his list and nothing of it anywhere.
    linus.page.reload()
    linus.wait_online(ANY_NAME)
    expect(linus.part("rooms-list").locator("li")).to_have_count(3)
    expect(linus.part("dms-list").locator("li")).to_have_count(0)
    expect(linus.page.get_by_text("psst, Grace")).to_have_count(0)
    browsing.assert_clean()


def test_unread_counts_survive_a_reload_and_the_divider_marks_them(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(browsing, server, "Ada", chat_url + "random")
    grace = sign_in(browsing, server, "Grace", chat_url + "random")
    ada.send("read before")
    wait_for_text(grace, "read before")
    # Ada goes to #dev; Grace writes in #random.
    room_button(ada, "#dev").click()
    expect_current(ada, "#dev")
    for n in (1, 2, 3):
        grace.send(f"unread {n}")
        wait_sent(grace, f"unread {n}")
    badge = room_button(ada, "#random").locator(".chatroom__count")
    expect(badge).to_have_text("3")
    expect(ada.page).to_have_title(f"(3) {TITLE}")
    expect(room_button(ada, "#random")).to_have_accessible_name("#random, 3 unread")

    # Reconnect: the counts come back from the server.
    ada.page.goto(chat_url + "dev")
    ada.wait_online(ANY_NAME)
    expect(room_button(ada, "#random").locator(".chatroom__count")).to_have_text("3")
    expect(ada.page).to_have_title(f"(3) {TITLE}")

    # Another tab of Ada's follows what this one reads (the unread event).
    other = browsing.open(chat_url + "dev", ada.page.context)
    other.wait_online(ANY_NAME)
    other_badge = room_button(other, "#random").locator(".chatroom__count")
    expect(other_badge).to_have_text("3")

    room_button(ada, "#random").click()
    first = wait_for_text(ada, "unread 1")
    divider = ada.page.locator("[data-chatroom-divider]")
    expect(divider).to_have_text("Unread messages")
    # The divider comes right before the first unread message.
    assert (
        divider.evaluate("el => el.nextElementSibling.textContent").find("unread 1")
        >= 0
    ), first
    expect(ada.page).to_have_title(TITLE)
    expect(room_button(ada, "#random").locator(".chatroom__count")).to_be_hidden()
    expect(other_badge).to_be_hidden()
    expect(other.page).to_have_title(TITLE)
    # Read on the server: another reload shows nothing unread.
    ada.page.goto(chat_url + "dev")
    ada.wait_online(ANY_NAME)
    expect(ada.page).to_have_title(TITLE)
    browsing.assert_clean()


def test_mention_suggestions_by_keyboard_and_highlighted_mentions(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(browsing, server, "Ada", chat_url + "dev")
    grace = sign_in(browsing, server, "Grace", chat_url + "dev")
    linus = sign_in(browsing, server, "Linus", chat_url + "dev")
    expect(ada.people()).to_have_count(3)
    box, listbox = ada.input, ada.part("mentions")
    expect(box).to_have_attribute("role", "combobox")
    expect(box).to_have_attribute("aria-expanded", "false")

    box.focus()
    ada.page.keyboard.type("hello @")
    expect(listbox).to_be_hidden()  # letters first
    ada.page.keyboard.type("g")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    options = listbox.get_by_role("option")
    expect(options).to_have_text(["@Grace"])
    ada.page.keyboard.press("Backspace")
    expect(listbox).to_be_hidden()
    ada.page.keyboard.type("l")
    expect(options).to_have_text(["@Linus"])
    # Escape closes the list and keeps the text.
    ada.page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value("hello @l")
    # This user is not suggested.
    box.fill("")
    ada.page.keyboard.type("@ad")
    expect(listbox).to_be_hidden()
    # Chosen with Enter (the arrows move through the list), then with Tab.
    box.fill("")
    ada.page.keyboard.type("@g")
    expect(options).to_have_count(1)
    active = box.get_attribute("aria-activedescendant")
    expect(options.first).to_have_attribute("id", active or "")
    expect(options.first).to_have_attribute("aria-selected", "true")
    ada.page.keyboard.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")  # wraps
    ada.page.keyboard.press("Enter")
    expect(box).to_have_value("@Grace ")
    expect(listbox).to_be_hidden()
    ada.page.keyboard.type("and @li")
    ada.page.keyboard.press("Tab")
    expect(box).to_have_value("@Grace and @Linus ")
    expect(box).to_be_focused()
    ada.page.keyboard.type("look")
    ada.page.keyboard.press("Enter")
    item = wait_for_text(grace, "look")
    expect(item.locator(".chatroom__mention")).to_have_text(["@Grace", "@Linus"])

    # A message whose mentions hold this user's id is highlighted.
    grace.hand(
        "message receive",
        {
            "id": "f" * 32,
            "room": "dev",
            "seq": 10_000,
            "client": "Ada",
            "user_id": "ada",
            "message": "@Grace over here",
            "ts": 1795693009523,
            "mentions": ["grace"],
        },
    )
    expect(wait_for_text(grace, "over here")).to_have_attribute("data-mention", "true")
    expect(wait_for_text(linus, "look").locator(".chatroom__mention")).to_have_count(2)
    browsing.assert_clean()


def test_a_real_mention_and_a_real_direct_message_reach_a_user_elsewhere(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    """End to end, no event handed to the page: the server resolves ``@Grace``
    to Grace's id, Grace's page (showing another room) gets the message's
    ``notify`` and badges the room, and the message is highlighted for her when
    she opens it; a direct message's ``notify`` counts in her list live."""
    ada = sign_in(browsing, server, "Ada", chat_url + "dev")
    grace = sign_in(browsing, server, "Grace", chat_url + "dev")
    expect(ada.people()).to_have_count(2)
    room_button(grace, "#lobby").click()  # Grace stays in #dev, shows #lobby
    expect_current(grace, "#lobby")

    ada.send("@Grace the build is green")
    wait_sent(ada, "the build is green")
    dev = room_button(grace, "#dev")
    expect(dev.locator(".chatroom__mention-badge")).to_be_visible()
    expect(dev).to_have_accessible_name(re.compile(r"1 mention$"))
    dev.click()
    expect(wait_for_text(grace, "the build is green")).to_have_attribute(
        "data-mention", "true"
    )
    # Ada's own copy names Grace but is not a mention of Ada.
    expect(wait_for_text(ada, "the build is green")).not_to_have_attribute(
        "data-mention", "true"
    )

    room_button(grace, "#lobby").click()
    expect_current(grace, "#lobby")
    ada.page.get_by_role("button", name="Message Grace").click()
    expect_current(ada, "Grace")
    ada.send("just between us")
    wait_sent(ada, "just between us")
    expect(room_button(grace, "Ada")).to_have_accessible_name(
        re.compile(r"^Ada, 1 unread")
    )
    expect(grace.page).to_have_title(f"(1) {TITLE}")
    browsing.assert_clean()


def test_notifications_only_after_the_button_and_only_when_hidden(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(browsing, server, "Ada", chat_url)
    page = ada.page
    button = ada.part("notify")
    expect(button).to_have_text("Enable notifications")
    assert page.evaluate("window.__permissionAsked") == 0  # never on load

    def notify(seq: int) -> None:
        ada.hand(
            "notify",
            {
                "kind": "mention",
                "room": "random",
                "message": {
                    "id": f"{seq:032x}",
                    "room": "random",
                    "seq": seq,
                    "client": "Grace",
                    "user_id": "grace",
                    "message": "@Ada see this",
                    "ts": 1795693009523,
                    "mentions": ["ada"],
                },
            },
        )

    # A mention elsewhere: the room's badges, no notification while visible.
    link = room_button(ada, "#random")
    expect(link).to_have_count(1)  # the rooms list is in
    notify(5000)
    expect(link.locator(".chatroom__mention-badge")).to_be_visible()
    expect(link).to_have_accessible_name(re.compile(r"1 mention$"))
    page.evaluate("window.__hidden = true")
    notify(5001)
    assert page.evaluate("window.__notifications") == []  # not opted in

    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_text("Disable notifications")
    assert page.evaluate("window.__permissionAsked") == 1
    notify(5002)
    assert page.evaluate("window.__notifications") == [
        {"title": "Grace mentioned you in #random", "body": "@Ada see this"}
    ]
    notify(5002)  # the same message again counts and shows once
    assert len(page.evaluate("window.__notifications")) == 1
    page.evaluate("window.__hidden = false")
    notify(5003)
    assert len(page.evaluate("window.__notifications")) == 1
    expect(link.locator(".chatroom__count")).to_have_text(re.compile(r"^\d+$"))
    page.keyboard.press("Enter")
    expect(button).to_have_text("Enable notifications")

    # A direct message in a conversation this page did not know yet.
    ada.hand(
        "notify",
        {
            "kind": "dm",
            "room": "dm-" + "a" * 32,
            "message": {
                "id": "b" * 32,
                "room": "dm-" + "a" * 32,
                "seq": 1,
                "client": "Grace",
                "user_id": "grace",
                "message": "just between us",
                "ts": 1795693009523,
            },
        },
    )
    dm = room_button(ada, "Grace")
    expect(dm).to_have_accessible_name("Grace, 1 unread")
    expect(ada.part("dms-list").locator("li")).to_have_count(1)
    browsing.assert_clean()


def test_narrow_screen_drawer_by_keyboard(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(
        browsing, server, "Ada", chat_url, viewport={"width": 320, "height": 568}
    )
    page, toggle, panel = ada.page, ada.part("rooms-toggle"), ada.part("rooms")
    expect(ada.root).to_have_attribute("data-rooms", "drawer")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(panel).to_be_hidden()

    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(panel).to_be_visible()
    expect(room_button(ada, "#lobby")).to_be_focused()
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth]"
    )
    assert max(widths) <= 320
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_be_focused()

    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    page.keyboard.press("Tab")
    expect(room_button(ada, "#dev")).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect_current(ada, "#dev")
    expect(ada.input).to_be_focused()

    # Wide again: a column, no button.
    page.set_viewport_size({"width": 1000, "height": 640})
    expect(ada.root).to_have_attribute("data-rooms", "column")
    expect(toggle).to_be_hidden()
    expect(panel).to_be_visible()
    browsing.assert_clean()


def test_blocking_by_keyboard_survives_a_reload_and_refuses_the_other_s_dm(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(browsing, server, "Ada", chat_url)
    grace = sign_in(browsing, server, "Grace", chat_url)
    expect(ada.people()).to_have_count(2)
    expect(ada.page.get_by_role("button", name="Message Grace")).to_be_visible()

    # By keyboard: "Block Grace", then Enter; the button flips, "Message" goes.
    block = ada.page.get_by_role("button", name="Block Grace")
    block.focus()
    ada.page.keyboard.press("Enter")
    unblock = ada.page.get_by_role("button", name="Unblock Grace")
    expect(unblock).to_be_visible()
    expect(unblock).to_be_focused()
    expect(unblock).to_have_text("Unblock")
    expect(ada.page.get_by_role("button", name="Message Grace")).to_have_count(0)

    # Grace's messages still reach Ada (the server decides delivery).
    grace.send("still here")
    wait_for_text(ada, "still here")

    # A reload asks "blocks" again.
    ada.page.reload()
    ada.wait_online(ANY_NAME)
    expect(ada.people()).to_have_count(2)
    expect(ada.page.get_by_role("button", name="Unblock Grace")).to_be_visible()
    expect(ada.page.get_by_role("button", name="Message Grace")).to_have_count(0)

    # Grace may not open a conversation with Ada: the server's generic refusal.
    grace.page.get_by_role("button", name="Message Ada").click()
    error = grace.part("error")
    expect(error).to_be_visible()
    expect(error).not_to_have_text("")
    expect(grace.part("dms-list").locator("li")).to_have_count(0)

    # At 320 px the online list's buttons fit beside the name.
    ada.page.set_viewport_size({"width": 320, "height": 568})
    toggle = ada.part("people-toggle")
    if toggle.is_visible():
        toggle.click()
    unblock = ada.page.get_by_role("button", name="Unblock Grace")
    expect(unblock).to_be_visible()
    box = unblock.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    ada.page.set_viewport_size({"width": 1000, "height": 640})

    # Unblocking by keyboard brings "Message" back.
    ada.page.get_by_role("button", name="Unblock Grace").focus()
    ada.page.keyboard.press("Enter")
    expect(ada.page.get_by_role("button", name="Block Grace")).to_be_focused()
    expect(ada.page.get_by_role("button", name="Message Grace")).to_be_visible()
    browsing.assert_clean()


def set_hidden(tab: Tab, hidden: bool) -> None:
    """The page is hidden or shown again, as when the user changes tabs."""
    tab.page.evaluate(
        """(hidden) => {
            window.__hidden = hidden;
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_counts_of_rooms_not_joined_are_fresh_when_the_page_comes_back(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(browsing, server, "Ada", chat_url + "dev")
    grace = sign_in(browsing, server, "Grace", chat_url)
    dev = room_button(grace, "#dev")
    expect(dev).to_have_count(1)  # the rooms list is in
    expect(dev.locator(".chatroom__count")).to_be_hidden()
    set_hidden(grace, True)
    ada.send("news in dev")
    wait_sent(ada, "news in dev")
    # Grace's connection is not in #dev: nothing live reaches her page.
    expect(grace.page.get_by_text("news in dev")).to_have_count(0)
    set_hidden(grace, False)
    # Asked at once, or (within 10 s of a focus event) when the 10 s are over.
    expect(dev.locator(".chatroom__count")).to_have_text("1", timeout=15_000)
    expect(dev).to_have_accessible_name("#dev, 1 unread")
    expect(grace.page).to_have_title(f"(1) {TITLE}")
    browsing.assert_clean()


@ROOM_CREATION
def test_making_a_room_by_keyboard_with_refusals_beside_the_field(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    url = chat_url
    ada = sign_in(browsing, server, "Ada", url)
    page = ada.page
    button = page.get_by_role("button", name="New room")
    expect(button).to_have_attribute("aria-expanded", "false")
    form = ada.part("new-room-form")
    field = page.get_by_label("Room name")

    # Open by keyboard; Escape cancels and gives the focus back.
    button.focus()
    page.keyboard.press("Enter")
    expect(form).to_be_visible()
    expect(field).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "true")
    page.keyboard.type("never-made")
    page.keyboard.press("Escape")
    expect(form).to_be_hidden()
    expect(button).to_be_focused()
    expect(ada.root).to_have_attribute("data-state", "online")

    # A name that breaks the rule: the refusal beside the field.
    page.keyboard.press("Enter")
    expect(field).to_have_value("")
    page.keyboard.type("no spaces")
    page.keyboard.press("Enter")
    error = ada.part("new-room-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("letter")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    # The default room exists already.
    field.fill("lobby")
    expect(error).to_be_hidden()
    page.keyboard.press("Enter")
    expect(error).to_be_visible()
    expect(error).not_to_have_text("")

    # A good name: the room is made, listed and shown.
    field.fill("book-club")
    page.keyboard.press("Enter")
    expect(form).to_be_hidden()
    expect_current(ada, "#book-club")
    expect(ada.input).to_be_focused()
    ada.send("first words")
    wait_sent(ada, "first words")

    # A private room, the checkbox by keyboard: listed with the conversations.
    button.focus()
    page.keyboard.press("Enter")
    page.keyboard.type("secret-club")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(page.get_by_label("Private")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create")).to_be_focused()
    page.keyboard.press("Enter")
    expect_current(ada, "#secret-club")
    assert "#secret-club" in room_labels(ada, "dms-list")

    # At 320 px, in the drawer: the form fits, and Escape closes only the form.
    page.set_viewport_size({"width": 320, "height": 568})
    expect(ada.root).to_have_attribute("data-rooms", "drawer")
    ada.part("rooms-toggle").click()
    panel = ada.part("rooms")
    expect(panel).to_be_visible()
    button.focus()
    page.keyboard.press("Enter")
    expect(field).to_be_focused()
    for part in (field, page.get_by_role("button", name="Create")):
        box = part.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth]"
    )
    assert max(widths) <= 320
    page.keyboard.press("Escape")
    expect(form).to_be_hidden()
    expect(panel).to_be_visible()
    expect(button).to_be_focused()
    page.set_viewport_size({"width": 1000, "height": 640})

    # A guest may not (the hook says so): the server's refusal, inline.
    guest = browsing.open(url)
    guest.wait_online()
    guest.page.get_by_role("button", name="New room").click()
    guest.page.get_by_label("Room name").fill("guests-only")
    guest.page.keyboard.press("Enter")
    expect(guest.part("new-room-error")).to_be_visible()
    expect(guest.part("new-room-error")).not_to_have_text("")
    browsing.assert_clean()


def test_no_new_room_button_unless_the_host_allows_it(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    ada = sign_in(browsing, server, "Ada", chat_url)
    expect(ada.part("rooms-list").locator("li")).to_have_count(3)
    expect(ada.part("new-room")).to_have_count(0)
    browsing.assert_clean()


def test_the_widget_keeps_one_room_unless_asked(
    browsing: Browsing, server: LiveServer
) -> None:
    home = browsing.open(server.url + "/")
    home.wait_online()
    expect(home.part("rooms")).to_have_count(0)
    expect(home.part("rooms-toggle")).to_have_count(0)
    expect(home.page).to_have_title(re.compile(r"^[^(]"))
    browsing.assert_clean()


@ROOM_CREATION
def test_accessibility_of_every_new_state_in_both_themes(
    browsing: Browsing, server: LiveServer, chat_url: str, axe_script: Path
) -> None:
    # axe is injected as a script tag: these pages run without their CSP.
    ada = sign_in(browsing, server, "Ada", chat_url, bypass_csp=True)
    grace = sign_in(browsing, server, "Grace", chat_url, bypass_csp=True)
    audit(ada, axe_script, "full page, sidebar open")

    # The mention suggestions open.
    expect(ada.people()).to_have_count(2)
    ada.input.focus()
    ada.page.keyboard.type("@gr")
    expect(ada.part("mentions")).to_be_visible()
    audit(ada, axe_script, "mention autocomplete open")
    ada.page.keyboard.press("Escape")

    # A direct conversation open, and the other side's unread divider.
    ada.page.get_by_role("button", name="Message Grace").click()
    expect_current(ada, "Grace")
    ada.send("a direct word")
    wait_sent(ada, "a direct word")
    audit(ada, axe_script, "direct message open")
    grace.page.reload()
    grace.wait_online(ANY_NAME)
    room_button(grace, "Ada").click()
    expect(grace.page.locator("[data-chatroom-divider]")).to_be_visible()
    audit(grace, axe_script, "unread divider shown")

    # Grace blocked: "Unblock Ada" alone in her online list.
    grace.page.get_by_role("button", name="Block Ada").click()
    expect(grace.page.get_by_role("button", name="Unblock Ada")).to_be_visible()
    audit(grace, axe_script, "a user blocked")

    # The "New room" form open, with a refusal beside its field.
    ada.page.get_by_role("button", name="New room").click()
    ada.page.get_by_label("Room name").fill("lobby")
    ada.page.keyboard.press("Enter")
    expect(ada.part("new-room-error")).to_be_visible()
    audit(ada, axe_script, "new room form with an error")
    ada.page.keyboard.press("Escape")
    expect(ada.part("new-room-form")).to_be_hidden()

    # The narrow drawer open.
    ada.page.set_viewport_size({"width": 320, "height": 568})
    ada.part("rooms-toggle").click()
    expect(ada.part("rooms")).to_be_visible()
    audit(ada, axe_script, "narrow drawer open")

    # The widget on the host's page, with its suggestions open.
    home = browsing.open(server.url + "/", ada.page.context)
    home.wait_online(ANY_NAME)
    audit(home, axe_script, "widget")
    browsing.open(server.url + "/", grace.page.context).wait_online(ANY_NAME)
    expect(home.people()).to_have_count(2)
    home.input.focus()
    home.page.keyboard.type("@g")
    expect(home.part("mentions")).to_be_visible()
    audit(home, axe_script, "widget, mention autocomplete open")
    browsing.assert_clean()
