"""Posting messages over Socket.IO: broadcast, acks, identity and bad input."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_socketio import SocketIO, SocketIOTestClient

from flask_chatroom import get_chat
from flask_chatroom.protocol import ERROR_CODES

from .conftest import events, make_app

Connect = Callable[..., SocketIOTestClient]


def send(client: SocketIOTestClient, payload: Any) -> Any:
    return client.emit("message broadcast", payload, namespace="/chat", callback=True)


def test_a_message_reaches_everyone_in_the_room_sender_included(
    connect: Connect,
) -> None:
    alice, bob, carol = connect(), connect(), connect()
    names = [events(c, "welcome")[0]["client"] for c in (alice, bob, carol)]

    before = int(time.time() * 1000)
    ack = send(alice, {"message": "Hello, everyone!"})
    after = int(time.time() * 1000)

    assert ack == {"ok": True, "id": ack["id"], "seq": 1, "ts": ack["ts"]}
    assert before <= ack["ts"] <= after
    for client in (alice, bob, carol):
        [received] = events(client, "message receive")
        assert received == {
            "id": ack["id"],
            "room": "lobby",
            "seq": 1,
            "client": names[0],
            "user_id": None,
            "message": "Hello, everyone!",
            "ts": ack["ts"],
        }


@pytest.mark.no_rate_limits
def test_ids_are_unique_and_order_is_kept(connect: Connect) -> None:
    alice, bob = connect(), connect()
    acks = [send(alice, {"message": f"message {i}"}) for i in range(20)]
    assert len({ack["id"] for ack in acks}) == 20
    received = events(bob, "message receive")
    assert [m["message"] for m in received] == [f"message {i}" for i in range(20)]
    assert [m["id"] for m in received] == [ack["id"] for ack in acks]
    assert [m["ts"] for m in received] == sorted(m["ts"] for m in received)


def test_the_tutorial_payload_form_is_accepted(connect: Connect) -> None:
    alice, bob = connect(), connect()
    assert send(alice, {"data": "from the tutorial"})["ok"] is True
    assert events(bob, "message receive")[0]["message"] == "from the tutorial"


def test_guests_get_readable_names(connect: Connect) -> None:
    welcome = events(connect(), "welcome")[0]
    assert re.fullmatch(r"Guest \d{4}", welcome["client"])
    assert welcome["id"].startswith("guest:")
    assert welcome == {
        "id": welcome["id"],
        "client": welcome["client"],
        "user_id": None,
        "guest": True,
        "room": "lobby",
        "moderator": False,
        "nicknames": True,
        "guest_token": welcome["guest_token"],
        "reactions": ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"],
        "edit_window": 900,
    }
    assert isinstance(welcome["guest_token"], str)


def test_a_guest_keeps_its_name_across_reconnects_and_page_loads(
    app: Flask, connect: Connect
) -> None:
    browser = app.test_client()
    assert browser.get("/chat/").status_code == 200  # the page names the guest
    first = events(connect(flask_test_client=browser), "welcome")[0]["client"]
    browser.get("/chat/")  # a reload
    second = events(connect(flask_test_client=browser), "welcome")[0]["client"]
    assert first == second
    other = events(connect(flask_test_client=app.test_client()), "welcome")[0]["client"]
    assert re.fullmatch(r"Guest \d{4}", other)


def test_sender_name_comes_from_the_server_not_the_payload(connect: Connect) -> None:
    alice, bob = connect(), connect()
    name = events(alice, "welcome")[0]["client"]
    send(alice, {"message": "hi", "client": "Admin", "user_id": "1", "name": "Root"})
    [received] = events(bob, "message receive")
    assert received["client"] == name
    assert received["user_id"] is None


def test_client_id_is_echoed_so_a_sender_can_spot_its_own_message(
    connect: Connect,
) -> None:
    alice, bob = connect(), connect()
    send(alice, {"message": "mine", "client_id": "c-123"})
    assert events(bob, "message receive")[0]["client_id"] == "c-123"


def test_text_is_normalized(connect: Connect) -> None:
    alice = connect()
    events(alice, "welcome")
    send(alice, {"message": "  cafe\u0301\r\nline two\x00\x1b[31m\u202e  "})
    assert events(alice, "message receive")[0]["message"] == "café\nline two[31m"


BAD_PAYLOADS = [
    ("not an object", "invalid_payload"),
    (["message", "hi"], "invalid_payload"),
    (42, "invalid_payload"),
    (None, "invalid_payload"),
    ({}, "invalid_payload"),
    ({"message": None}, "invalid_payload"),
    ({"message": 5}, "invalid_payload"),
    ({"message": ["a"]}, "invalid_payload"),
    ({"message": {"text": "a"}}, "invalid_payload"),
    ({"message": ""}, "empty_message"),
    ({"message": " \n\t "}, "empty_message"),
    ({"message": "\x00\x01"}, "empty_message"),
    ({"message": "x" * 2001}, "message_too_long"),
    ({"message": "x" * 100_000}, "message_too_long"),
    ({"message": "hi", "room": "no such room!"}, "invalid_room"),
    ({"message": "hi", "room": 7}, "invalid_room"),
    ({"message": "hi", "room": "elsewhere"}, "not_in_room"),
    ({"message": "hi", "client_id": "x" * 65}, "invalid_payload"),
    ({"message": "hi", "client_id": 12}, "invalid_payload"),
]


@pytest.mark.parametrize(("payload", "code"), BAD_PAYLOADS)
def test_bad_input_gets_an_error_to_the_sender_only(
    connect: Connect, payload: Any, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob = connect(), connect()
    events(alice, "welcome")
    events(bob, "welcome")
    with caplog.at_level(logging.INFO, logger="flask_chatroom"):
        ack = send(alice, payload)

    assert ack["ok"] is False
    assert ack["error"]["code"] == code
    assert code in ERROR_CODES
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
    assert events(alice, "chat error") == [ack["error"]]
    assert alice.get_received("/chat") == []
    assert bob.get_received("/chat") == []  # nobody else hears about it
    assert [r.message for r in caplog.records if code in r.message]
    # ... and the chat still works for both of them.
    assert send(alice, {"message": "still here"})["ok"] is True
    assert events(bob, "message receive")[0]["message"] == "still here"


def test_a_message_of_exactly_the_maximum_length_is_accepted(connect: Connect) -> None:
    assert send(connect(), {"message": "x" * 2000})["ok"] is True


def test_maximum_length_is_configurable() -> None:
    app = make_app(CHATROOM_MAX_MESSAGE_LENGTH=5)
    client = app.extensions["socketio"].test_client(app, namespace="/chat")
    assert send(client, {"message": "12345"})["ok"] is True
    assert send(client, {"message": "123456"})["error"]["code"] == "message_too_long"


def test_no_payload_at_all_is_an_error(connect: Connect) -> None:
    alice = connect()
    ack = alice.emit("message broadcast", namespace="/chat", callback=True)
    assert ack["error"]["code"] == "invalid_payload"


def test_unknown_events_get_an_error(connect: Connect) -> None:
    alice = connect()
    events(alice, "welcome")
    ack = alice.emit(
        "delete everything", {"all": True}, namespace="/chat", callback=True
    )
    assert ack == {
        "ok": False,
        "error": {"code": "unknown_event", "message": ack["error"]["message"]},
    }
    assert events(alice, "chat error") == [ack["error"]]


def test_a_handler_failure_is_logged_but_no_detail_reaches_the_client(
    app: Flask,
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice, bob = connect(), connect()
    events(bob, "welcome")
    state = app.extensions["chatroom"]

    def broken_publish(message: object) -> None:
        raise ValueError("secret internal detail")

    monkeypatch.setattr(state.publisher, "publish", broken_publish)
    with caplog.at_level(logging.ERROR, logger="flask_chatroom"):
        ack = send(alice, {"message": "boom"})
    assert ack["error"]["code"] == "internal_error"
    assert "secret" not in str(ack)
    assert "secret" not in str(events(alice, "chat error"))
    assert any(
        "secret internal detail" in r.exc_text for r in caplog.records if r.exc_text
    )
    assert bob.get_received("/chat") == []
    monkeypatch.undo()
    assert send(alice, {"message": "recovered"})["ok"] is True


def test_disconnect_forgets_the_connection(
    app: Flask, socketio: SocketIO, connect: Connect
) -> None:
    alice, bob = connect(), connect()
    assert get_chat(app).connection_count == 2
    alice.disconnect("/chat")
    assert get_chat(app).connection_count == 1
    send(bob, {"message": "anyone?"})
    assert [m["message"] for m in events(bob, "message receive")] == ["anyone?"]


def test_messages_stay_in_the_namespace(
    app: Flask, socketio: SocketIO, connect: Connect
) -> None:
    bystander = socketio.test_client(app)  # the host's own "/" namespace
    send(connect(), {"message": "chat only"})
    assert bystander.get_received() == []
