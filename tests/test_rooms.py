"""Rooms: joining, leaving, posting to a room, room pages and the room list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask_socketio import SocketIOTestClient

from .conftest import events, make_app

Connect = Callable[..., SocketIOTestClient]


def call(client: SocketIOTestClient, event: str, payload: Any = None) -> Any:
    args = () if payload is None else (payload,)
    return client.emit(event, *args, namespace="/chat", callback=True)


def test_messages_reach_the_members_of_their_room_and_nobody_else(
    connect: Connect,
) -> None:
    alice, bob, carol = connect(), connect(), connect()
    assert call(alice, "join", {"room": "dev"}) == {"ok": True, "room": "dev"}
    assert call(bob, "join", {"room": "dev"}) == {"ok": True, "room": "dev"}
    assert call(alice, "leave", {"room": "lobby"}) == {"ok": True, "room": "lobby"}
    for client in (alice, bob, carol):
        client.get_received("/chat")

    assert call(bob, "message broadcast", {"message": "dev talk", "room": "dev"})["ok"]
    assert call(carol, "message broadcast", {"message": "lobby talk"})["ok"]

    assert [m["message"] for m in events(alice, "message receive")] == ["dev talk"]
    assert [(m["room"], m["message"]) for m in events(bob, "message receive")] == [
        ("dev", "dev talk"),
        ("lobby", "lobby talk"),
    ]
    assert [m["message"] for m in events(carol, "message receive")] == ["lobby talk"]


def test_posting_to_a_room_not_joined_is_refused(connect: Connect) -> None:
    alice = connect()
    ack = call(alice, "message broadcast", {"message": "hi", "room": "elsewhere"})
    assert ack["error"]["code"] == "not_in_room"
    call(alice, "leave", {"room": "lobby"})
    ack = call(alice, "message broadcast", {"message": "hi"})
    assert ack["error"]["code"] == "not_in_room"


def test_joining_twice_is_fine_and_leaving_a_room_not_joined_is_an_error(
    connect: Connect,
) -> None:
    alice = connect()
    assert call(alice, "join", {"room": "lobby"}) == {"ok": True, "room": "lobby"}
    assert call(alice, "leave", {"room": "dev"})["error"]["code"] == "not_in_room"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "dev",
        {"room": ""},
        {"room": "a b"},
        {"room": "x" * 65},
        {"room": 1},
        {"room": "naïve"},
        {"room": "../etc"},
        {},
    ],
)
def test_bad_room_names_are_refused(connect: Connect, payload: Any) -> None:
    alice = connect()
    events(alice, "welcome")
    for event in ("join", "leave"):
        ack = call(alice, event, payload)
        assert ack["error"]["code"] in ("invalid_room", "invalid_payload")
    assert len(events(alice, "chat error")) == 2


def test_room_names_of_64_letters_digits_dashes_and_underscores_are_fine(
    connect: Connect,
) -> None:
    name = "Room_2-" + "x" * 57
    assert call(connect(), "join", {"room": name}) == {"ok": True, "room": name}


def test_a_fixed_room_list_refuses_other_rooms() -> None:
    app = make_app(CHATROOM_ROOMS=["lobby", "dev", "ops"])
    client = app.extensions["socketio"].test_client(app, namespace="/chat")
    assert call(client, "join", {"room": "dev"})["ok"] is True
    assert call(client, "join", {"room": "random"})["error"]["code"] == "unknown_room"
    rooms = call(client, "rooms")
    unread = {"unread": 0, "mentions": 0, "last_seq": 0}
    assert rooms == {
        "ok": True,
        "rooms": [
            {"name": "lobby", "kind": "public", "count": 1, **unread},
            {"name": "dev", "kind": "public", "count": 1, **unread},
            {"name": "ops", "kind": "public", "count": 0, **unread},
        ],
    }
    http = app.test_client()
    assert http.get("/chat/api/rooms").get_json() == {"rooms": rooms["rooms"]}
    assert http.get("/chat/ops").status_code == 200
    assert http.get("/chat/random").status_code == 404


def test_open_rooms_list_the_rooms_people_are_in(connect: Connect) -> None:
    alice, bob = connect(), connect()
    call(alice, "join", {"room": "dev"})
    call(bob, "join", {"room": "dev"})
    call(bob, "join", {"room": "zoo"})
    rooms = call(alice, "rooms")["rooms"]
    assert [(r["name"], r["kind"], r["count"]) for r in rooms] == [
        ("dev", "public", 2),
        ("lobby", "public", 2),
        ("zoo", "public", 1),
    ]


def test_room_pages(connect: Connect) -> None:
    http = make_app().test_client()
    page = http.get("/chat/dev").get_data(as_text=True)
    assert 'data-room="dev"' in page
    assert "#dev" in page
    assert http.get("/chat/not%20a%20room").status_code == 404
    assert 'data-room="lobby"' in http.get("/chat/").get_data(as_text=True)


def test_fixed_rooms_must_include_the_default_room() -> None:
    from flask_chatroom import ConfigError

    with pytest.raises(
        ConfigError, match="CHATROOM_DEFAULT_ROOM 'lobby' is not one of"
    ):
        make_app(CHATROOM_ROOMS=["dev"])
    with pytest.raises(ConfigError, match="CHATROOM_ROOMS must be a non-empty list"):
        make_app(CHATROOM_ROOMS="lobby")
