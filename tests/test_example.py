"""The bundled example host app: its own pages, its sign-in, and the chat in it."""

from __future__ import annotations

import pytest
from flask import Flask

from examples.hostapp.app import create_app


@pytest.fixture
def site() -> Flask:
    return create_app({"SOCKETIO_ASYNC_MODE": "threading", "TESTING": True})


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
    response = http.post("/login?next=/chat/", data={"user": "grace"})
    assert (response.status_code, response.headers["Location"]) == (302, "/chat/")
    assert "Signed in as <strong>Grace</strong>" in http.get("/").get_data(as_text=True)
    chat = site.extensions["socketio"].test_client(
        site, namespace="/chat", flask_test_client=http
    )
    welcome = chat.get_received("/chat")[0]["args"][0]
    assert (welcome["client"], welcome["user_id"]) == ("Grace", "grace")
    http.post("/logout")
    assert "Sign in</a>" in http.get("/").get_data(as_text=True)


def test_sign_in_only_redirects_to_local_paths(site: Flask) -> None:
    http = site.test_client()
    for target in ("//evil.example/", "https://evil.example/"):
        response = http.post(f"/login?next={target}", data={"user": "ada"})
        assert response.headers["Location"] == "/"
