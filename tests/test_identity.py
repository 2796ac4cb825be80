"""Who is speaking: Flask-Login hosts, identity loaders, login required, nicknames
and permission hooks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from flask_login import LoginManager, UserMixin, login_user
from flask_socketio import SocketIO, SocketIOTestClient

from flask_chatroom import Chatroom, Identity, get_chat
from flask_chatroom.config import DEFAULT_REACTIONS

from .conftest import events


class User(UserMixin):
    def __init__(self, user_id: str, name: str, roles: tuple[str, ...] = ()) -> None:
        self.id = user_id
        self.name = name
        self.roles = roles


USERS = {
    "1": User("1", "Ada Lovelace", ("moderator",)),
    "2": User("2", "Grace Hopper"),
}


def login_host(async_mode: str = "threading", **config: Any) -> tuple[Flask, Chatroom]:
    """A host app with Flask-Login and a /login/<id> route."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", **config)
    login_manager = LoginManager(app)
    login_manager.user_loader(USERS.get)

    @app.route("/login/<user_id>")
    def login(user_id: str) -> str:
        login_user(USERS[user_id])
        return "ok"

    @app.route("/sign-in")
    def sign_in() -> str:
        return "the host's login page"

    @app.route("/auth")
    def auth() -> str:
        return "another login page"

    socketio = SocketIO(app, async_mode=async_mode)
    chat = Chatroom(app, socketio)
    return app, chat


def connect_as(app: Flask, user_id: str | None) -> SocketIOTestClient:
    http = app.test_client()
    if user_id is not None:
        assert http.get(f"/login/{user_id}").status_code == 200
    return app.extensions["socketio"].test_client(
        app, namespace="/chat", flask_test_client=http
    )


def send(client: SocketIOTestClient, payload: Any) -> Any:
    return client.emit("message broadcast", payload, namespace="/chat", callback=True)


def call(client: SocketIOTestClient, event: str, payload: Any) -> Any:
    return client.emit(event, payload, namespace="/chat", callback=True)


@pytest.fixture
def flask_login_app(async_mode: str) -> Flask:
    return login_host(async_mode)[0]


def test_a_flask_login_user_speaks_under_their_own_name(flask_login_app: Flask) -> None:
    ada = connect_as(flask_login_app, "1")
    guest = connect_as(flask_login_app, None)
    assert events(ada, "welcome")[0] == {
        "id": "1",
        "client": "Ada Lovelace",
        "user_id": "1",
        "guest": False,
        "room": "lobby",
        "moderator": True,
        "nicknames": False,
        "guest_token": None,
        "reactions": list(DEFAULT_REACTIONS),
        "edit_window": 900,
    }
    events(guest, "welcome")
    send(ada, {"message": "Hello", "client": "Someone else", "user_id": "2"})
    [message] = events(guest, "message receive")
    assert (message["client"], message["user_id"]) == ("Ada Lovelace", "1")


def test_the_display_name_attribute_is_configurable() -> None:
    app, _ = login_host(CHATROOM_USER_NAME_ATTRIBUTE="id")
    assert events(connect_as(app, "2"), "welcome")[0]["client"] == "2"


def test_an_identity_loader_decides_who_is_speaking() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "s"
    socketio = SocketIO(app, async_mode="threading")
    chat = Chatroom(app, socketio)

    @chat.identity_loader
    def from_header() -> Any:
        token = request.headers.get("X-User")
        if token == "bob":
            return {
                "id": 7,
                "name": "Bob",
                "roles": ["moderator"],
                "avatar_url": "/b.png",
            }
        if token == "eve":
            return Identity(id="eve", name="Eve", anonymous=False)
        return None

    bob = socketio.test_client(app, namespace="/chat", headers={"X-User": "bob"})
    eve = socketio.test_client(app, namespace="/chat", headers={"X-User": "eve"})
    anon = socketio.test_client(app, namespace="/chat")
    assert events(bob, "welcome")[0]["client"] == "Bob"
    assert events(bob, "welcome") == []
    assert events(eve, "welcome") == [
        {
            "id": "eve",
            "client": "Eve",
            "user_id": "eve",
            "guest": False,
            "room": "lobby",
            "moderator": False,
            "nicknames": False,
            "guest_token": None,
            "reactions": list(DEFAULT_REACTIONS),
            "edit_window": 900,
        }
    ]
    received = {e["name"]: e["args"][0] for e in anon.get_received("/chat")}
    assert received["welcome"]["guest"] is True
    presence = received["presence"]
    assert {u["name"]: u["avatar_url"] for u in presence["users"]}["Bob"] == "/b.png"


def test_a_failing_identity_loader_refuses_the_connection_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="threading")
    chat = Chatroom(app, socketio)

    @chat.identity_loader
    def broken() -> Any:
        return ["not", "an", "identity"]

    with caplog.at_level(logging.ERROR, logger="flask_chatroom"):
        client = socketio.test_client(app, namespace="/chat")
    assert not client.is_connected("/chat")
    assert "identity_loader must return" in caplog.text
    assert get_chat(app).connection_count == 0


class TestRequireLogin:
    def test_anonymous_connections_are_refused(self) -> None:
        app, _ = login_host(CHATROOM_REQUIRE_LOGIN=True)
        assert not connect_as(app, None).is_connected("/chat")
        assert connect_as(app, "2").is_connected("/chat")

    def test_the_page_sends_anonymous_visitors_to_the_login_view(self) -> None:
        app, _ = login_host(CHATROOM_REQUIRE_LOGIN=True)
        app.login_manager.login_view = "sign_in"  # type: ignore[attr-defined]
        response = app.test_client().get("/chat/dev")
        assert response.status_code == 302
        assert response.headers["Location"] == "/sign-in?next=/chat/dev"

    def test_chatroom_login_view_wins(self) -> None:
        app, _ = login_host(CHATROOM_REQUIRE_LOGIN=True, CHATROOM_LOGIN_VIEW="auth")
        app.login_manager.login_view = "sign_in"  # type: ignore[attr-defined]
        response = app.test_client().get("/chat/")
        assert response.headers["Location"] == "/auth?next=/chat/"

    def test_without_a_login_view_the_page_asks_to_sign_in(self) -> None:
        app, _ = login_host(CHATROOM_REQUIRE_LOGIN=True)
        response = app.test_client().get("/chat/")
        assert response.status_code == 401
        assert "Please sign in to chat." in response.get_data(as_text=True)
        assert app.test_client().get("/chat/api/rooms").status_code == 401

    def test_signed_in_users_get_the_page(self) -> None:
        app, _ = login_host(CHATROOM_REQUIRE_LOGIN=True)
        http = app.test_client()
        http.get("/login/1")
        assert http.get("/chat/").status_code == 200


class TestNicknames:
    @pytest.fixture
    def app(self) -> Iterator[Flask]:
        app, _ = login_host()
        return app

    def test_a_guest_picks_a_nickname_that_everyone_sees(self, app: Flask) -> None:
        guest, other = connect_as(app, None), connect_as(app, None)
        events(other, "presence")
        assert call(guest, "nickname", {"name": "  Nova  "}) == {
            "ok": True,
            "name": "Nova",
        }
        presence = events(other, "presence")[-1]
        assert "Nova" in [u["name"] for u in presence["users"]]
        send(guest, {"message": "hi"})
        assert events(other, "message receive")[0]["client"] == "Nova"

    @pytest.mark.parametrize(
        "payload",
        [
            {"name": ""},
            {"name": "   "},
            {"name": "x" * 33},
            {"name": "bad\nname"},
            {"name": "tab\there"},
            {"name": "bell\x07"},
            {"name": "rtl\u202eevil"},
            {"name": 5},
            {},
            "Nova",
        ],
    )
    def test_bad_nicknames_are_refused(self, app: Flask, payload: Any) -> None:
        guest = connect_as(app, None)
        ack = call(guest, "nickname", payload)
        assert ack["error"]["code"] in ("invalid_name", "invalid_payload")

    def test_a_nickname_of_32_characters_with_emoji_is_fine(self, app: Flask) -> None:
        name = "Zoë 👩‍💻 " + "x" * 24
        assert call(connect_as(app, None), "nickname", {"name": name})["name"] == name

    def test_the_name_of_a_signed_in_user_who_is_here_is_taken(
        self, app: Flask
    ) -> None:
        connect_as(app, "1")
        guest = connect_as(app, None)
        ack = call(guest, "nickname", {"name": "ada lovelace"})
        assert ack["error"]["code"] == "name_taken"

    def test_signed_in_users_keep_their_host_name(self, app: Flask) -> None:
        ack = call(connect_as(app, "1"), "nickname", {"name": "Anonymous"})
        assert ack["error"]["code"] == "nicknames_disabled"

    def test_nicknames_can_be_switched_off(self) -> None:
        app, _ = login_host(CHATROOM_ALLOW_NICKNAMES=False)
        ack = call(connect_as(app, None), "nickname", {"name": "Nova"})
        assert ack["error"]["code"] == "nicknames_disabled"

    def test_a_nickname_survives_a_reload(self, app: Flask) -> None:
        http = app.test_client()
        http.get("/chat/")
        socketio = app.extensions["socketio"]
        first = socketio.test_client(app, namespace="/chat", flask_test_client=http)
        call(first, "nickname", {"name": "Nova"})
        first.disconnect("/chat")
        http.get("/chat/")
        again = socketio.test_client(app, namespace="/chat", flask_test_client=http)
        assert events(again, "welcome")[0]["client"] == "Nova"


class TestPermissionHooks:
    def test_can_join_and_can_post_refuse_with_forbidden(self) -> None:
        app, chat = login_host()

        @chat.can_join
        def staff_only(user: Identity, room: str) -> bool:
            return room != "staff" or "moderator" in user.roles

        @chat.can_post
        def read_only(user: Identity, room: str) -> bool:
            return room != "announcements" or not user.anonymous

        ada, grace, guest = (
            connect_as(app, "1"),
            connect_as(app, "2"),
            connect_as(app, None),
        )
        assert call(ada, "join", {"room": "staff"})["ok"] is True
        refused = call(grace, "join", {"room": "staff"})
        assert refused["error"]["code"] == "forbidden"
        assert events(grace, "chat error")[-1]["code"] == "forbidden"

        for client in (ada, guest):
            assert call(client, "join", {"room": "announcements"})["ok"] is True
        assert send(ada, {"message": "News", "room": "announcements"})["ok"] is True
        ack = send(guest, {"message": "Me too", "room": "announcements"})
        assert ack["error"]["code"] == "forbidden"
        assert [m["message"] for m in events(guest, "message receive")] == ["News"]

        http = app.test_client()
        http.get("/login/2")
        assert http.get("/chat/staff").status_code == 403

    def test_a_hook_that_keeps_users_out_of_the_default_room(self) -> None:
        app, chat = login_host()
        chat.can_join(lambda user, room: not user.anonymous)
        guest = connect_as(app, None)
        assert events(guest, "welcome")[0]["room"] is None
        assert send(guest, {"message": "hi"})["error"]["code"] == "not_in_room"


def test_a_failing_permission_hook_refuses_the_connection_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, chat = login_host()

    @chat.can_join
    def broken(user: Identity, room: str) -> bool:
        raise RuntimeError("the permission service is down")

    with caplog.at_level(logging.ERROR, logger="flask_chatroom"):
        client = connect_as(app, None)
    assert not client.is_connected("/chat")
    assert "could not set up a connection" in caplog.text
    assert get_chat(app).connection_count == 0


def test_an_identity_from_the_loader_is_a_signed_in_user() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "s"
    socketio = SocketIO(app, async_mode="threading")
    chat = Chatroom(app, socketio)
    chat.identity_loader(lambda: Identity(id="7", name="Bob"))  # anonymous not given
    welcome = events(socketio.test_client(app, namespace="/chat"), "welcome")[0]
    assert (welcome["user_id"], welcome["guest"], welcome["nicknames"]) == (
        "7",
        False,
        False,
    )


def test_a_nickname_reaches_the_guests_other_tabs() -> None:
    app, _ = login_host()
    http = app.test_client()
    http.get("/chat/")
    socketio = app.extensions["socketio"]
    tab1 = socketio.test_client(app, namespace="/chat", flask_test_client=http)
    tab2 = socketio.test_client(app, namespace="/chat", flask_test_client=http)
    tab1.get_received("/chat")
    tab2.get_received("/chat")
    assert call(tab1, "nickname", {"name": "Nova"})["name"] == "Nova"
    assert events(tab2, "renamed") == [{"client": "Nova"}]
    assert events(tab1, "renamed") == []
