"""The blueprint's pages, templates, widget macro and static files."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from flask import Flask, render_template
from flask_socketio import SocketIO

from flask_chatroom import __version__, register_chat
from flask_chatroom.vendor import (
    SOCKETIO_CLIENT_FILES,
    SOCKETIO_CLIENT_VERSION,
    VENDOR_DIR,
)

from .conftest import make_app

HOST_TEMPLATES = Path(__file__).parent / "host_templates"


def host_app(**config: object) -> Flask:
    app = Flask(__name__, template_folder=str(HOST_TEMPLATES))
    app.config.update(SECRET_KEY="s", **config)
    register_chat(app, SocketIO(app, async_mode="threading"))

    @app.route("/")
    def home() -> str:
        return render_template("home.html")

    return app


def test_chat_page_is_a_full_page_with_the_widget() -> None:
    html = make_app().test_client().get("/chat/").get_data(as_text=True)
    assert html.startswith("<!doctype html>")
    assert "<title>Chat</title>" in html
    assert "data-chatroom\n" in html or "data-chatroom " in html
    assert 'data-namespace="/chat"' in html
    assert 'data-room="lobby"' in html
    assert 'role="log"' in html and 'aria-live="polite"' in html
    assert "<textarea" in html and ">Send</button>" in html


def test_chat_page_has_no_inline_scripts_styles_or_handlers() -> None:
    html = make_app().test_client().get("/chat/").get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert " style=" not in html
    assert re.findall(r"\son[a-z]+=", html) == []


def test_chat_page_sends_a_strict_content_security_policy() -> None:
    response = make_app().test_client().get("/chat/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_content_security_policy_is_configurable_or_off() -> None:
    custom = make_app(CHATROOM_CONTENT_SECURITY_POLICY="default-src 'self' cdn.example")
    assert custom.test_client().get("/chat/").headers["Content-Security-Policy"] == (
        "default-src 'self' cdn.example"
    )
    off = make_app(CHATROOM_CONTENT_SECURITY_POLICY=None)
    assert "Content-Security-Policy" not in off.test_client().get("/chat/").headers


def test_a_host_policy_set_by_the_host_is_kept() -> None:
    app = make_app()

    @app.after_request
    def host_policy(response):  # type: ignore[no-untyped-def]
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response

    assert (
        app.test_client().get("/chat/").headers["Content-Security-Policy"]
        == "default-src 'none'"
    )


def test_host_pages_get_no_policy_from_the_chat() -> None:
    app = host_app()
    assert "Content-Security-Policy" not in app.test_client().get("/").headers


def test_asset_urls_carry_versions_and_are_served() -> None:
    client = make_app().test_client()
    html = client.get("/chat/").get_data(as_text=True)
    assert f'href="/chat/static/chatroom/chat.css?v={__version__}"' in html
    assert (
        f'src="/chat/static/vendor/socket.io/socket.io.min.js?v={SOCKETIO_CLIENT_VERSION}"'
        in html
    )
    assert f'src="/chat/static/chatroom/chat.js?v={__version__}"' in html
    for url in re.findall(r'(?:src|href)="(/chat/static/[^"]+)"', html):
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.data) > 1000, url
        response.close()


def test_the_vendored_client_is_the_pinned_release_with_its_license() -> None:
    for name, digest in SOCKETIO_CLIENT_FILES.values():
        data = (VENDOR_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    client_js = (VENDOR_DIR / "socket.io.min.js").read_text()
    assert f"Socket.IO v{SOCKETIO_CLIENT_VERSION}" in client_js
    assert "MIT" in (VENDOR_DIR / "LICENSE").read_text()


def test_no_page_loads_anything_from_a_cdn() -> None:
    html = make_app().test_client().get("/chat/").get_data(as_text=True)
    assert re.findall(r'(?:src|href)="(?:https?:)?//', html) == []


def test_widget_embeds_in_a_host_page() -> None:
    app = host_app()
    html = app.test_client().get("/").get_data(as_text=True)
    assert (
        "<h1>The host&#39;s own page</h1>" in html
        or "<h1>The host's own page</h1>" in html
    )
    assert html.count("data-chatroom\n") + html.count("data-chatroom ") == 2
    assert ">Support</h2>" in html
    assert html.count("socket.io.min.js") == 1  # assets=False on the second widget
    # The host's own widget template extends ours and replaces one block.
    assert "Ask us anything in #lobby" in html
    assert html.count("data-chatroom-form") == 2
    ids = re.findall(r'id="chatroom-input-([0-9a-f]+)"', html)
    assert len(ids) == len(set(ids)) == 2


def test_rendering_the_widget_gives_a_guest_a_name_in_the_session() -> None:
    app = host_app()
    client = app.test_client()
    client.get("/")
    with client.session_transaction() as session:
        guest = session["chatroom_guest"]
    socketio = app.extensions["socketio"]
    chat = socketio.test_client(app, namespace="/chat", flask_test_client=client)
    welcome = next(e for e in chat.get_received("/chat") if e["name"] == "welcome")
    assert welcome["args"][0]["client"] == guest["name"]


def test_host_overrides_a_template_by_path() -> None:
    html = (
        host_app(CHATROOM_TITLE="Team")
        .test_client()
        .get("/chat/")
        .get_data(as_text=True)
    )
    assert "<title>Host layout: Team</title>" in html
    assert 'class="host-owned-layout"' in html
    assert "data-chatroom" in html  # the chat page's own content still renders


def test_socketio_path_and_script_root_reach_the_page() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "s"
    register_chat(app, SocketIO(app, async_mode="threading", path="/ws/io"))
    html = (
        app.test_client()
        .get("/chat/", environ_overrides={"SCRIPT_NAME": "/site"})
        .get_data(as_text=True)
    )
    assert 'data-socketio-path="/site/ws/io/"' in html
    assert 'src="/site/chat/static/chatroom/chat.js' in html


def test_theme_and_title_come_from_config() -> None:
    html = (
        make_app(CHATROOM_THEME="light", CHATROOM_TITLE="Support <desk>")
        .test_client()
        .get("/chat/")
        .get_data(as_text=True)
    )
    assert 'data-theme="light"' in html
    assert "Support &lt;desk&gt;" in html and "<desk>" not in html


def test_page_without_secret_key_still_works() -> None:
    app = Flask(__name__)
    register_chat(app, SocketIO(app, async_mode="threading"))
    assert app.test_client().get("/chat/").status_code == 200


def test_the_widget_asks_anonymous_visitors_to_sign_in_when_login_is_required() -> None:
    app = host_app(CHATROOM_REQUIRE_LOGIN=True)
    html = app.test_client().get("/").get_data(as_text=True)
    assert "Please sign in to chat." in html
    assert "data-chatroom\n" not in html  # no widget that would connect and be refused
    assert "data-chatroom-form" not in html


def test_the_full_page_offers_a_new_room_form_once_a_hook_may_allow_it() -> None:
    """Without a ``can_create_room`` hook nobody may make rooms, and the page
    offers no form; registering one puts the form on the full page."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="s")
    chat = register_chat(app, SocketIO(app, async_mode="threading"))
    page = app.test_client().get("/chat/").get_data(as_text=True)
    assert "data-chatroom-new-room" not in page

    @chat.can_create_room
    def signed_in_users(user: Any, room: str, kind: str) -> bool:
        return not user.anonymous

    page = app.test_client().get("/chat/").get_data(as_text=True)
    assert "data-chatroom-new-room" in page
