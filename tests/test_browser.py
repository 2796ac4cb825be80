"""The chat in a real browser: headless Chromium driven by Playwright.

Each user is a separate browser context (its own cookies, so its own guest name);
every page records console errors, page errors and Content-Security-Policy
violations, and each test asserts there were none.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flask_chatroom.protocol import clean_text

from .conftest import ROOT, LiveServer, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.server]

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the `browser` fixture skips or fails
    expect = None
else:
    expect.set_options(timeout=10_000)

GUEST_NAME = re.compile(r"^You are (Guest \d{4})$")
ANY_NAME = re.compile(r"^You are (.+)$")
OWN = re.compile(r"\bchatroom__msg--own\b")
CSP_TEXT = "Content Security Policy"

# Records CSP violations from the first moment of every page; Playwright's init
# scripts are not subject to the page's policy.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""

# What Chromium logs while a server it talks to is down.
NETWORK_DOWN = re.compile(
    r"ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|"
    r"WebSocket connection to .* failed|net::ERR_"
)


@dataclass
class Tab:
    """One user's page, with everything that went wrong on it."""

    page: Any
    errors: list[str] = field(default_factory=list)
    allow: re.Pattern[str] | None = None

    def record(self, kind: str, text: str) -> None:
        if self.allow is not None and self.allow.search(text):
            return
        self.errors.append(f"{kind}: {text}")

    def console(self, msg: Any) -> None:
        url = msg.location.get("url", "")
        if url.endswith("/favicon.ico"):
            return  # the host app has no icon; Chromium logs the 404 it gets
        if msg.type == "error" or CSP_TEXT in msg.text:
            self.record(f"console.{msg.type}", f"{msg.text} ({url})")

    # -- the widget's parts ------------------------------------------------------

    def part(self, name: str) -> Any:
        return self.page.locator(f"[data-chatroom-{name}]").first

    @property
    def root(self) -> Any:
        return self.page.locator("[data-chatroom]").first

    @property
    def log(self) -> Any:
        return self.part("log")

    @property
    def input(self) -> Any:
        return self.part("input")

    def messages(self, containing: str | None = None) -> Any:
        items = self.log.locator(".chatroom__msg")
        return items.filter(has_text=containing) if containing else items

    def wait_online(self, name: re.Pattern[str] = GUEST_NAME) -> str:
        """Wait until the widget is online and welcomed; return this user's name."""
        expect(self.root).to_have_attribute("data-state", "online")
        me = self.part("me")
        expect(me).to_have_text(name)
        match = name.match(me.text_content() or "")
        assert match is not None
        return match.group(1)

    def send(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def people(self) -> Any:
        """The names in the online list."""
        return self.part("people-list").locator(".chatroom__person-name")

    def notices(self) -> Any:
        return self.log.locator(".chatroom__notice")

    def hand(self, event: str, *payloads: dict[str, Any]) -> None:
        """Hand *payloads* to the page's listeners for *event*, as if the server
        had sent them."""
        self.page.evaluate(
            """([event, payloads]) => {
              const socket = window.FlaskChatroom.instances[0].socket;
              for (const data of payloads) {
                socket.listeners(event).forEach(f => f(data));
              }
            }""",
            [event, list(payloads)],
        )

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__cspViolations || []"))


class Browsing:
    """Opens pages, each in a new context unless told otherwise, and closes them."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.tabs: list[Tab] = []

    def context(self, **options: Any) -> Any:
        options.setdefault("viewport", {"width": 1000, "height": 640})
        context = self.browser.new_context(**options)
        context.add_init_script(CSP_RECORDER)
        self.contexts.append(context)
        return context

    def open(self, url: str, context: Any = None, **options: Any) -> Tab:
        """Open *url* in *context*, or in a new context (a new user)."""
        if context is None:
            context = self.context(**options)
        page = context.new_page()
        tab = Tab(page)
        page.on("console", tab.console)
        page.on("pageerror", lambda exc: tab.record("pageerror", str(exc)))
        self.tabs.append(tab)
        page.goto(url)
        return tab

    def assert_clean(self) -> None:
        """No console error, page error or CSP violation on any page opened."""
        problems = [error for tab in self.tabs for error in tab.errors]
        for tab in self.tabs:
            if not tab.page.is_closed():
                problems += [f"CSP violation: {v}" for v in tab.csp_violations()]
        assert problems == []

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The example host app on gevent, shared by this module's tests."""
    live = start_server(tmp_path_factory.mktemp("browser"))
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


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until a server started by hand answers, as ``start_server`` does."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            with urllib.request.urlopen(url + "/hello", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(
        f"the restarted server did not answer:\n{log.read_text(errors='replace')}"
    )


def wait_for_text(tab: Tab, text: str) -> Any:
    """The message holding *text* in *tab*'s log, once it is there."""
    item = tab.messages(text)
    try:
        expect(item).to_have_count(1)
    except AssertionError as exc:
        widget = tab.page.evaluate(
            """() => [...document.querySelectorAll(
                  "[data-chatroom-status], [data-chatroom-error], [data-chatroom-me]")]
                .map(el => el.textContent).join(" | ")"""
        )
        raise AssertionError(f"{text!r} not shown once; widget: {widget}") from exc
    return item


def wait_sent(tab: Tab, text: str) -> Any:
    """This page's own message holding *text*, once the server confirmed it."""
    item = wait_for_text(tab, text)
    expect(item).to_have_attribute("data-state", "sent")
    return item


def sign_in(browsing: Browsing, server: LiveServer, name: str, url: str) -> Tab:
    """A new browser context signed in to the example app as *name* (Ada or
    Grace), on *url*, online."""
    context = browsing.context()
    form = context.request.get(server.url + "/login").text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "the sign-in form has no CSRF token"
    response = context.request.post(
        server.url + "/login",
        form={"user": name.lower(), "csrf_token": token.group(1)},
        max_redirects=0,
    )
    assert response.status == 302  # signed in, sent on to the home page
    tab = browsing.open(url, context)
    assert tab.wait_online(ANY_NAME) == name
    return tab


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The example host app without rate limits, for tests that post faster
    than a person."""
    live = start_server(
        tmp_path_factory.mktemp("browser-fast"),
        config={"CHATROOM_RATE_LIMITS": None},
    )
    yield live
    stop_server(live)


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def restart(server: LiveServer, tmp_path: Path) -> subprocess.Popen[bytes]:
    """Start a stopped server again with the same command (same port, same
    database) and wait until it answers."""
    log_path = tmp_path / "restarted.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server.process.args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    wait_until_serving(server.url, process, log_path)
    return process


# -- tests --------------------------------------------------------------------------


def test_two_guests_chat_on_the_full_page(browsing: Browsing, chat_url: str) -> None:
    alice = browsing.open(chat_url)
    bob = browsing.open(chat_url)
    alice_name = alice.wait_online()
    bob_name = bob.wait_online()

    expect(alice.log).to_have_attribute("role", "log")
    expect(alice.log).to_have_attribute(
        "aria-live", re.compile(r"^(polite|assertive)$")
    )
    expect(alice.part("status")).to_have_text("Online")

    alice.send("hello from the first guest")
    expect(alice.input).to_have_value("")
    for tab in (alice, bob):
        item = wait_for_text(tab, "hello from the first guest")
        expect(item.locator(".chatroom__author")).to_have_text(alice_name)
        expect(item.locator(".chatroom__text")).to_have_text(
            "hello from the first guest"
        )
        expect(item.locator("time")).to_have_attribute(
            "datetime", re.compile(r"^\d{4}-")
        )
    expect(wait_for_text(alice, "hello from the first guest")).to_have_class(OWN)
    expect(wait_for_text(bob, "hello from the first guest")).not_to_have_class(OWN)

    bob.send("and hello back")
    item = wait_for_text(alice, "and hello back")
    expect(item.locator(".chatroom__author")).to_have_text(bob_name)
    expect(item).not_to_have_class(OWN)
    browsing.assert_clean()


def test_shift_enter_adds_a_line_and_lines_are_kept(
    browsing: Browsing, chat_url: str
) -> None:
    alice = browsing.open(chat_url)
    alice.wait_online()
    alice.input.fill("first line")
    alice.input.press("Shift+Enter")
    alice.input.press_sequentially("second line")
    expect(alice.input).to_have_value("first line\nsecond line")
    expect(alice.messages("first line")).to_have_count(0)

    alice.send("one line only")
    # Once sent: the server's answer replaces a pending message's text.
    single = wait_sent(alice, "one line only").locator(".chatroom__text")
    alice.input.fill("first line")
    alice.input.press("Shift+Enter")
    alice.input.press_sequentially("second line")
    alice.input.press("Enter")
    text = wait_sent(alice, "second line").locator(".chatroom__text")

    assert text.text_content() == "first line\nsecond line"
    assert text.evaluate("el => getComputedStyle(el).whiteSpace") == "pre-wrap"
    single_height = single.bounding_box()["height"]
    assert text.bounding_box()["height"] > 1.5 * single_height
    browsing.assert_clean()


@pytest.mark.parametrize(
    "payload",
    [
        '<img src=x onerror="window.__pwned=1">',
        "<script>window.__pwned=1</script>",
        "<b>bold?</b> &amp; &lt;",
    ],
)
def test_markup_in_messages_is_shown_as_text(
    browsing: Browsing, chat_url: str, payload: str
) -> None:
    alice = browsing.open(chat_url)
    bob = browsing.open(chat_url)
    alice.wait_online()
    bob.wait_online()
    alice.send(payload)
    for tab in (alice, bob):
        item = wait_for_text(tab, payload)
        expect(item.locator(".chatroom__text")).to_have_text(payload)
        expect(item.locator("img, script, b")).to_have_count(0)
    for tab in (alice, bob):
        assert tab.page.evaluate("typeof window.__pwned") == "undefined"
    browsing.assert_clean()


def test_widget_on_the_host_home_page_talks_to_the_chat_page(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    home = browsing.open(server.url + "/")
    full = browsing.open(chat_url)
    expect(home.page.locator("h1")).to_have_text("Welcome to Acme")
    expect(home.page.locator(".chatroom__title")).to_have_text("Talk to Acme")
    home_name = home.wait_online()
    full_name = full.wait_online()

    home.send("hi from the home page widget")
    item = wait_for_text(full, "hi from the home page widget")
    expect(item.locator(".chatroom__author")).to_have_text(home_name)

    full.send("hi from the full chat page")
    item = wait_for_text(home, "hi from the full chat page")
    expect(item.locator(".chatroom__author")).to_have_text(full_name)
    # The widget keeps to its box inside the host's layout.
    assert home.page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    browsing.assert_clean()


def test_chat_page_works_under_its_content_security_policy(
    browsing: Browsing, chat_url: str
) -> None:
    context = browsing.context()
    page = context.new_page()
    response = page.request.get(chat_url)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    page.close()

    alice = browsing.open(chat_url, context)
    bob = browsing.open(chat_url)
    alice.wait_online()
    bob.wait_online()
    alice.send("sent under a strict policy")
    wait_for_text(bob, "sent under a strict policy")
    # The page's own styles applied (a blocked stylesheet would leave the default).
    assert alice.log.evaluate("el => getComputedStyle(el).listStyleType") == "none"
    browsing.assert_clean()

    # The policy is really in force, and a violation would have been seen.
    blocked = bob.page.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.__inlineRan = 1";
          document.head.appendChild(s);
          return typeof window.__inlineRan;
        }"""
    )
    assert blocked == "undefined"
    bob.page.wait_for_function("window.__cspViolations.length > 0")
    assert any("script-src" in v for v in bob.csp_violations())


def test_guest_name_survives_a_reload(browsing: Browsing, chat_url: str) -> None:
    alice = browsing.open(chat_url)
    name = alice.wait_online()
    alice.page.reload()
    assert alice.wait_online() == name
    alice.send("still me after a reload")
    item = wait_for_text(alice, "still me after a reload")
    expect(item.locator(".chatroom__author")).to_have_text(name)
    browsing.assert_clean()


def test_original_tutorial_page_talks_to_the_chat(
    browsing: Browsing, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory(config={"CHATROOM_NAMESPACE": "/"})
    tutorial = browsing.open(server.url + "/tutorial")
    chat = browsing.open(server.url + "/chat/")
    chat_name = chat.wait_online()

    tutorial.page.locator("#message").fill("hello from the tutorial")
    tutorial.page.locator("#send").click()
    line = tutorial.page.locator("#messages p").filter(
        has_text="hello from the tutorial"
    )
    expect(line).to_have_text(
        re.compile(r"^\[Guest \d{4}\] : hello from the tutorial$")
    )
    tutorial_name = (line.text_content() or "")[1:].split("]", 1)[0]
    item = wait_for_text(chat, "hello from the tutorial")
    expect(item.locator(".chatroom__author")).to_have_text(tutorial_name)
    expect(item).not_to_have_class(OWN)

    chat.send("hello back from the chat page")
    expect(
        tutorial.page.locator("#messages p").filter(has_text="hello back")
    ).to_have_text(f"[{chat_name}] : hello back from the chat page")
    browsing.assert_clean()


def test_connection_state_follows_the_server(
    browsing: Browsing, tmp_path: Path
) -> None:
    server = start_server(tmp_path)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        alice = browsing.open(server.url + "/chat/")
        name = alice.wait_online()
        alice.send("before the restart")
        wait_sent(alice, "before the restart")
        browsing.assert_clean()

        alice.allow = NETWORK_DOWN  # the browser logs the failed reconnection attempts
        stop_server(server)
        expect(alice.root).to_have_attribute("data-state", "reconnecting")
        expect(alice.part("status")).to_have_attribute("data-state", "reconnecting")
        expect(alice.part("status")).to_have_text("Reconnecting…")

        # The same command again (same port, same database): the page comes back
        # by itself, the signed session cookie still names the same guest, and
        # catching up shows nothing twice.
        restarted = restart(server, tmp_path)
        expect(alice.root).to_have_attribute("data-state", "online", timeout=20_000)
        assert alice.wait_online() == name
        alice.send("back after a restart")
        wait_for_text(alice, "back after a restart")
        expect(alice.log.locator(".chatroom__text")).to_have_text(
            ["before the restart", "back after a restart"]
        )
        browsing.assert_clean()
    finally:
        stop_process(server.process)
        stop_process(restarted)


def test_narrow_screen_has_no_horizontal_scrolling(
    browsing: Browsing, chat_url: str
) -> None:
    alice = browsing.open(chat_url, viewport={"width": 320, "height": 568})
    name = alice.wait_online()
    long_word = "x" * 120
    alice.send("a long word: " + long_word)
    wait_for_text(alice, long_word)
    send = alice.part("send")
    expect(send).to_be_visible()
    expect(send).to_be_in_viewport()
    expect(alice.input).to_be_in_viewport()
    widths = alice.page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth]"
    )
    assert max(widths) <= 320
    # The empty text box shows its whole placeholder, without scrolling.
    expect(alice.input).to_have_value("")
    assert alice.input.evaluate("el => el.scrollHeight <= el.clientHeight + 1")
    # The page itself does not scroll either: the message log does.
    assert alice.page.evaluate("document.documentElement.scrollHeight") <= 568
    box = alice.root.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 320

    # The online list folds away behind its button, and opens over the log.
    people, toggle = alice.part("people"), alice.part("people-toggle")
    expect(alice.root).to_have_attribute("data-layout", "narrow")
    expect(toggle).to_have_text(re.compile(r"^\d+ online$"))
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(people).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(people).to_be_visible()
    expect(alice.people().filter(has_text=name)).to_have_count(1)
    box = people.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 320
    assert (
        max(
            alice.page.evaluate(
                "[document.documentElement.scrollWidth, document.body.scrollWidth]"
            )
        )
        <= 320
    )
    alice.people().first.click()
    alice.page.keyboard.press("Escape")
    expect(people).to_be_hidden()
    expect(toggle).to_be_focused()
    browsing.assert_clean()


def test_new_message_scrolls_only_a_reader_at_the_bottom(
    browsing: Browsing, server: LiveServer
) -> None:
    url = server.url + "/chat/scrolling"  # a room with no older history to load
    reader = browsing.open(url, viewport={"width": 800, "height": 500})
    writer = browsing.open(url)
    reader.wait_online()
    writer.wait_online()
    # Tall messages, so that a few fill the log (sending is rate limited).
    for n in range(6):
        writer.send("\n".join([f"filler message {n}"] + ["more"] * 6))
        wait_for_text(writer, f"filler message {n}")
    wait_for_text(reader, "filler message 5")

    def gap() -> float:
        return float(
            reader.log.evaluate(
                "el => el.scrollHeight - el.scrollTop - el.clientHeight"
            )
        )

    assert reader.log.evaluate("el => el.scrollHeight > 2 * el.clientHeight")
    assert gap() <= 2  # followed the conversation so far

    reader.log.evaluate("el => { el.scrollTop = 0; }")
    reader.page.wait_for_function(
        "document.querySelector('[data-chatroom-log]').scrollTop === 0"
    )
    writer.send("while you were reading")
    wait_for_text(reader, "while you were reading")
    assert reader.log.evaluate("el => el.scrollTop") == 0
    # The reader is told there is something new below.
    jump = reader.part("jump")
    expect(jump).to_be_visible()
    expect(jump).to_have_text("1 new message ↓")
    writer.send("and another one")
    wait_for_text(reader, "and another one")
    expect(jump).to_have_text("2 new messages ↓")
    assert reader.log.evaluate("el => el.scrollTop") == 0

    jump.click()
    reader.page.wait_for_function(
        "(el => el.scrollHeight - el.scrollTop - el.clientHeight <= 2)"
        "(document.querySelector('[data-chatroom-log]'))"
    )
    expect(jump).to_be_hidden()
    writer.send("now at the bottom")
    wait_for_text(reader, "now at the bottom")
    reader.page.wait_for_function(
        "(el => el.scrollHeight - el.scrollTop - el.clientHeight <= 2)"
        "(document.querySelector('[data-chatroom-log]'))"
    )
    assert gap() <= 2

    # Your own message always brings you to the bottom.
    reader.log.evaluate("el => { el.scrollTop = 0; }")
    reader.send("my own message")
    wait_for_text(reader, "my own message")
    reader.page.wait_for_function(
        "(el => el.scrollHeight - el.scrollTop - el.clientHeight <= 2)"
        "(document.querySelector('[data-chatroom-log]'))"
    )
    expect(jump).to_be_hidden()
    browsing.assert_clean()


def test_widget_for_another_room_joins_it(
    browsing: Browsing, server: LiveServer
) -> None:
    rose = browsing.open(server.url + "/chat/garden")
    lily = browsing.open(server.url + "/chat/garden")
    lobby = browsing.open(server.url + "/chat/")
    rose_name = rose.wait_online()
    lily.wait_online()
    lobby.wait_online()
    expect(rose.part("log")).to_have_attribute("aria-label", "Messages in #garden")

    rose.send("among the roses")
    item = wait_for_text(lily, "among the roses")
    expect(item.locator(".chatroom__author")).to_have_text(rose_name)
    lobby.send("meanwhile in the lobby")
    wait_for_text(lobby, "meanwhile in the lobby")
    expect(lobby.messages("among the roses")).to_have_count(0)
    expect(rose.messages("meanwhile in the lobby")).to_have_count(0)

    # The garden pages left the default room: the server says so to a probe.
    probe = """() => new Promise(resolve => {
      window.FlaskChatroom.instances[0].socket.timeout(5000)
        .emit("typing", {room: "lobby", typing: false},
              (err, ack) => resolve(err ? "no answer" : ack.ok || ack.error.code));
    })"""
    deadline = time.monotonic() + 10
    answers = [rose.page.evaluate(probe), lily.page.evaluate(probe)]
    while answers != ["not_in_room"] * 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        answers = [rose.page.evaluate(probe), lily.page.evaluate(probe)]
    assert answers == ["not_in_room"] * 2
    assert lobby.page.evaluate(probe) is True
    rooms = lobby.page.request.get(server.url + "/chat/api/rooms").json()["rooms"]
    assert {(r["name"], r["count"]) for r in rooms} >= {("garden", 2)}
    browsing.assert_clean()


def test_signed_in_user_chats_under_their_name(
    browsing: Browsing, server: LiveServer, chat_url: str
) -> None:
    guest = browsing.open(chat_url)
    guest.wait_online()
    ada = browsing.open(server.url + "/login")
    ada.page.get_by_role("button", name="Sign in as Ada").click()
    ada.page.goto(chat_url)
    assert ada.wait_online(ANY_NAME) == "Ada"

    ada.send("signed in and chatting")
    item = wait_for_text(guest, "signed in and chatting")
    expect(item.locator(".chatroom__author")).to_have_text("Ada")
    # Another tab of Ada's shows her message, from history, as her own.
    again = browsing.open(chat_url, ada.page.context)
    assert again.wait_online(ANY_NAME) == "Ada"
    expect(wait_for_text(again, "signed in and chatting")).to_have_class(OWN)
    expect(wait_for_text(guest, "signed in and chatting")).not_to_have_class(OWN)
    browsing.assert_clean()


def test_login_required_asks_guests_to_sign_in_and_refuses_extra_tabs(
    browsing: Browsing, live_server_factory: Callable[..., LiveServer]
) -> None:
    server = live_server_factory(
        config={
            "CHATROOM_REQUIRE_LOGIN": True,
            "CHATROOM_MAX_CONNECTIONS_PER_USER": 1,
        }
    )
    home = browsing.open(server.url + "/")
    # No widget that would connect only to be refused: a sign-in notice.
    expect(home.page.locator("[data-chatroom]")).to_have_count(0)
    notice = home.page.locator(".chatroom__signin")
    expect(notice).to_have_text(re.compile(r"^\s*Sign in\s+to chat\.\s*$"))
    expect(notice.get_by_role("link", name="Sign in")).to_have_attribute(
        "href", "/login?next=/"
    )

    # The chat page sends the visitor to the host's sign-in page and back.
    home.page.goto(server.url + "/chat/")
    expect(home.page).to_have_url(re.compile(r"/login\?next=/chat/$"))
    home.page.get_by_role("button", name="Sign in as Grace").click()
    expect(home.page).to_have_url(server.url + "/chat/")
    assert home.wait_online(ANY_NAME) == "Grace"
    expect(home.input).to_be_enabled()
    home.send("signed in at last")
    item = wait_sent(home, "signed in at last")
    expect(item.locator(".chatroom__author")).to_have_text("Grace")

    # One connection per user here: a second tab is refused and says why.
    extra = browsing.open(server.url + "/chat/", home.page.context)
    # The client closes its connection when refused, possibly during the
    # upgrade to WebSocket; Chromium logs that as a failed request.
    extra.allow = re.compile(
        NETWORK_DOWN.pattern + r"|status of 400 .*\(.*/socket\.io/"
    )
    expect(extra.root).to_have_attribute("data-state", "refused")
    expect(extra.part("status")).to_have_text("Not connected")
    expect(extra.part("error")).to_be_visible()
    expect(extra.part("error")).to_have_text("You have too many chat windows open.")
    expect(extra.input).to_be_disabled()
    expect(extra.part("send")).to_be_disabled()
    expect(home.root).to_have_attribute("data-state", "online")
    browsing.assert_clean()


def test_log_keeps_the_latest_messages_and_the_reader_s_place(
    browsing: Browsing, server: LiveServer
) -> None:
    tab = browsing.open(server.url + "/chat/bulk")  # a room with no history
    tab.wait_online()
    expect(tab.messages()).to_have_count(0)
    receive = """([first, count]) => {
      const chat = window.FlaskChatroom.instances[0];
      for (let i = first; i < first + count; i++) {
        chat.receive({id: "m" + i, room: chat.room, client: "Guest 1000",
                      message: "bulk " + i, ts: Date.now()});
      }
    }"""
    count = "document.querySelector('[data-chatroom-log]').children.length"
    tab.page.evaluate(receive, [0, 500])
    assert tab.page.evaluate(count) == 500
    expect(tab.messages().first.locator(".chatroom__text")).to_have_text("bulk 0")
    # Past 500, the oldest go in one batch.
    tab.page.evaluate(receive, [500, 20])
    assert 400 <= tab.page.evaluate(count) < 500
    expect(tab.messages().last.locator(".chatroom__text")).to_have_text("bulk 519")
    expect(tab.messages("bulk 0")).to_have_count(0)

    # A reader looking at an older message keeps it in view while old ones go.
    find = """const log = document.querySelector("[data-chatroom-log]");
      const item = [...log.children].find(el => el.textContent.endsWith("bulk 300"));"""
    position = f"""() => {{ {find}
      return item.getBoundingClientRect().top - log.getBoundingClientRect().top; }}"""
    tab.page.evaluate(
        f"() => {{ {find} log.scrollTop = item.offsetTop - log.offsetTop - 40; }}"
    )
    before = tab.page.evaluate(position)
    first = tab.messages().first.text_content()
    tab.page.evaluate(receive, [520, 100])
    assert tab.page.evaluate(count) <= 500
    assert tab.messages().first.text_content() != first  # old ones went
    assert abs(tab.page.evaluate(position) - before) <= 1
    expect(tab.part("jump")).to_have_text("100 new messages ↓")
    browsing.assert_clean()


def test_history_is_shown_on_arrival_and_after_a_reload(
    browsing: Browsing, server: LiveServer
) -> None:
    url = server.url + "/chat/history-room"
    alice = browsing.open(url)
    alice_name = alice.wait_online()
    for n in range(3):
        alice.send(f"history line {n}")
        wait_sent(alice, f"history line {n}")

    bob = browsing.open(url)
    bob.wait_online()
    expect(bob.messages()).to_have_count(3)
    expect(bob.log.locator(".chatroom__text")).to_have_text(
        ["history line 0", "history line 1", "history line 2"]
    )
    expect(bob.messages().locator(".chatroom__author")).to_have_text([alice_name] * 3)
    # Shown at the bottom, with nothing counted as unseen.
    expect(bob.part("jump")).to_be_hidden()

    alice.page.reload()
    alice.wait_online()
    expect(alice.log.locator(".chatroom__text")).to_have_text(
        ["history line 0", "history line 1", "history line 2"]
    )
    bob.send("after the reload")
    wait_for_text(alice, "after the reload")
    expect(alice.messages()).to_have_count(4)
    browsing.assert_clean()


def test_a_reconnecting_page_catches_up_without_duplicates(
    browsing: Browsing, server: LiveServer
) -> None:
    url = server.url + "/chat/catch-up"
    alice = browsing.open(url)
    bob = browsing.open(url)
    alice.wait_online()
    bob.wait_online()
    bob.send("before the break")
    wait_for_text(alice, "before the break")

    # Alice's connection drops and stays down while Bob talks.
    alice.allow = NETWORK_DOWN
    alice.page.evaluate(
        """() => {
          const socket = window.FlaskChatroom.instances[0].socket;
          socket.io.reconnection(false);
          socket.io.engine.close();
        }"""
    )
    expect(alice.root).to_have_attribute("data-state", "reconnecting")
    for n in range(3):
        bob.send(f"missed {n}")
        wait_for_text(bob, f"missed {n}")
    expect(alice.messages("missed")).to_have_count(0)

    alice.page.evaluate(
        """() => {
          const socket = window.FlaskChatroom.instances[0].socket;
          socket.io.reconnection(true);
          socket.connect();
        }"""
    )
    alice.wait_online()
    expect(alice.log.locator(".chatroom__text")).to_have_text(
        ["before the break", "missed 0", "missed 1", "missed 2"]
    )
    bob.send("after the break")
    wait_for_text(alice, "after the break")
    expect(alice.messages()).to_have_count(5)
    browsing.assert_clean()


def test_a_removed_message_is_replaced_by_a_note(
    browsing: Browsing, server: LiveServer
) -> None:
    alice = browsing.open(server.url + "/chat/moderated")
    alice.wait_online()
    alice.send("something regrettable")
    item = wait_sent(alice, "something regrettable")
    message_id = item.get_attribute("data-id")
    assert message_id
    # What a moderator's "delete message" makes the server send to the room (the
    # example app has no moderators, so the event is handed to the page).
    alice.page.evaluate(
        """([id, room]) => {
          const socket = window.FlaskChatroom.instances[0].socket;
          socket.listeners("message deleted").forEach(f => f({id: id, room: room}));
        }""",
        [message_id, "moderated"],
    )
    text = alice.log.locator(f'[data-id="{message_id}"] .chatroom__text')
    expect(text).to_have_text("This message was removed.")
    expect(text).to_have_class(re.compile(r"\bchatroom__text--deleted\b"))
    browsing.assert_clean()


# -- presence, typing, nicknames ----------------------------------------------------


def test_online_list_and_join_and_leave_notices(
    browsing: Browsing, server: LiveServer
) -> None:
    url = server.url + "/chat/presence"
    ada = sign_in(browsing, server, "Ada", url)
    expect(ada.people()).to_have_text(["Ada"])
    grace = sign_in(browsing, server, "Grace", url)
    for tab in (ada, grace):
        expect(tab.people()).to_have_text(["Ada", "Grace"])  # in order of arrival
        expect(tab.part("people-toggle")).to_have_text("2 online")
        expect(tab.part("people")).to_be_visible()  # a wide widget shows it
    expect(ada.part("people-list").locator(".chatroom__person--me")).to_contain_text(
        "Ada"
    )
    expect(grace.part("people-list").locator(".chatroom__person--me")).to_contain_text(
        "Grace"
    )
    # A muted line in the log, not a message; nobody is told of their own arrival.
    expect(ada.notices()).to_have_text(["Grace joined"])
    expect(ada.messages()).to_have_count(0)
    expect(grace.notices()).to_have_count(0)

    # A second tab of Ada's is still one Ada.
    again = browsing.open(url, ada.page.context)
    assert again.wait_online(ANY_NAME) == "Ada"
    expect(again.people()).to_have_text(["Ada", "Grace"])
    again.page.close()
    grace.page.close()
    expect(ada.notices()).to_have_text(["Grace joined", "Grace left"])
    expect(ada.people()).to_have_text(["Ada"])
    expect(ada.part("people-toggle")).to_have_text("1 online")
    browsing.assert_clean()


RECORD_EMITS = """() => {
  const socket = window.FlaskChatroom.instances[0].socket;
  const emit = socket.emit;
  window.__emitted = [];
  socket.emit = function (event, payload) {
    window.__emitted.push({event: event, payload: payload, at: performance.now()});
    return emit.apply(this, arguments);
  };
}"""


def test_typing_line_shows_who_is_typing(
    browsing: Browsing, server: LiveServer
) -> None:
    url = server.url + "/chat/typing"
    ada = sign_in(browsing, server, "Ada", url)
    grace = sign_in(browsing, server, "Grace", url)
    typing = grace.part("typing")
    expect(typing).to_have_text("")
    ada.page.evaluate(RECORD_EMITS)
    # Two more people typing, as the server would tell Grace; with no news
    # from them, they are forgotten after about 5 s.
    others = [
        {"room": "typing", "client": name, "user_id": name.lower(), "typing": True}
        for name in ("Zed", "Yan")
    ]
    grace.hand("typing", *others)
    expect(typing).to_have_text("Zed and Yan are typing…")

    # Ada types for more than 2 s: "typing" goes out at most every 2 s.
    ada.input.press_sequentially("hello there", delay=220)
    expect(typing).to_have_text("Several people are typing…")
    # Sending says she stopped; so does leaving the text box.
    ada.input.press("Enter")
    expect(typing).to_have_text("Zed and Yan are typing…")
    wait_for_text(grace, "hello there")
    ada.input.press_sequentially("a")
    expect(typing).to_have_text("Several people are typing…")
    ada.input.blur()
    expect(typing).to_have_text("Zed and Yan are typing…")
    ada.input.press_sequentially("b")
    # Zed and Yan expire while Ada is still typing; Ada's pause then ends hers.
    expect(typing).to_have_text("Ada is typing…")
    expect(typing).to_have_text("", timeout=6_000)
    expect(ada.part("typing")).to_have_text("")  # nobody sees their own

    sent = ada.page.evaluate(
        "window.__emitted.filter(e => e.event === 'typing')"
        ".map(e => [e.payload.typing, e.at, e.payload.room])"
    )
    flags = [flag for flag, _, _ in sent]
    assert flags == [True, True, False] + [True, False] * 2
    assert {room for _, _, room in sent} == {"typing"}
    assert 1900 <= sent[1][1] - sent[0][1] <= 2600
    browsing.assert_clean()


def test_a_guest_changes_their_name(browsing: Browsing, server: LiveServer) -> None:
    url = server.url + "/chat/names"
    ada = sign_in(browsing, server, "Ada", url)
    guest = browsing.open(url)
    old_name = guest.wait_online()
    expect(ada.part("rename")).to_be_hidden()  # signed-in users keep their name
    form, field = guest.part("rename-form"), guest.part("rename-input")
    expect(form).to_be_hidden()

    guest.part("rename").click()
    expect(form).to_be_visible()
    expect(guest.part("rename")).to_be_hidden()
    expect(field).to_be_focused()
    expect(field).to_have_value(old_name)
    # The server refuses the name of a signed-in user who is here.
    field.fill("ada")
    field.press("Enter")
    expect(guest.part("error")).to_have_text("That is the name of a signed-in user.")
    expect(guest.part("me")).to_have_text(f"You are {old_name}")
    expect(form).to_be_visible()

    field.fill("Captain Nemo")
    form.get_by_role("button", name="Save").click()
    expect(guest.part("me")).to_have_text("You are Captain Nemo")
    expect(form).to_be_hidden()
    expect(guest.part("error")).to_be_hidden()
    expect(guest.part("rename")).to_be_focused()
    expect(ada.people()).to_have_text(["Ada", "Captain Nemo"])
    expect(guest.people()).to_have_text(["Ada", "Captain Nemo"])

    guest.send("twenty thousand leagues")
    item = wait_for_text(ada, "twenty thousand leagues")
    expect(item.locator(".chatroom__author")).to_have_text("Captain Nemo")
    item = wait_sent(guest, "twenty thousand leagues")
    expect(item.locator(".chatroom__author")).to_have_text("Captain Nemo")

    # Cancel leaves the name alone.
    guest.part("rename").click()
    field.fill("Someone else")
    form.get_by_role("button", name="Cancel").click()
    expect(form).to_be_hidden()
    expect(guest.part("me")).to_have_text("You are Captain Nemo")
    browsing.assert_clean()


# -- what messages may contain ------------------------------------------------------

# (text as sent, [(link text, href)]): nothing in these may run or become
# markup, and only the http(s) addresses become links.
PAYLOADS: list[tuple[str, list[tuple[str, str]]]] = [
    ("<script>window.__pwned = 1</script>", []),
    ('<img src=x onerror="window.__pwned = 1">', []),
    ("<svg onload=window.__pwned=1><circle r=5></circle></svg>", []),
    ('<iframe src="javascript:window.__pwned=1"></iframe>', []),
    ('<a href="javascript:window.__pwned=1">click me</a>', []),
    ("javascript:window.__pwned=1", []),
    ("  JaVaScRiPt:window.__pwned=1", []),
    ("java\tscript:window.__pwned=1 jav&#x09;ascript:window.__pwned=1", []),
    ("&#106;avascript&#58;window.__pwned=1 &lt;b&gt;", []),
    ("data:text/html,<script>window.__pwned=1</script>", []),
    ("vbscript:msgbox(1) file:///etc/passwd /relative/path //evil.example/x", []),
    ('"><img src=x onerror=window.__pwned=1>', []),
    ("</li><li onclick=window.__pwned=1>not an item</li>", []),
    ("<b><i>unclosed <div class='x", []),
    ("abc\u202egnp.exe and www.example.com", []),
    ("w" * 600, []),
    (
        'https://example.com/"onmouseover="window.__pwned=1',
        # The server's Markdown links the whole address, quotes encoded in
        # the href: still one harmless link, no attribute of its own.
        [
            (
                'https://example.com/"onmouseover="window.__pwned=1',
                "https://example.com/%22onmouseover=%22window.__pwned=1",
            )
        ],
    ),
    (
        "see https://example.com/a?b=1&c=2#d. and HTTP://EXAMPLE.ORG/Up, ok",
        [
            ("https://example.com/a?b=1&c=2#d", "https://example.com/a?b=1&c=2#d"),
            ("HTTP://EXAMPLE.ORG/Up", "http://example.org/Up"),
        ],
    ),
    (
        "(https://en.wikipedia.org/wiki/Foo_(bar)) and http:// alone",
        [
            (
                "https://en.wikipedia.org/wiki/Foo_(bar)",
                "https://en.wikipedia.org/wiki/Foo_(bar)",
            )
        ],
    ),
    (
        "javascript:https://example.net/x <https://example.net/y>",
        [
            ("https://example.net/x", "https://example.net/x"),
            ("https://example.net/y", "https://example.net/y"),
        ],
    ),
]


def test_messages_are_text_and_only_web_addresses_are_links(
    browsing: Browsing, fast_server: LiveServer
) -> None:
    url = fast_server.url + "/chat/xss"
    sender = browsing.open(url)
    reader = browsing.open(url)
    sender.wait_online()
    reader.wait_online()
    for text, _ in PAYLOADS:
        sender.send(text)
    # As the server keeps it; a Markdown autolink shows without its brackets.
    shown = [
        clean_text(text).replace("<https://example.net/y>", "https://example.net/y")
        for text, _ in PAYLOADS
    ]
    links = [link for _, found in PAYLOADS for link in found]
    for tab in (sender, reader):
        expect(tab.messages()).to_have_count(len(PAYLOADS))
        expect(tab.log.locator(".chatroom__msg[data-state]")).to_have_count(
            len(PAYLOADS) if tab is sender else 0
        )
        if tab is sender:
            expect(tab.log.locator('[data-state="sent"]')).to_have_count(len(PAYLOADS))
        texts = tab.log.locator(".chatroom__text")
        assert texts.all_text_contents() == shown
        anchors = tab.log.locator("a").evaluate_all(
            "els => els.map(a => [a.textContent, a.getAttribute('href'),"
            " a.getAttribute('rel'), a.getAttribute('target'),"
            " a.getAttributeNames().sort().join(' ')])"
        )
        assert [(text, href) for text, href, *_ in anchors] == links
        for _, _, rel, target, names in anchors:
            assert rel == "nofollow noopener noreferrer ugc"
            assert target == "_blank"
            assert names == "class href rel target"
        # Nothing but the widget's own elements, and no event handler attributes.
        tags = tab.log.evaluate(
            "el => [...new Set([...el.querySelectorAll('*')].map(e => e.localName))]"
        )
        assert set(tags) <= {"li", "div", "span", "time", "p", "a", "button"}
        handlers = tab.log.evaluate(
            "el => [...el.querySelectorAll('*')].flatMap(e => e.getAttributeNames())"
            ".filter(n => n.startsWith('on'))"
        )
        assert handlers == []
        tab.log.locator("a").first.hover()
        assert tab.page.evaluate("typeof window.__pwned") == "undefined"
    # The long word wraps inside its bubble.
    long_text = reader.log.locator(".chatroom__text").nth(15)
    assert long_text.evaluate("el => el.scrollWidth <= el.clientWidth")
    browsing.assert_clean()


# -- own messages: pending, sent, failed ----------------------------------------------

LOSE_ANSWERS = """() => {
  const socket = window.FlaskChatroom.instances[0].socket;
  const emit = socket.emit;
  window.__sent = [];
  socket.emit = function (event, payload) {
    if (event === "message broadcast") {
      window.__sent.push(payload.client_id);
    }
    return emit.apply(this, arguments);
  };
  // Whatever the server sends now is lost on the way.
  socket.onevent = function () {};
  socket.onack = function () {};
}"""

DROP_CONNECTION = """() => {
  const socket = window.FlaskChatroom.instances[0].socket;
  delete socket.onevent;
  delete socket.onack;
  socket.io.engine.close();
}"""


def test_a_message_waits_for_the_connection_and_is_delivered_once(
    browsing: Browsing, tmp_path: Path
) -> None:
    server = start_server(tmp_path)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        url = server.url + "/chat/"
        alice = browsing.open(url)
        bob = browsing.open(url)
        alice.wait_online()
        bob.wait_online()
        alice.allow = bob.allow = NETWORK_DOWN

        # Written while the server is down: shown at once, as pending.
        stop_server(server)
        expect(alice.root).to_have_attribute("data-state", "reconnecting")
        alice.send("written while offline")
        expect(alice.input).to_have_value("")
        item = wait_for_text(alice, "written while offline")
        expect(item).to_have_attribute("data-state", "pending")
        expect(item.locator(".chatroom__sending")).to_have_text("Sending…")
        expect(item).to_have_class(OWN)

        restarted = restart(server, tmp_path)
        expect(item).to_have_attribute("data-state", "sent", timeout=20_000)
        expect(item.locator(".chatroom__sending")).to_have_count(0)
        expect(item).to_have_attribute("data-seq", re.compile(r"^\d+$"))
        expect(bob.root).to_have_attribute("data-state", "online", timeout=20_000)
        wait_for_text(bob, "written while offline")

        # The server stores the next one, but its answer is lost with the
        # connection: the page sends it again with the same client_id, and the
        # server keeps and broadcasts it once.
        alice.page.evaluate(LOSE_ANSWERS)
        alice.send("its answer was lost")
        wait_for_text(bob, "its answer was lost")
        lost = wait_for_text(alice, "its answer was lost")
        expect(lost).to_have_attribute("data-state", "pending")
        alice.page.evaluate(DROP_CONNECTION)
        expect(lost).to_have_attribute("data-state", "sent")
        tries = alice.page.evaluate("window.__sent")
        assert len(tries) == 2 and tries[0] == tries[1]

        alice.send("and one more")
        wait_for_text(bob, "and one more")
        expected = ["written while offline", "its answer was lost", "and one more"]
        for tab in (alice, bob):
            expect(tab.log.locator(".chatroom__text")).to_have_text(expected)
        expect(alice.log.locator('[data-state="sent"]')).to_have_count(3)
        browsing.assert_clean()
    finally:
        stop_process(server.process)
        stop_process(restarted)


def test_sending_too_fast_says_slow_down_and_allows_a_retry(
    browsing: Browsing, server: LiveServer
) -> None:
    url = server.url + "/chat/too-fast"
    alice = browsing.open(url)
    bob = browsing.open(url)
    alice.wait_online()
    bob.wait_online()
    # More at once than the limit's burst (10) allows.
    alice.page.evaluate(
        """() => {
          const chat = window.FlaskChatroom.instances[0];
          for (let i = 0; i < 16; i++) {
            chat.input.value = "burst " + i;
            chat.send();
          }
        }"""
    )
    failed = alice.log.locator('[data-state="failed"]')
    expect(failed.first).to_be_visible()
    expect(failed.first.locator(".chatroom__failure-reason")).to_have_text("Slow down.")
    expect(alice.part("error")).to_have_text(re.compile("too fast"))
    expect(alice.log.locator('[data-state="pending"]')).to_have_count(0)
    assert 1 <= failed.count() <= 6
    # Retry is possible once the limit allows it again (too soon, and the
    # server says to slow down again).
    deadline = time.monotonic() + 15
    while failed.count() and time.monotonic() < deadline:
        item = failed.first
        text = item.locator(".chatroom__text").text_content() or ""
        retry = item.get_by_role("button", name="Retry")
        expect(retry).to_be_enabled()
        retry.click()
        retried = alice.messages().filter(has=alice.page.get_by_text(text, exact=True))
        expect(retried).to_have_attribute("data-state", re.compile("^(sent|failed)$"))
    expect(alice.log.locator('[data-state="sent"]')).to_have_count(16)
    expect(bob.messages()).to_have_count(16)
    shown = bob.log.locator(".chatroom__text").all_text_contents()
    assert sorted(shown) == sorted(f"burst {n}" for n in range(16))
    browsing.assert_clean()


# -- older history -----------------------------------------------------------------


def test_scrolling_to_the_top_loads_older_messages(
    browsing: Browsing, fast_server: LiveServer
) -> None:
    url = fast_server.url + "/chat/older"
    poster = browsing.open(url)
    poster.wait_online()
    poster.page.evaluate(
        """async (count) => {
          const socket = window.FlaskChatroom.instances[0].socket;
          for (let i = 0; i < count; i++) {
            const text = "old message " + String(i).padStart(3, "0");
            const ack = await socket.timeout(5000).emitWithAck(
              "message broadcast", {room: "older", message: text});
            if (!ack.ok) throw new Error(JSON.stringify(ack));
          }
        }""",
        120,
    )
    poster.page.close()

    reader = browsing.open(url, viewport={"width": 800, "height": 500})
    reader.wait_online()
    texts = reader.log.locator(".chatroom__text")
    expect(reader.messages()).to_have_count(50)  # CHATROOM_HISTORY_LIMIT
    expect(texts.first).to_have_text("old message 070")
    expect(texts.last).to_have_text("old message 119")
    padding = reader.log.evaluate("el => parseFloat(getComputedStyle(el).paddingTop)")

    def top_of(text: str) -> float:
        return float(
            reader.messages(text).evaluate(
                "el => el.getBoundingClientRect().top"
                " - el.parentElement.getBoundingClientRect().top"
            )
        )

    reader.log.evaluate("el => { el.scrollTop = 0; }")
    expect(reader.messages()).to_have_count(100)
    expect(texts.first).to_have_text("old message 020")
    # What the reader was looking at stays where it was.
    assert abs(top_of("old message 070") - padding) <= 1
    assert reader.log.evaluate("el => el.scrollTop") > 0
    expect(reader.part("jump")).to_be_hidden()
    expect(reader.part("older")).to_be_hidden()

    reader.log.evaluate("el => { el.scrollTop = 0; }")
    expect(reader.messages()).to_have_count(120)
    expect(texts.first).to_have_text("old message 000")
    assert abs(top_of("old message 020") - padding) <= 1
    assert texts.all_text_contents() == [f"old message {n:03d}" for n in range(120)]
    browsing.assert_clean()


# -- moderation ----------------------------------------------------------------------


def _ada_moderates() -> bool:
    from examples.hostapp.app import USERS

    return "moderator" in (getattr(USERS["ada"], "roles", None) or ())


@pytest.mark.skipif(
    not _ada_moderates(), reason="the example app's Ada is not a moderator"
)
def test_a_moderator_deletes_a_message_and_mutes_a_guest(
    browsing: Browsing, server: LiveServer
) -> None:
    url = server.url + "/chat/moderation"
    guest = browsing.open(url)
    guest_name = guest.wait_online()
    ada = sign_in(browsing, server, "Ada", url)
    guest.send("buy cheap watches")
    wait_sent(guest, "buy cheap watches")
    ada.send("a word from the moderator")
    wait_sent(ada, "a word from the moderator")

    item = wait_for_text(ada, "buy cheap watches")
    delete = item.get_by_role("button", name=f"Delete the message from {guest_name}")
    expect(delete).to_have_text("Delete")
    own = wait_for_text(ada, "a word from the moderator")
    expect(own.get_by_role("button", name=re.compile("^Delete"))).to_have_count(1)
    # Guests do not moderate: no Delete on others' messages.
    theirs = wait_for_text(guest, "a word from the moderator")
    expect(theirs.locator(".chatroom__delete")).to_be_hidden()

    message_id = item.get_attribute("data-id")
    delete.click()
    item.get_by_role("group", name="Delete this message?").get_by_role(
        "button", name="Delete", exact=True
    ).click()
    for tab in (ada, guest):
        text = tab.log.locator(f'[data-id="{message_id}"] .chatroom__text')
        expect(text).to_have_text("This message was removed.")
    expect(item.locator("button")).to_have_count(0)

    # Muted for ten minutes (there is no mute button yet: through the socket).
    guest_id = (
        ada.part("people-list")
        .locator(".chatroom__person")
        .filter(has_text=guest_name)
        .get_attribute("data-id")
    )
    answer = ada.page.evaluate(
        """([room, user]) => window.FlaskChatroom.instances[0].socket.timeout(5000)
             .emitWithAck("mute", {room: room, user_id: user, seconds: 600})""",
        ["moderation", guest_id],
    )
    assert answer["ok"] is True
    guest.send("am I muted?")
    failed = wait_for_text(guest, "am I muted?")
    expect(failed).to_have_attribute("data-state", "failed")
    expect(failed.locator(".chatroom__failure-reason")).to_have_text("Not sent.")
    expect(failed.get_by_role("button", name="Retry")).to_be_enabled()
    expect(guest.part("error")).to_have_text(
        "A moderator muted you in this room. You can write again in 10 minutes."
    )
    failed.get_by_role("button", name="Discard").click()
    expect(guest.messages("am I muted?")).to_have_count(0)
    expect(ada.messages("am I muted?")).to_have_count(0)
    browsing.assert_clean()
