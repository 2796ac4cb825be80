"""The bundled example host app: its own pages, its sign-in, and the chat in it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from examples.hostapp.app import create_app, safe_next

TOKEN = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


@pytest.fixture
def site(tmp_path: Path) -> Flask:
    """The example app, its chat on a database of the test's own (not the
    checkout's instance folder, which outlives test runs and upgrades)."""
    return create_app(
        {
            "SOCKETIO_ASYNC_MODE": "threading",
            "TESTING": True,
            "CHATROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'chat.sqlite3'}",
        }
    )


def csrf_token(http: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of *http*'s session, from a form on *path*."""
    match = TOKEN.search(http.get(path).get_data(as_text=True))
    assert match, f"no csrf_token field on {path}"
    return match.group(1)


def sign_in(http: FlaskClient, user: str, query: object = None) -> object:
    """POST the sign-in form as a browser would: with the session's token."""
    token = csrf_token(http)
    return http.post(
        "/login", query_string=query, data={"user": user, "csrf_token": token}
    )


def test_the_site_keeps_its_own_pages_and_404(site: Flask) -> None:
    http = site.test_client()
    home = http.get("/").get_data(as_text=True)
    assert "Welcome to Acme" in home
    assert "data-chatroom" in home  # the widget on the host's own page
    assert 'href="/chat/"' in home  # the nav link to the full chat page
    assert "Hello, world!" in http.get("/hello").get_data(as_text=True)
    missing = http.get("/no-such-page")
    assert missing.status_code == 404
    assert "Acme has no page at this address" in missing.get_data(as_text=True)


def test_signed_in_users_chat_under_their_names(site: Flask) -> None:
    http = site.test_client()
    response = sign_in(http, "grace", {"next": "/chat/"})
    assert (response.status_code, response.headers["Location"]) == (302, "/chat/")
    assert "Signed in as <strong>Grace</strong>" in http.get("/").get_data(as_text=True)
    chat = site.extensions["socketio"].test_client(
        site, namespace="/chat", flask_test_client=http
    )
    welcome = chat.get_received("/chat")[0]["args"][0]
    assert (welcome["client"], welcome["user_id"]) == ("Grace", "grace")
    assert chat.is_connected("/chat")
    logout = http.post("/logout", data={"csrf_token": csrf_token(http, "/")})
    assert logout.status_code == 302
    assert "Sign in</a>" in http.get("/").get_data(as_text=True)
    # Signing out ends the chat connections that spoke as Grace.
    assert not chat.is_connected("/chat")


#: Open-redirect payloads as they arrive in ``next`` (already URL-decoded once by
#: the query string), from the usual lists: other hosts spelled so that a naive
#: ``startswith("/")`` check lets them through, or that browsers clean up into
#: ``//host``.
OPEN_REDIRECTS = [
    "//evil.example/",
    "///evil.example/",
    "////evil.example/",
    "https://evil.example/",
    "http:evil.example",
    "http:/evil.example",
    "https:/\\evil.example",
    "/\\evil.example",
    "\\evil.example",
    "/\\/evil.example",
    "\\/evil.example",
    "/\t/evil.example/x",  # the review's /%09/evil.example/x, once decoded
    "/\n/evil.example",
    "/\r/evil.example",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    "/\x0c/evil.example",
    "/\x7f/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/ /evil.example",
    "//evil.example%2F..",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%5C/evil.example",
    "/%09/evil.example",
    "/%0D%0A/evil.example",
    "/\u3000/evil.example",
    "/\uff0f/evil.example",  # fullwidth solidus
    "\u3031evil.example",
    "//evil\u3002example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "@evil.example",
    "//evil.example@example.com",
    "",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_sign_in_only_redirects_to_paths_on_the_site(site: Flask, target: str) -> None:
    response = sign_in(site.test_client(), "ada", {"next": target})
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    assert safe_next(target) is None


@pytest.mark.parametrize(
    "raw",
    ["next=/%09/evil.example/x", "next=%2F%09%2Fevil.example", "next=/%5C/evil"],
)
def test_the_reviewed_redirect_as_the_browser_sends_it(site: Flask, raw: str) -> None:
    http = site.test_client()
    token = csrf_token(http)
    response = http.post(f"/login?{raw}", data={"user": "ada", "csrf_token": token})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "target", ["/chat/", "/hello", "/chat/garden?x=1#end", "/caf%C3%A9", "/a/b/../c"]
)
def test_sign_in_keeps_a_path_on_the_site(site: Flask, target: str) -> None:
    response = sign_in(site.test_client(), "grace", {"next": target})
    location = response.headers["Location"]
    assert location == target
    assert not urlsplit(location).netloc and not urlsplit(location).scheme


def test_sign_in_without_the_csrf_token_is_refused(site: Flask) -> None:
    http = site.test_client()
    for data in ({"user": "ada"}, {"user": "ada", "csrf_token": "forged"}):
        refused = http.post("/login?next=/chat/", data=data)
        assert refused.status_code == 400
        assert "could not be accepted" in refused.get_data(as_text=True)
    assert "Sign in</a>" in http.get("/").get_data(as_text=True)  # still a guest
    # Another visitor's token is no good either.
    other = csrf_token(site.test_client())
    forged = http.post("/login", data={"user": "ada", "csrf_token": other})
    assert forged.status_code == 400
    assert sign_in(http, "ada").status_code == 302


def test_sign_out_without_the_csrf_token_is_refused(site: Flask) -> None:
    http = site.test_client()
    sign_in(http, "grace")
    assert http.post("/logout").status_code == 400
    assert http.get("/logout").status_code == 405  # a link cannot sign you out
    assert "Signed in as <strong>Grace</strong>" in http.get("/").get_data(as_text=True)
    assert http.post("/logout", data={"csrf_token": csrf_token(http, "/")}).status_code
    assert "Sign in</a>" in http.get("/").get_data(as_text=True)


def test_the_chat_connection_needs_no_csrf_token(site: Flask) -> None:
    """Socket.IO's long-polling POSTs go through the site's WSGI app, past
    CSRFProtect, and are no form posts: the chat keeps working."""
    http = site.test_client()
    sign_in(http, "grace")
    base = "/socket.io/?EIO=4&transport=polling"
    opened = http.get(base).get_data(as_text=True)
    sid = json.loads(opened[1:])["sid"]
    posted = http.post(f"{base}&sid={sid}", data="40/chat,")
    assert (posted.status_code, posted.get_data(as_text=True)) == (200, "OK")
    packets: list[str] = []
    for _ in range(10):  # each poll waits for what the server has sent since
        if any(p.startswith('42/chat,["welcome"') for p in packets) and any(
            p.startswith("40/chat,") for p in packets
        ):
            break
        packets += http.get(f"{base}&sid={sid}").get_data(as_text=True).split("\x1e")
    assert any(p.startswith("40/chat,") for p in packets), packets  # accepted
    welcome = next(p for p in packets if p.startswith('42/chat,["welcome"'))
    assert json.loads(welcome[len("42/chat,") :])[1]["client"] == "Grace"


def test_the_example_command_migrates_an_older_demo_database(tmp_path: Path) -> None:
    """``python3 -m examples.hostapp`` (the README's first command) brings a
    demo database left by an older release to this schema and serves."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from sqlalchemy import create_engine

    from flask_chatroom.backends.sql import SQLStore, sqlite_engine
    from flask_chatroom.store import SCHEMA_VERSION

    from .test_changes_store import make_version_2_database

    url = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    make_version_2_database(create_engine(url))
    assert SQLStore(sqlite_engine(url)).schema_status() == "outdated"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.hostapp"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PORT": str(port), "FLASK_CHATROOM_DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                address = f"http://127.0.0.1:{port}/chat/"
                with urllib.request.urlopen(address, timeout=5) as page:
                    assert page.status == 200
                    break
            except urllib.error.HTTPError as error:
                pytest.fail(f"the example answered {error.code}")
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        process.kill()
        output, _ = process.communicate(timeout=15)
    assert f"migrated from schema version 2 to {SCHEMA_VERSION}" in output
    assert SQLStore(sqlite_engine(url)).schema_status() == "ok"
