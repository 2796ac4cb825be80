"""Files and search (issue 16) in a real browser: attaching with the Attach
button (by mouse and by keyboard), by pasting a screenshot and by dropping a
file on the log; the upload chips (progress, Cancel, Remove, the server's
refusal); the image and the file card on the other user's page; a deleted
message taking its files with it; the full page's search with highlighted
matches, "More results", and going to a result in its context (older pages
loaded when it is near, else a page of its own with "Jump to latest"), by
keyboard too; the new controls at 320 px; axe-core audits of each new state in
both themes.

Each user is a browser context of its own, signed in to the example app. Upload
requests are held with ``page.route`` where a test needs an upload to stay on
its way (no timing races): the route is released, or the upload cancelled, when
the test says so.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer, start_server, stop_server
from .test_browser import Browsing, Tab, expect, wait_for_text, wait_sent
from .test_browser_conversations import audit, axe_script
from .test_browser_messages import (
    DELETED,
    no_horizontal_scroll,
    post_many,
    shown,
    tool,
    user,
)

__all__ = ["axe_script"]  # a fixture, used by name

pytestmark = [pytest.mark.browser, pytest.mark.server]

UPLOADS = "**/api/rooms/*/attachments"
# What Chromium logs for an upload the server refused (its 4xx answer).
REFUSED_LOG = re.compile(r"status of 4\d\d")
HIGHLIGHT = re.compile(r"\bchatroom__msg--highlight\b")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The example host app with a third user (Linus) and no rate limits (tests
    post many messages quickly), shared by this module's tests: each uses a room
    of its own."""
    live = start_server(
        tmp_path_factory.mktemp("browser-files"),
        config={"CHATROOM_RATE_LIMITS": None, "TEST_USERS": {"linus": "Linus"}},
    )
    yield live
    stop_server(live)


@pytest.fixture
def browsing(browser: Any) -> Iterator[Browsing]:
    session = Browsing(browser)
    yield session
    session.close()


# -- files to upload ---------------------------------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A real PNG image of one colour."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def payload(name: str, mime: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


# Builds a File in the page from base64 bytes, kept as window.__file.
MAKE_FILE = """([name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  window.__file = new File([bytes], name, { type: type });
}"""


def make_file(tab: Tab, name: str, mime: str, data: bytes) -> None:
    tab.page.evaluate(MAKE_FILE, [name, mime, base64.b64encode(data).decode()])


def paste_file(tab: Tab, name: str, mime: str, data: bytes) -> None:
    """Paste a file into the text box, as a screenshot from the clipboard."""
    make_file(tab, name, mime, data)
    tab.page.evaluate(
        """() => {
          const data = new DataTransfer();
          data.items.add(window.__file);
          const input = document.querySelector("[data-chatroom-input]");
          input.focus();
          input.dispatchEvent(new ClipboardEvent("paste",
            { clipboardData: data, bubbles: true, cancelable: true }));
        }"""
    )


def drag(tab: Tab, name: str, mime: str, data: bytes) -> None:
    """Drag a file over the log (not dropped yet)."""
    make_file(tab, name, mime, data)
    tab.page.evaluate(
        """() => {
          window.__drag = new DataTransfer();
          window.__drag.items.add(window.__file);
          const log = document.querySelector("[data-chatroom-log]");
          for (const type of ["dragenter", "dragover"]) {
            log.dispatchEvent(new DragEvent(type,
              { dataTransfer: window.__drag, bubbles: true, cancelable: true }));
          }
        }"""
    )


def drop(tab: Tab) -> None:
    tab.page.evaluate(
        """() => {
          const log = document.querySelector("[data-chatroom-log]");
          log.dispatchEvent(new DragEvent("drop",
            { dataTransfer: window.__drag, bubbles: true, cancelable: true }));
        }"""
    )


def attach(tab: Tab, *files: dict[str, Any]) -> None:
    tab.part("file").set_input_files(list(files))


class Held:
    """Upload requests held on their way until released (or cancelled): all of
    them, or those of the files named *names*."""

    def __init__(self, tab: Tab, *names: str) -> None:
        self.tab = tab
        self.names = names
        self.routes: list[Any] = []
        tab.page.route(UPLOADS, self.hold)

    def hold(self, route: Any) -> None:
        body = route.request.post_data_buffer or b""
        if self.names and not any(
            f'filename="{name}"'.encode() in body for name in self.names
        ):
            route.continue_()
            return
        self.routes.append(route)

    def wait(self, count: int = 1) -> None:
        for _ in range(200):
            if len(self.routes) >= count:
                return
            self.tab.page.wait_for_timeout(50)
        raise AssertionError(f"{count} upload(s) never started: {len(self.routes)}")

    def release(self) -> None:
        """Let the held uploads go on, and those to come."""
        routes, self.routes = self.routes, []
        for route in routes:
            route.continue_()
        self.tab.page.unroute(UPLOADS, self.hold)


def chips(tab: Tab) -> Any:
    return tab.part("uploads").locator(".chatroom__upload")


def chip(tab: Tab, name: str) -> Any:
    return chips(tab).filter(
        has=tab.page.locator(".chatroom__upload-name", has_text=name)
    )


def attach_button(tab: Tab) -> Any:
    return tab.root.get_by_role("button", name="Attach files")


def image_in(item: Any, name: str) -> Any:
    return item.get_by_role("img", name=name)


def loaded(image: Any) -> bool:
    return bool(image.evaluate("img => img.complete && img.naturalWidth > 0"))


# -- attaching ---------------------------------------------------------------------


def test_attach_button_shows_progress_then_the_image_on_the_other_page(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "files-attach")
    linus = user(browsing, server, "Linus", "files-attach")
    expect(attach_button(grace)).to_be_visible()
    held = Held(grace)
    attach(grace, payload("cat.png", "image/png", png(800, 600)))
    item = chip(grace, "cat.png")
    progress = item.get_by_role("progressbar", name="Uploading cat.png")
    expect(progress).to_be_visible()
    expect(item.get_by_role("button", name="Cancel uploading cat.png")).to_be_visible()
    held.wait()

    # Send waits while an upload is on its way, and says so.
    grace.input.fill("my cat")
    grace.input.press("Enter")
    expect(grace.part("error")).to_contain_text("Wait until the files are uploaded")
    expect(grace.input).to_have_value("my cat")

    held.release()
    expect(item).to_have_attribute("data-state", "done")
    expect(item).to_contain_text("Ready to send")
    expect(progress).to_have_count(0)
    expect(item.get_by_role("button", name="Remove cat.png")).to_be_visible()
    thumb = item.locator("img")
    expect(thumb).to_have_count(1)  # the server's thumbnail, not a blob: preview
    assert thumb.get_attribute("src").startswith(server.url + "/")

    grace.input.press("Enter")
    wait_sent(grace, "my cat")
    expect(chips(grace)).to_have_count(0)
    expect(grace.part("uploads")).to_be_hidden()

    theirs = shown(linus, "my cat")
    image = image_in(theirs, "cat.png")
    expect(image).to_be_visible()
    linus.page.wait_for_function(
        "() => [...document.querySelectorAll('.chatroom__file-image')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    # Scaled to fit its box, from the size the server knows.
    assert image.get_attribute("width") == "320"
    assert image.get_attribute("height") == "240"
    assert image.get_attribute("loading") == "lazy"
    link = theirs.locator("a.chatroom__file--image")
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in (link.get_attribute("rel") or "")
    full = link.get_attribute("href")
    assert full and full.startswith(server.url + "/")
    response = linus.page.context.request.get(full)
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/")
    # The full-size image opens in a new tab.
    with linus.page.context.expect_page() as opened:
        link.click()
    new_page = opened.value
    new_page.wait_for_load_state()
    assert new_page.url == full
    new_page.close()
    # The sender's own copy shows it too (from the server's answer).
    expect(image_in(shown(grace, "my cat"), "cat.png")).to_be_visible()
    browsing.assert_clean()


def test_paste_a_screenshot_and_drop_a_file_on_the_log(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "files-paste")
    linus = user(browsing, server, "Linus", "files-paste")

    paste_file(grace, "screenshot.png", "image/png", png(64, 48, (20, 120, 220)))
    expect(chip(grace, "screenshot.png")).to_have_attribute("data-state", "done")

    drag(grace, "notes.txt", "text/plain", b"some notes\n" * 100)
    expect(grace.root).to_have_attribute("data-drop", "on")
    expect(grace.page.locator(".chatroom__drophint")).to_be_visible()
    drop(grace)
    expect(grace.page.locator(".chatroom__drophint")).to_be_hidden()
    expect(grace.root).not_to_have_attribute("data-drop", "on")
    expect(chip(grace, "notes.txt")).to_have_attribute("data-state", "done")

    # Files only: no text needed.
    grace.input.focus()
    grace.input.press("Enter")
    expect(chips(grace)).to_have_count(0)
    theirs = linus.log.locator(".chatroom__msg").filter(
        has=linus.page.locator(".chatroom__files")
    )
    expect(theirs).to_have_count(1)
    expect(image_in(theirs, "screenshot.png")).to_be_visible()
    card = theirs.locator(".chatroom__file--card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("notes.txt")
    expect(card.locator(".chatroom__file-meta")).to_have_text("Text file · 1.1 KB")
    download = card.get_by_role("link", name="notes.txt")
    assert download.get_attribute("download") == "notes.txt"
    with linus.page.expect_download() as downloading:
        download.click()
    assert downloading.value.suggested_filename == "notes.txt"
    browsing.assert_clean()


def test_a_refused_file_shows_the_server_s_reason_and_can_be_removed(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "files-refused")
    grace.allow = REFUSED_LOG
    page_html = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    attach(
        grace,
        payload("fake.png", "image/png", page_html),
        payload("drawing.svg", "image/svg+xml", svg),
    )
    for name in ("fake.png", "drawing.svg"):
        item = chip(grace, name)
        expect(item).to_have_attribute("data-state", "failed")
        alert = item.get_by_role("alert")
        expect(alert).to_be_visible()
        assert (alert.text_content() or "").strip()
    # Nothing to send: the text box is empty and no file was taken.
    grace.input.press("Enter")
    expect(grace.part("error")).to_contain_text("None of the files could be uploaded")
    # Remove by keyboard; the focus moves to the next chip's button.
    remove = chip(grace, "fake.png").get_by_role("button", name="Remove fake.png")
    remove.focus()
    grace.page.keyboard.press("Enter")
    expect(chip(grace, "fake.png")).to_have_count(0)
    expect(
        chip(grace, "drawing.svg").get_by_role("button", name="Remove drawing.svg")
    ).to_be_focused()
    grace.page.keyboard.press("Enter")
    expect(chips(grace)).to_have_count(0)
    expect(grace.input).to_be_focused()
    browsing.assert_clean()


def test_cancel_an_upload_on_its_way(browsing: Browsing, server: LiveServer) -> None:
    grace = user(browsing, server, "Grace", "files-cancel")
    linus = user(browsing, server, "Linus", "files-cancel")
    failed: list[str] = []
    grace.page.on("requestfailed", lambda request: failed.append(request.url))
    held = Held(grace)
    attach(grace, payload("big.bin", "application/octet-stream", b"\0" * 300_000))
    held.wait()
    item = chip(grace, "big.bin")
    expect(item).to_have_attribute("data-state", "uploading")
    item.get_by_role("button", name="Cancel uploading big.bin").click()
    expect(item).to_have_count(0)
    expect(grace.part("uploads")).to_be_hidden()
    # The browser gave the request up (the server never got it).
    for _ in range(100):
        if any(url.endswith("/attachments") for url in failed):
            break
        grace.page.wait_for_timeout(50)
    assert any(url.endswith("/attachments") for url in failed), failed
    grace.page.unroute(UPLOADS, held.hold)
    # Nothing is sent with the next message.
    grace.send("no files here")
    wait_sent(grace, "no files here")
    theirs = shown(linus, "no files here")
    expect(theirs.locator(".chatroom__files")).to_have_count(0)
    browsing.assert_clean()


def test_uploads_stay_with_their_room_and_go_with_a_deleted_message(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "files-rooms")
    linus = user(browsing, server, "Linus", "files-rooms")
    attach(grace, payload("kept.png", "image/png", png(40, 30)))
    expect(chip(grace, "kept.png")).to_have_attribute("data-state", "done")
    grace.input.fill("a draft with a file")

    # Another room has no chips; coming back brings them back with the draft.
    grace.page.evaluate(
        "() => window.FlaskChatroom.instances[0].switchRoom('files-other', false)"
    )
    expect(grace.part("room-name")).to_have_text("#files-other")
    expect(chips(grace)).to_have_count(0)
    expect(grace.input).to_have_value("")
    grace.page.evaluate(
        "() => window.FlaskChatroom.instances[0].switchRoom('files-rooms', false)"
    )
    expect(chip(grace, "kept.png")).to_have_attribute("data-state", "done")
    expect(grace.input).to_have_value("a draft with a file")
    grace.input.press("Enter")
    wait_sent(grace, "a draft with a file")

    theirs = shown(linus, "a draft with a file")
    expect(image_in(theirs, "kept.png")).to_be_visible()
    own = shown(grace, "a draft with a file")
    tool(own, "Delete").click()
    own.get_by_role("group", name="Delete this message?").get_by_role(
        "button", name="Delete", exact=True
    ).click()
    expect(theirs.locator(".chatroom__text")).to_have_text(DELETED)
    expect(theirs.locator(".chatroom__files")).to_have_count(0)
    expect(theirs.get_by_role("img")).to_have_count(0)
    expect(own.locator(".chatroom__files")).to_have_count(0)
    browsing.assert_clean()


def test_attach_and_search_by_keyboard_alone(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "files-keys")
    # Listening from the start: Playwright turns the browser's file chooser
    # interception on when a listener is added, without waiting for it, so a
    # listener added just before the key press could miss the chooser.
    choosers: list[Any] = []
    grace.page.on("filechooser", lambda chooser: choosers.append(chooser))
    grace.input.focus()
    grace.page.keyboard.press("Shift+Tab")
    expect(attach_button(grace)).to_be_focused()
    grace.page.keyboard.press("Enter")
    for _ in range(100):
        if choosers:
            break
        grace.page.wait_for_timeout(50)
    assert len(choosers) == 1
    choosers[0].set_files([payload("by-keys.png", "image/png", png(30, 30))])
    expect(chip(grace, "by-keys.png")).to_have_attribute("data-state", "done")
    expect(grace.input).to_be_focused()
    grace.page.keyboard.type("sent by keyboard kbdsearchword")
    grace.page.keyboard.press("Enter")
    wait_sent(grace, "kbdsearchword")

    search = grace.root.get_by_role("searchbox", name="Search messages")
    search.focus()
    grace.page.keyboard.type("kbdsearchword")
    grace.page.keyboard.press("Enter")
    results = grace.part("search-results")
    expect(results).to_be_visible()
    result = results.locator(".chatroom__result")
    expect(result).to_have_count(1)
    expect(result.locator("mark")).to_have_text("kbdsearchword")
    # Escape closes the results and gives the focus back to the search box.
    grace.page.keyboard.press("Escape")
    expect(results).to_be_hidden()
    expect(search).to_be_focused()
    grace.page.keyboard.press("Enter")
    expect(results).to_be_visible()
    for _ in range(6):
        grace.page.keyboard.press("Tab")
        if result.evaluate("el => el === document.activeElement"):
            break
    expect(result).to_be_focused()
    grace.page.keyboard.press("Enter")
    expect(results).to_be_hidden()
    target = shown(grace, "kbdsearchword")
    expect(target).to_be_focused()
    browsing.assert_clean()


# -- search --------------------------------------------------------------------------


def test_search_and_jump_to_a_message_far_back_and_near(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "findme")
    grace.send("the quokkaunique target 😀 here")
    wait_sent(grace, "quokkaunique")
    post_many(grace, "findme", [f"filler fillerword{i}" for i in range(120)])
    wait_for_text(grace, "fillerword119")

    # Linus is in another room: the result takes him to its room.
    linus = user(browsing, server, "Linus", "findme-away")
    search = linus.root.get_by_role("searchbox", name="Search messages")
    search.fill("quokkaunique")
    search.press("Enter")
    results = linus.part("search-results")
    expect(results).to_be_visible()
    expect(results.get_by_role("status")).to_contain_text("1 message")
    result = results.locator(".chatroom__result")
    expect(result).to_have_count(1)
    expect(result.locator(".chatroom__result-room")).to_have_text("#findme")
    expect(result.locator(".chatroom__result-author")).to_have_text("Grace")
    expect(result.locator("mark")).to_have_text("quokkaunique")
    expect(result.locator(".chatroom__result-text")).to_have_text(
        "the quokkaunique target 😀 here"
    )
    result.click()

    expect(linus.part("room-name")).to_have_text("#findme")
    target = shown(linus, "quokkaunique")
    expect(target).to_be_in_viewport()
    expect(target).to_be_focused()
    expect(target).to_have_class(HIGHLIGHT)
    # Its neighbours are there; the latest messages are not (a page of its own).
    expect(shown(linus, "fillerword0")).to_be_visible()
    expect(linus.messages("fillerword119")).to_have_count(0)
    latest = linus.part("latest")
    expect(latest).to_be_visible()
    # Messages posted meanwhile are not mixed into the old page.
    grace.send("posted while linus reads old ones")
    wait_sent(grace, "posted while linus reads old ones")
    linus.page.wait_for_timeout(300)
    expect(linus.messages("posted while linus reads")).to_have_count(0)
    latest.click()
    expect(latest).to_be_hidden()
    expect(shown(linus, "posted while linus reads old ones")).to_be_in_viewport()
    expect(linus.messages("quokkaunique")).to_have_count(0)

    # A message a page back: older messages load, the log stays whole.
    search.fill("fillerword60")
    search.press("Enter")
    result = results.locator(".chatroom__result")
    expect(result).to_have_count(1)
    expect(result.locator("mark")).to_have_text("fillerword60")
    result.click()
    near = shown(linus, "fillerword60")
    expect(near).to_be_in_viewport()
    expect(near).to_be_focused()
    expect(latest).to_be_hidden()
    expect(shown(linus, "posted while linus reads old ones")).to_have_count(1)
    browsing.assert_clean()


def test_more_results_pages_through_a_long_search(
    browsing: Browsing, server: LiveServer
) -> None:
    grace = user(browsing, server, "Grace", "manyhits")
    post_many(grace, "manyhits", [f"pangolinword number {i}" for i in range(30)])
    wait_for_text(grace, "number 29")
    search = grace.root.get_by_role("searchbox", name="Search messages")
    search.fill("pangolinword")
    search.press("Enter")
    results = grace.part("search-results")
    items = results.locator(".chatroom__result")
    expect(items).to_have_count(20)
    more = results.get_by_role("button", name="More results")
    expect(more).to_be_visible()
    more.click()
    expect(items).to_have_count(30)
    expect(more).to_be_hidden()
    texts = items.locator(".chatroom__result-text").all_text_contents()
    assert len(set(texts)) == 30
    browsing.assert_clean()


# -- small screens and accessibility --------------------------------------------------


def test_chips_and_search_results_fit_a_320_px_screen(
    browsing: Browsing, server: LiveServer
) -> None:
    linus = user(
        browsing,
        server,
        "Linus",
        "files-narrow",
        viewport={"width": 320, "height": 568},
    )
    # The Attach button fits beside the text box, whose placeholder still
    # shows whole (its short form) without scrolling.
    expect(attach_button(linus)).to_be_in_viewport()
    expect(linus.part("send")).to_be_in_viewport()
    assert linus.input.evaluate("el => el.scrollHeight <= el.clientHeight + 1")
    held = Held(linus)
    long_name = "a-very-long-file-name-that-goes-on-and-on-" * 3 + ".png"
    attach(
        linus,
        payload(long_name, "image/png", png(20, 20)),
        payload("second.png", "image/png", png(20, 20)),
        payload("third.png", "image/png", png(20, 20)),
    )
    held.wait(3)
    expect(chips(linus)).to_have_count(3)
    no_horizontal_scroll(linus)
    for index in range(3):
        box = chips(linus).nth(index).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    expect(linus.part("send")).to_be_in_viewport()
    held.release()
    expect(chips(linus).locator("progress")).to_have_count(0)
    linus.input.fill("narrowwordsearch " + "long words " * 10)
    linus.input.press("Enter")
    wait_sent(linus, "narrowwordsearch")

    search = linus.root.get_by_role("searchbox", name="Search messages")
    expect(search).to_be_visible()
    search.fill("narrowwordsearch")
    search.press("Enter")
    results = linus.part("search-results")
    expect(results.locator(".chatroom__result")).to_have_count(1)
    box = results.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    no_horizontal_scroll(linus)
    browsing.assert_clean()


def test_accessibility_of_files_and_search_in_both_themes(
    browsing: Browsing, server: LiveServer, axe_script: Path
) -> None:
    # axe-core is injected, so these pages do without the CSP.
    grace = user(browsing, server, "Grace", "files-audit", bypass_csp=True)
    linus = user(browsing, server, "Linus", "files-audit", bypass_csp=True)
    grace.allow = REFUSED_LOG

    held = Held(grace, "waiting.png")
    attach(grace, payload("waiting.png", "image/png", png(50, 50)))
    held.wait()
    attach(grace, payload("refused.png", "image/png", b"<html>not an image</html>"))
    expect(chip(grace, "refused.png").get_by_role("alert")).to_be_visible()
    expect(chip(grace, "waiting.png").get_by_role("progressbar")).to_be_visible()
    audit(grace, axe_script, "upload chips: progress and an error")

    held.release()
    expect(chip(grace, "waiting.png")).to_have_attribute("data-state", "done")
    chip(grace, "refused.png").get_by_role("button", name="Remove refused.png").click()
    attach(grace, payload("report.txt", "text/plain", b"a report\n" * 20))
    expect(chip(grace, "report.txt")).to_have_attribute("data-state", "done")
    grace.input.fill("an image and a file auditword")
    grace.input.press("Enter")
    wait_sent(grace, "auditword")
    theirs = shown(linus, "auditword")
    expect(image_in(theirs, "waiting.png")).to_be_visible()
    expect(theirs.locator(".chatroom__file--card")).to_contain_text("report.txt")
    audit(linus, axe_script, "a message with an image and a file")

    search = linus.root.get_by_role("searchbox", name="Search messages")
    search.fill("auditword")
    search.press("Enter")
    expect(linus.part("search-results").locator(".chatroom__result")).to_have_count(1)
    audit(linus, axe_script, "search results open")
    browsing.assert_clean()
