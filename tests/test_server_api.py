"""The server-side API (chat.send) and the blinker signals."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from flask_socketio import SocketIO

from flask_chatroom import ChatError, Chatroom, Identity, signals

from .conftest import events


@pytest.fixture
def host(async_mode: str) -> tuple[Flask, Chatroom]:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "s"
    socketio = SocketIO(app, async_mode=async_mode)
    chat = Chatroom(app, socketio)

    @app.post("/deploys")
    def announce() -> tuple[str, int]:
        chat.send("lobby", "Deploy finished", sender="Deploy bot")
        return "", 204

    return app, chat


def test_send_from_an_http_route(host: tuple[Flask, Chatroom]) -> None:
    app, _ = host
    member = app.extensions["socketio"].test_client(app, namespace="/chat")
    member.get_received("/chat")
    assert app.test_client().post("/deploys").status_code == 204
    [message] = events(member, "message receive")
    assert (message["client"], message["message"], message["room"]) == (
        "Deploy bot",
        "Deploy finished",
        "lobby",
    )
    assert message["user_id"] is None


def test_send_from_a_background_task(host: tuple[Flask, Chatroom]) -> None:
    app, chat = host
    socketio = app.extensions["socketio"]
    member = socketio.test_client(app, namespace="/chat")
    member.get_received("/chat")
    done = threading.Event()

    def job() -> None:
        chat.send("lobby", "from the background", app=app)
        done.set()

    task = socketio.start_background_task(job)
    task.join()
    assert done.is_set()
    assert events(member, "message receive")[0]["message"] == "from the background"


def test_send_as_a_user_and_its_checks(host: tuple[Flask, Chatroom]) -> None:
    app, chat = host
    member = app.extensions["socketio"].test_client(app, namespace="/chat")
    member.get_received("/chat")
    with app.app_context():
        ada = Identity(id="1", name="Ada", anonymous=False)
        message = chat.send("lobby", "  hi  ", sender=ada)
        assert (message.client, message.user_id, message.text) == ("Ada", "1", "hi")
        for room, text, code in [
            ("bad room", "x", "unknown_room"),
            ("lobby", "   ", "empty_message"),
            ("lobby", "x" * 2001, "message_too_long"),
        ]:
            with pytest.raises(ChatError) as info:
                chat.send(room, text)
            assert info.value.code == code
    assert [m["message"] for m in events(member, "message receive")] == ["hi"]


def test_signals_for_messages_joins_and_leaves(host: tuple[Flask, Chatroom]) -> None:
    app, _ = host
    seen: list[tuple[str, Any]] = []

    def on_message(sender: Flask, message: Any) -> None:
        seen.append(("message", (sender is app, message.text)))

    def on_join(sender: Flask, room: str, user: Identity) -> None:
        seen.append(("join", room))

    def on_leave(sender: Flask, room: str, user: Identity) -> None:
        seen.append(("leave", room))

    with (
        signals.message_sent.connected_to(on_message, sender=app),
        signals.user_joined.connected_to(on_join, sender=app),
        signals.user_left.connected_to(on_leave, sender=app),
    ):
        client = app.extensions["socketio"].test_client(app, namespace="/chat")
        client.emit("message broadcast", {"message": "hello"}, namespace="/chat")
        client.disconnect("/chat")
        app.extensions["socketio"].sleep(0.1)  # disconnects are announced by a task
    assert seen == [("join", "lobby"), ("message", (True, "hello")), ("leave", "lobby")]


def test_a_failing_signal_receiver_is_logged_and_the_message_stands(
    host: tuple[Flask, Chatroom], caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = host

    def broken(sender: Flask, message: Any) -> None:
        raise RuntimeError("receiver bug")

    client = app.extensions["socketio"].test_client(app, namespace="/chat")
    with (
        signals.message_sent.connected_to(broken, sender=app),
        caplog.at_level("ERROR", logger="flask_chatroom"),
    ):
        ack = client.emit(
            "message broadcast", {"message": "hi"}, namespace="/chat", callback=True
        )
    assert ack["ok"] is True
    assert "a receiver of the chatroom.message-sent signal failed" in caplog.text
    assert [m["message"] for m in events(client, "message receive")] == ["hi"]
