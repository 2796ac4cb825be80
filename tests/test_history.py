"""History on join, catch-up with ``since``, idempotent retries, the history API
and the ``flask chatroom`` commands (test client, SQLite file store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient

from flask_chatroom import Message, get_chat, signals

from .conftest import call, events, make_app, make_chat_app, send

Connect = Callable[..., SocketIOTestClient]


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["message"] for m in messages]


@pytest.mark.no_rate_limits
def test_joining_sends_the_latest_history(app: Flask, connect: Connect) -> None:
    poster = connect()
    for i in range(55):
        send(poster, f"m{i}")
    newcomer = connect()
    [history] = events(newcomer, "history")
    assert history["room"] == "lobby"
    assert texts(history["messages"]) == [f"m{i}" for i in range(5, 55)]
    assert [m["seq"] for m in history["messages"]] == list(range(6, 56))
    assert history["has_more"] is True

    older = call(newcomer, "history", {"room": "lobby", "before": 6, "limit": 10})
    assert older["ok"] is True
    assert texts(older["messages"]) == [f"m{i}" for i in range(0, 5)]
    assert older["has_more"] is False


def test_the_history_sent_on_join_follows_every_change(
    app: Flask, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The recent history is kept between joins; whatever changes the room
    # through this process replaces it.
    def joined() -> list[str]:
        return texts(events(connect(), "history")[0]["messages"])

    poster = connect()
    assert joined() == []
    send(poster, "one")
    assert joined() == ["one"]
    assert joined() == ["one"]  # from the kept copy
    send(poster, "two")
    assert joined() == ["one", "two"]

    # Written by someone else (another process, a script): seen once the kept
    # copy is HISTORY_CACHE_SECONDS old.
    state = app.extensions["chatroom"]
    state.store.add(Message(room="lobby", client="x", text="old", ts=0))
    monkeypatch.setattr("flask_chatroom.core.rooms.HISTORY_CACHE_SECONDS", 0.0)
    assert joined() == ["one", "two", "old"]
    monkeypatch.undo()
    assert joined() == ["one", "two", "old"]  # kept again
    result = app.test_cli_runner().invoke(args=["chatroom", "purge", "--days", "1"])
    assert "deleted 1 message(s)" in result.output
    assert joined() == ["one", "two"]


def test_history_limit_is_configurable() -> None:
    app = make_app(CHATROOM_HISTORY_LIMIT=3)
    socketio = app.extensions["socketio"]
    poster = socketio.test_client(app, namespace="/chat")
    for i in range(5):
        send(poster, f"m{i}")
    late = socketio.test_client(app, namespace="/chat")
    assert texts(events(late, "history")[0]["messages"]) == ["m2", "m3", "m4"]


def test_join_with_since_sends_only_what_was_missed(connect: Connect) -> None:
    poster, reader = connect(), connect()
    acks = [send(poster, f"m{i}") for i in range(6)]
    assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5, 6]
    reader.get_received("/chat")
    assert call(reader, "join", {"room": "lobby", "since": 4}) == {
        "ok": True,
        "room": "lobby",
    }
    [catch_up] = events(reader, "history")
    assert [m["seq"] for m in catch_up["messages"]] == [5, 6]
    assert catch_up["since"] == 4


def test_a_reconnecting_client_names_its_last_seq_in_auth(
    app: Flask, connect: Connect
) -> None:
    poster = connect()
    for i in range(4):
        send(poster, f"m{i}")
    back = connect(auth={"since": {"lobby": 3}})
    [catch_up] = events(back, "history")
    assert texts(catch_up["messages"]) == ["m3"]


def test_history_requests_after_a_seq_fill_gaps(connect: Connect) -> None:
    poster = connect()
    for i in range(5):
        send(poster, f"m{i}")
    page = call(poster, "history", {"room": "lobby", "after": 2, "limit": 2})
    assert ([m["seq"] for m in page["messages"]], page["has_more"]) == ([3, 4], True)


def test_bad_history_requests(connect: Connect) -> None:
    client = connect()
    for payload in [
        {"room": "lobby", "before": -1},
        {"room": "lobby", "before": "5"},
        {"room": "lobby", "before": 3, "after": 1},
        {"room": "lobby", "limit": 0},
        {"room": "lobby", "limit": True},
        {"room": "bad room"},
        [],
    ]:
        ack = call(client, "history", payload)
        assert ack["error"]["code"] in ("invalid_payload", "invalid_room"), payload
    assert call(client, "join", {"room": "lobby", "since": "x"})["error"]["code"] == (
        "invalid_payload"
    )


def test_a_retry_with_the_same_client_id_is_acked_the_same_and_sent_once(
    app: Flask, connect: Connect
) -> None:
    browser = app.test_client()
    browser.get("/chat/")
    sender = connect(flask_test_client=browser)
    reader = connect()
    reader.get_received("/chat")
    seen: list[str] = []

    def count(sender: Flask, message: Any) -> None:
        seen.append(message.id)

    with signals.message_sent.connected_to(count, sender=app):
        first = send(sender, "only once", client_id="c-1")
        # The connection dropped before the ack arrived; the page retries on a
        # new connection with the same client_id.
        sender.disconnect("/chat")
        again = send(connect(flask_test_client=browser), "only once", client_id="c-1")
    assert again == first
    assert texts(events(reader, "message receive")) == ["only once"]
    assert seen == [first["id"]]


def test_the_history_api(app: Flask, connect: Connect) -> None:
    poster = connect()
    for i in range(5):
        send(poster, f"m{i}")
    http = app.test_client()
    page = http.get("/chat/api/rooms/lobby/messages?limit=2").get_json()
    assert (texts(page["messages"]), page["has_more"]) == (["m3", "m4"], True)
    page = http.get("/chat/api/rooms/lobby/messages?before=4&limit=50").get_json()
    assert texts(page["messages"]) == ["m0", "m1", "m2"]
    assert http.get("/chat/api/rooms/lobby/messages?before=x").status_code == 400
    assert http.get("/chat/api/rooms/no%20room/messages").status_code == 404


def test_the_history_api_checks_permissions() -> None:
    app, chat = make_chat_app()
    chat.can_join(lambda user, room: room != "secret")
    assert app.test_client().get("/chat/api/rooms/secret/messages").status_code == 403
    locked = make_app(CHATROOM_REQUIRE_LOGIN=True)
    assert locked.test_client().get("/chat/api/rooms/lobby/messages").status_code == 401


def test_cli_init_db_export_and_purge(
    app: Flask, connect: Connect, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["chatroom", "init-db"])
    assert result.exit_code == 0, result.output
    assert "chat schema: ok" in result.output
    poster = connect()
    send(poster, "first")
    send(poster, "second\nline")
    out = tmp_path / "lobby.jsonl"
    result = runner.invoke(args=["chatroom", "export", "lobby", "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(m["seq"], m["message"]) for m in lines] == [
        (1, "first"),
        (2, "second\nline"),
    ]
    assert all(m["sender_id"].startswith("guest:") for m in lines)
    assert runner.invoke(args=["chatroom", "export", "bad room"]).exit_code != 0

    result = runner.invoke(args=["chatroom", "purge"])
    assert result.exit_code != 0
    assert "CHATROOM_RETENTION_DAYS" in result.output
    result = runner.invoke(args=["chatroom", "purge", "--days", "1"])
    assert "deleted 0 message(s)" in result.output
    store = app.extensions["chatroom"].store
    store.add(Message(room="lobby", client="x", text="old", ts=0))
    result = runner.invoke(args=["chatroom", "purge", "--days", "1"])
    assert "deleted 1 message(s)" in result.output


def test_retention_days_drive_purge() -> None:
    app = make_app(CHATROOM_RETENTION_DAYS=30)
    store = app.extensions["chatroom"].store
    store.add(Message(room="lobby", client="x", text="ancient", ts=0))
    result = app.test_cli_runner().invoke(args=["chatroom", "purge"])
    assert "deleted 1 message(s) older than 30 day(s)" in result.output


def test_a_host_hands_over_its_own_engine(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    with engine.begin() as conn:  # the host's own table in the same database
        conn.execute(text("CREATE TABLE host_users (id INTEGER PRIMARY KEY)"))
    calls = []

    def host_engine() -> Any:  # like lambda: db.engine with Flask-SQLAlchemy
        calls.append(1)
        return engine

    app = make_app(CHATROOM_ENGINE=host_engine)
    client = app.extensions["socketio"].test_client(app, namespace="/chat")
    assert send(client, "stored in the host's database")["ok"] is True
    with engine.connect() as conn:
        tables = {
            row[0] for row in conn.execute(text("SELECT name FROM sqlite_master"))
        }
        stored = (
            conn.execute(text("SELECT text FROM chatroom_messages")).scalars().all()
        )
    assert {"host_users", "chatroom_messages", "chatroom_rooms"} <= tables
    assert stored == ["stored in the host's database"]
    assert calls == [1]


def test_the_history_api_pages_after_a_seq_with_the_same_checks() -> None:
    app, chat = make_chat_app()
    chat.can_join(lambda user, room: room != "secret")
    with app.app_context():
        for text in ("one", "two", "three"):
            get_chat(app).send("lobby", text)
        get_chat(app).send("secret", "hidden")
    guest = app.test_client()
    page = guest.get("/chat/api/rooms/lobby/messages?after=1").get_json()
    assert [m["message"] for m in page["messages"]] == ["two", "three"]
    refused = guest.get("/chat/api/rooms/secret/messages?after=0")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    locked = make_app(CHATROOM_REQUIRE_LOGIN=True).test_client()
    response = locked.get("/chat/api/rooms/lobby/messages?after=0")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "login_required"
