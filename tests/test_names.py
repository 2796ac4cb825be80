"""Names that deceive: invisible and format characters in nicknames, look-alikes
of signed-in users and of reserved names, and messages from the server marked as
such on the wire (live, in history, after catch-up, in the HTTP API) whatever the
store (red-team review, issue 12, item 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient

from flask_chatroom import Identity, get_chat
from flask_chatroom.config import DEFAULT_RESERVED_NAMES, ConfigError
from flask_chatroom.names import look_alike, skeleton

from .conftest import call, events, make_chat_app, send


def guest_of(app: Flask, **kwargs: Any) -> SocketIOTestClient:
    client = app.extensions["socketio"].test_client(
        app, namespace="/chat", flask_test_client=app.test_client(), **kwargs
    )
    assert client.is_connected("/chat")
    return client


def rename(client: SocketIOTestClient, name: str) -> Any:
    return call(client, "nickname", {"name": name})


# -- invisible and format characters ---------------------------------------------

INVISIBLE = [
    "\u200b",  # ZERO WIDTH SPACE
    "\u200c",  # ZERO WIDTH NON-JOINER
    "\u200d",  # ZERO WIDTH JOINER
    "\u2060",  # WORD JOINER
    "\u00ad",  # SOFT HYPHEN
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u061c",  # ARABIC LETTER MARK
    "\u3164",  # HANGUL FILLER
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u034f",  # COMBINING GRAPHEME JOINER
    "\u180e",  # MONGOLIAN VOWEL SEPARATOR
    "\ufe00",  # VARIATION SELECTOR-1
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A
    "\U0001d173",  # MUSICAL SYMBOL BEGIN BEAM
]


@pytest.mark.parametrize("ch", INVISIBLE, ids=lambda ch: f"U+{ord(ch):04X}")
def test_invisible_and_format_characters_are_refused_in_nicknames(ch: str) -> None:
    app, _ = make_chat_app(CHATROOM_RATE_LIMITS=None)
    guest = guest_of(app)
    for name in (f"Ada{ch}", f"A{ch}da", f"{ch}Ada", ch, ch * 3, f"{ch} {ch}"):
        ack = rename(guest, name)
        assert ack["ok"] is False, name
        assert ack["error"]["code"] == "invalid_name", name
    assert rename(guest, "Ada") == {"ok": True, "name": "Ada"}


def test_the_refusal_names_the_character() -> None:
    app, _ = make_chat_app()
    ack = rename(guest_of(app), "Ada\u034f")
    assert ack["error"] == {
        "code": "invalid_name",
        "message": "A nickname cannot hold invisible or format characters "
        "(it has U+034F).",
    }


@pytest.mark.parametrize("name", ["\u2800", "\u2800\u2800 ", "\u0301", "\u3000"])
def test_a_nickname_needs_a_visible_character(name: str) -> None:
    app, _ = make_chat_app()
    assert rename(guest_of(app), name)["error"]["code"] == "invalid_name"


@pytest.mark.parametrize(
    "name",
    ["Zoë 👩\u200d💻", "❤\ufe0f Ada", "👍🏽 Grace", "🏳\ufe0f\u200d🌈", "Ada"],
)
def test_emoji_keep_their_joiners_and_presentation_selectors(name: str) -> None:
    app, _ = make_chat_app()
    assert rename(guest_of(app), name) == {"ok": True, "name": name}


def test_members_no_longer_see_two_adas_side_by_side() -> None:
    app, _ = make_chat_app(CHATROOM_RATE_LIMITS=None)
    ada, impostor = guest_of(app), guest_of(app)
    assert rename(ada, "Ada")["ok"] is True
    assert rename(impostor, "Ada\u034f")["error"]["code"] == "invalid_name"
    impostor.get_received("/chat")
    send(impostor, "hello")
    [message] = events(ada, "message receive")
    assert message["client"] != "Ada\u034f"


# -- look-alikes of signed-in users and of reserved names -------------------------


def test_the_skeleton_folds_look_alikes() -> None:
    assert skeleton("\u0410d\u0430") == skeleton("Ada")  # Cyrillic А and а
    assert skeleton("ＡＤＭＩＮ") == skeleton("ADMIN")  # fullwidth
    assert skeleton("M0d") == skeleton("MOd")
    assert skeleton("Adrnin") == skeleton("Admin")
    assert look_alike("Ilse", "llse") and look_alike("ILSE", "ilse")
    assert not look_alike("Ada", "Adb")
    assert not look_alike("Grace", "Grace 2")


@pytest.fixture
def login_app() -> Flask:
    app, chat = make_chat_app(CHATROOM_RATE_LIMITS=None)

    @chat.identity_loader
    def load() -> Identity | None:
        from flask import session

        user = session.get("user")
        return Identity(id=user, name=user, anonymous=False) if user else None

    @app.post("/login/<name>")
    def login(name: str) -> str:
        from flask import session

        session["user"] = name
        return "ok"

    return app


def signed_in(app: Flask, name: str) -> SocketIOTestClient:
    http = app.test_client()
    assert http.post(f"/login/{name}").status_code == 200
    client = app.extensions["socketio"].test_client(
        app, namespace="/chat", flask_test_client=http
    )
    assert events(client, "welcome")[0]["user_id"] == name
    return client


@pytest.mark.parametrize(
    "name",
    [
        "Ada Lovelace",
        "ada lovelace",
        "\u0410d\u0430 Lovelace",  # Cyrillic А, а
        "Ada Lovel\u0430ce",
        "Ada Ｌovelace",  # fullwidth L
        "Ada \u0406ovelace",  # Cyrillic І, which looks like l (and like I)
        "Ada L0velace",
    ],
)
def test_a_look_alike_of_a_signed_in_user_who_is_here_is_taken(
    login_app: Flask, name: str
) -> None:
    signed_in(login_app, "Ada Lovelace")
    ack = rename(guest_of(login_app), name)
    assert ack["ok"] is False and ack["error"]["code"] == "name_taken", name


def test_a_different_name_is_free(login_app: Flask) -> None:
    signed_in(login_app, "Ada Lovelace")
    assert rename(guest_of(login_app), "Ada Byron")["ok"] is True


@pytest.mark.parametrize(
    "name",
    [
        "System",
        "system",
        "SYSTEM",
        "\u0405\u0443\u0455t\u0435m",  # Cyrillic Ѕ, у, ѕ, е
        "Ｓｙｓｔｅｍ",
        "Admin",
        "Adrnin",
        "M0derator",
        "Moderator",
        "\u0391dministrator",  # Greek Α
        "Server",
    ],
)
def test_reserved_names_and_their_look_alikes_are_taken(name: str) -> None:
    app, _ = make_chat_app()
    ack = rename(guest_of(app), name)
    assert ack["ok"] is False and ack["error"]["code"] == "name_taken", name


def test_the_reserved_names_are_configurable() -> None:
    assert "System" in DEFAULT_RESERVED_NAMES
    app, _ = make_chat_app(
        CHATROOM_RESERVED_NAMES=["Helpdesk"], CHATROOM_RATE_LIMITS=None
    )
    assert get_chat(app).config.reserved_names == ("Helpdesk",)
    guest = guest_of(app)
    assert rename(guest, "HELPDESK")["error"]["code"] == "name_taken"
    assert rename(guest, "Admin")["ok"] is True
    app, _ = make_chat_app(CHATROOM_RESERVED_NAMES=None)
    assert get_chat(app).config.reserved_names == ()


@pytest.mark.parametrize("value", ["System", [""], ["ok", 5], {"System": 1}, 3])
def test_a_bad_reserved_names_value_fails_at_setup(value: Any) -> None:
    with pytest.raises(ConfigError, match="CHATROOM_RESERVED_NAMES"):
        make_chat_app(CHATROOM_RESERVED_NAMES=value)


# -- messages from the server are marked -------------------------------------------

STORES = ["memory", "sqlite"]


def store_app(kind: str, tmp_path: Path) -> Flask:
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'chat.db'}"
    app, _ = make_chat_app(CHATROOM_DATABASE_URL=url, CHATROOM_RATE_LIMITS=None)
    return app


@pytest.mark.parametrize("kind", STORES)
def test_a_server_post_carries_system_live_in_history_catch_up_and_api(
    kind: str, tmp_path: Path
) -> None:
    app = store_app(kind, tmp_path)
    member = guest_of(app)
    assert rename(member, "Guest Poster")["ok"] is True
    send(member, "from a guest")
    with app.app_context():
        get_chat(app).send("lobby", "Deploy finished")  # sender "System"
        get_chat(app).send("lobby", "as a user", sender=Identity("u1", "Ada", False))
    live = events(member, "message receive")
    assert [(m["message"], m.get("system")) for m in live] == [
        ("from a guest", None),
        ("Deploy finished", True),
        ("as a user", None),
    ]
    assert live[1]["client"] == "System"

    def marks(messages: list[dict[str, Any]]) -> list[bool]:
        return [m.get("system", False) for m in messages]

    # History sent on join (a new member), from the store or its cache.
    assert marks(events(guest_of(app), "history")[0]["messages"]) == [
        False,
        True,
        False,
    ]
    # Catch-up after a seq, and the history event.
    back = guest_of(app, auth={"since": {"lobby": 1}})
    assert marks(events(back, "history")[0]["messages"]) == [True, False]
    page = call(back, "history", {"room": "lobby", "after": 0})
    assert marks(page["messages"]) == [False, True, False]
    # The HTTP API.
    api = app.test_client().get("/chat/api/rooms/lobby/messages").get_json()
    assert marks(api["messages"]) == [False, True, False]
    # And what the host's code reads back.
    with app.app_context():
        stored = get_chat(app).history("lobby")
    assert [m.system for m in stored] == [False, True, False]


def test_a_sqlite_store_read_by_a_new_app_still_knows_server_posts(
    tmp_path: Path,
) -> None:
    first = store_app("sqlite", tmp_path)
    with first.app_context():
        get_chat(first).send("lobby", "before the restart", sender="Deploy bot")
    again = store_app("sqlite", tmp_path)  # nothing cached: read from the file
    api = again.test_client().get("/chat/api/rooms/lobby/messages").get_json()
    [message] = api["messages"]
    assert (message["client"], message["system"]) == ("Deploy bot", True)


def test_guests_and_users_cannot_post_as_the_server(login_app: Flask) -> None:
    guest = guest_of(login_app)
    reader = guest_of(login_app)
    assert rename(guest, "System")["error"]["code"] == "name_taken"
    send(guest, "I am the server", system=True, sender_id="system", user_id=None)
    # A signed-in user whose id is "system" is still a user.
    user = signed_in(login_app, "system")
    send(user, "me too")
    received = events(reader, "message receive")
    assert [m["message"] for m in received] == ["I am the server", "me too"]
    assert all("system" not in m for m in received)
    assert received[1]["user_id"] == "system"
