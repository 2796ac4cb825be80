"""Presence (who is here, one entry per user), join/leave notices, and typing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient

from flask_chatroom import Identity
from flask_chatroom.presence import LocalPresence

from .conftest import events

Connect = Callable[..., SocketIOTestClient]


def call(client: SocketIOTestClient, event: str, payload: Any) -> Any:
    return client.emit(event, payload, namespace="/chat", callback=True)


def settle(app: Flask) -> None:
    """Let the chat's background tasks run: it tells rooms about disconnects from
    a task of its own (a greenlet under gevent runs only when the test yields)."""
    app.extensions["socketio"].sleep(0.1)


def names(presence: dict[str, Any]) -> list[str]:
    return [user["name"] for user in presence["users"]]


def test_presence_lists_one_entry_per_user_even_with_several_tabs(
    app: Flask, connect: Connect
) -> None:
    browser = app.test_client()
    browser.get("/chat/")  # the guest's session
    tab1 = connect(flask_test_client=browser)
    name = events(tab1, "welcome")[0]["client"]
    watcher = connect()
    watcher_name = events(watcher, "welcome")[0]["client"]
    tab2 = connect(flask_test_client=browser)
    received = tab2.get_received("/chat")
    presence = [e["args"][0] for e in received if e["name"] == "presence"][-1]
    assert presence["room"] == "lobby"
    assert presence["count"] == 2
    assert sorted(names(presence)) == sorted([name, watcher_name])

    # The second tab changed nothing for the room: no notice, no presence to others.
    assert events(watcher, "notice") == []
    tab1.disconnect("/chat")
    settle(app)
    assert events(watcher, "notice") == []  # still here in tab 2
    tab2.disconnect("/chat")
    settle(app)
    received = watcher.get_received("/chat")
    [notice] = [e["args"][0] for e in received if e["name"] == "notice"]
    assert (notice["kind"], notice["client"], notice["room"]) == (
        "leave",
        name,
        "lobby",
    )
    assert isinstance(notice["ts"], int)
    final = [e["args"][0] for e in received if e["name"] == "presence"][-1]
    assert names(final) == [watcher_name]


def test_joins_and_leaves_are_announced_to_the_room(connect: Connect) -> None:
    alice, bob = connect(), connect()
    alice_name = events(alice, "welcome")[0]["client"]
    bob_name = events(bob, "welcome")[0]["client"]
    call(alice, "join", {"room": "dev"})
    alice.get_received("/chat")
    call(bob, "join", {"room": "dev"})
    received = alice.get_received("/chat")
    notices = [e["args"][0] for e in received if e["name"] == "notice"]
    assert [(n["room"], n["kind"], n["client"]) for n in notices] == [
        ("dev", "join", bob_name)
    ]
    presence = [e["args"][0] for e in received if e["name"] == "presence"][-1]
    assert presence["room"] == "dev"
    assert names(presence) == [alice_name, bob_name]
    call(bob, "leave", {"room": "dev"})
    notices = events(alice, "notice")
    assert [(n["kind"], n["client"]) for n in notices] == [("leave", bob_name)]


def test_typing_reaches_the_other_members_only(connect: Connect) -> None:
    alice, bob, outsider = connect(), connect(), connect()
    alice_name = events(alice, "welcome")[0]["client"]
    call(alice, "join", {"room": "dev"})
    call(bob, "join", {"room": "dev"})
    for client in (alice, bob, outsider):
        client.get_received("/chat")

    assert call(alice, "typing", {"room": "dev", "typing": True}) == {"ok": True}
    assert events(bob, "typing") == [
        {"room": "dev", "client": alice_name, "user_id": None, "typing": True}
    ]
    assert events(alice, "typing") == []
    assert events(outsider, "typing") == []
    call(alice, "typing", {"room": "dev", "typing": False})
    assert events(bob, "typing")[0]["typing"] is False
    call(alice, "typing", {"typing": True})  # the default room
    assert events(outsider, "typing")[0]["room"] == "lobby"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"room": "dev", "typing": "yes"}, "invalid_payload"),
        ({"room": "dev"}, "invalid_payload"),
        ("typing", "invalid_payload"),
        ({"room": "bad room", "typing": True}, "invalid_room"),
        ({"room": "elsewhere", "typing": True}, "not_in_room"),
    ],
)
def test_bad_typing_payloads_are_refused(
    connect: Connect, payload: Any, code: str
) -> None:
    assert call(connect(), "typing", payload)["error"]["code"] == code


class TestLocalPresence:
    def test_users_with_several_connections_join_and_leave_once(self) -> None:
        presence = LocalPresence()
        ada = Identity(id="1", name="Ada", anonymous=False)
        assert presence.join("lobby", "s1", ada).kind == "join"
        assert presence.join("lobby", "s2", ada).kind is None
        assert presence.members("lobby") == [ada]
        assert presence.rooms() == {"lobby": 1}
        assert presence.leave("lobby", "s1") is not None
        assert presence.leave("lobby", "s1") is None  # not there any more
        [change] = presence.disconnect("s2")
        assert (change.room, change.kind) == ("lobby", "leave")
        assert presence.rooms() == {}
        assert presence.rooms_of("s2") == set()

    def test_rename_updates_every_room_of_the_connection(self) -> None:
        presence = LocalPresence()
        guest = Identity(id="guest:1", name="Guest 1234")
        presence.join("a", "s1", guest)
        presence.join("b", "s1", guest)
        renamed = Identity(id="guest:1", name="Nova")
        assert presence.rename("s1", renamed) == ["a", "b"]
        assert presence.members("a") == presence.members("b") == [renamed]
        assert presence.rename("unknown", renamed) == []


def test_huge_rooms_get_their_member_list_less_often() -> None:
    from flask_chatroom.core.announcer import (
        PRESENCE_FANOUT,
        PRESENCE_INTERVAL,
        presence_interval,
    )

    assert presence_interval(150) == PRESENCE_INTERVAL
    assert presence_interval(PRESENCE_FANOUT) == PRESENCE_INTERVAL
    # Lists reach about PRESENCE_FANOUT members a second, whatever the size.
    for members in (5_000, 15_000):
        assert members / presence_interval(members) == PRESENCE_FANOUT
