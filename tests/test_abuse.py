"""Abuse: rate limits, caps on rooms and connections, message filters, and
moderation (delete, mute). Test client level."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask import Flask, request
from flask_socketio import SocketIOTestClient

from flask_chatroom import Chatroom, Identity, Message, get_chat, signals
from flask_chatroom.limits import Limit, LocalLimiter

from .conftest import call, events, make_app, make_chat_app, send


def connect(app: Flask, **kwargs: Any) -> SocketIOTestClient:
    return app.extensions["socketio"].test_client(app, namespace="/chat", **kwargs)


class TestTokenBucket:
    def test_burst_then_rate(self) -> None:
        now = [100.0]
        limiter = LocalLimiter({"message": Limit(2.0, 3)}, clock=lambda: now[0])
        assert [limiter.hit("u", "message") for _ in range(3)] == [None, None, None]
        assert limiter.hit("u", "message") == pytest.approx(0.5)
        now[0] += 0.5
        assert limiter.hit("u", "message") is None
        assert limiter.hit("other", "message") is None  # each user has a bucket
        assert limiter.hit("u", "typing") is None  # unlimited action

    def test_idle_buckets_are_forgotten(self) -> None:
        now = [0.0]
        limiter = LocalLimiter({"message": Limit(1.0, 1)}, clock=lambda: now[0])
        limiter._SWEEP_EVERY = 3
        limiter.hit("a", "message")
        limiter.hit("b", "message")
        now[0] += 10
        limiter.hit("c", "message")  # the third hit sweeps
        assert len(limiter) == 1


def test_messages_over_the_limit_get_rate_limited_with_retry_after() -> None:
    app = make_app(CHATROOM_RATE_LIMITS={"message": (1, 3)})
    client, other = connect(app), connect(app)
    assert [send(client, f"m{i}")["ok"] for i in range(3)] == [True] * 3
    ack = send(client, "one too many")
    assert ack["error"]["code"] == "rate_limited"
    assert 0 < ack["error"]["retry_after"] <= 1
    assert events(client, "chat error")[-1]["code"] == "rate_limited"
    assert send(other, "others are not affected")["ok"] is True


def test_a_user_with_many_tabs_shares_one_budget() -> None:
    app = make_app(CHATROOM_RATE_LIMITS={"message": (1, 4)})
    browser = app.test_client()
    browser.get("/chat/")
    tabs = [connect(app, flask_test_client=browser) for _ in range(2)]
    results = [send(tabs[i % 2], f"m{i}")["ok"] for i in range(6)]
    assert results == [True, True, True, True, False, False]


def test_limits_cover_typing_joins_and_nicknames() -> None:
    app = make_app(
        CHATROOM_RATE_LIMITS={"typing": (1, 1), "join": (1, 1), "nickname": (1, 1)}
    )
    client = connect(app)
    typing = {"room": "lobby", "typing": True}
    assert call(client, "typing", typing)["ok"] is True
    assert call(client, "typing", typing)["error"]["code"] == "rate_limited"
    assert call(client, "join", {"room": "a"})["ok"] is True
    assert call(client, "join", {"room": "b"})["error"]["code"] == "rate_limited"
    assert call(client, "nickname", {"name": "A"})["ok"] is True
    assert call(client, "nickname", {"name": "B"})["error"]["code"] == "rate_limited"


def test_limits_can_be_switched_off() -> None:
    app = make_app(CHATROOM_RATE_LIMITS=None)
    client = connect(app)
    assert all(send(client, f"m{i}")["ok"] for i in range(50))


def test_bad_rate_limit_config_is_refused() -> None:
    from flask_chatroom import ConfigError

    for value in ({"message": (0, 1)}, {"message": (1, 0)}, {"shouting": (1, 1)}, [1]):
        with pytest.raises(ConfigError, match="CHATROOM_RATE_LIMITS"):
            make_app(CHATROOM_RATE_LIMITS=value)


def test_a_client_that_keeps_going_is_disconnected() -> None:
    app = make_app(
        CHATROOM_RATE_LIMITS={"message": (0.001, 1)}, CHATROOM_RATE_LIMIT_DISCONNECT=5
    )
    flooder, bystander = connect(app), connect(app)
    send(flooder, "allowed")
    # The first refusal tells the client its retry_after; five requests that
    # come before it is over are tolerated ...
    for i in range(6):
        assert send(flooder, f"flood {i}")["error"]["code"] == "rate_limited"
        assert flooder.is_connected("/chat")
    send(flooder, "one more")  # ... the sixth early one is too many
    assert not flooder.is_connected("/chat")
    assert get_chat(app).connection_count == 1
    assert send(bystander, "still fine")["ok"] is True


def test_rooms_per_connection_are_capped() -> None:
    app = make_app(CHATROOM_MAX_ROOMS_PER_CONNECTION=3, CHATROOM_RATE_LIMITS=None)
    client = connect(app)  # in lobby
    assert call(client, "join", {"room": "a"})["ok"] is True
    assert call(client, "join", {"room": "b"})["ok"] is True
    assert call(client, "join", {"room": "c"})["error"]["code"] == "too_many_rooms"
    assert call(client, "join", {"room": "a"})["ok"] is True  # already in it
    call(client, "leave", {"room": "a"})
    assert call(client, "join", {"room": "c"})["ok"] is True


def test_connections_per_user_are_capped() -> None:
    app = make_app(CHATROOM_MAX_CONNECTIONS_PER_USER=2)
    browser = app.test_client()
    browser.get("/chat/")
    first = connect(app, flask_test_client=browser)
    second = connect(app, flask_test_client=browser)
    third = connect(app, flask_test_client=browser)
    assert first.is_connected("/chat") and second.is_connected("/chat")
    assert not third.is_connected("/chat")
    first.disconnect("/chat")
    assert connect(app, flask_test_client=browser).is_connected("/chat")


class TestMessageFilter:
    def test_a_filter_changes_or_refuses_messages(self) -> None:
        app, chat = make_chat_app()
        rejected: list[str] = []

        @chat.message_filter
        def no_shouting(message: Message, user: Identity) -> Message | None:
            if "spam" in message.text:
                return None
            return dataclasses.replace(message, text=message.text.lower(), client="X")

        def on_rejected(sender: Flask, message: Message, user: Identity) -> None:
            rejected.append(message.text)

        poster, reader = connect(app), connect(app)
        name = events(poster, "welcome")[0]["client"]
        reader.get_received("/chat")
        with signals.message_rejected.connected_to(on_rejected, sender=app):
            assert send(poster, "HELLO")["ok"] is True
            ack = send(poster, "buy spam")
        assert ack["error"]["code"] == "rejected"
        assert rejected == ["buy spam"]
        [message] = events(reader, "message receive")
        # The text changed; the sender's name is still the server's.
        assert (message["message"], message["client"]) == ("hello", name)
        history = app.extensions["chatroom"].store.history("lobby")[0]
        assert [m.text for m in history] == ["hello"]

    def test_a_filter_that_returns_bad_text_is_refused(self) -> None:
        app, chat = make_chat_app()
        chat.message_filter(lambda m, u: dataclasses.replace(m, text="   "))
        assert send(connect(app), "hi")["error"]["code"] == "rejected"


def moderated_app(**config: Any) -> tuple[Flask, Chatroom]:
    app, chat = make_chat_app(**config)

    @chat.identity_loader
    def from_header() -> Any:
        name = request.headers.get("X-User")
        if name is None:
            return None
        roles = ["moderator"] if name == "mod" else []
        return {"id": name, "name": name.title(), "roles": roles}

    return app, chat


class TestModeration:
    def test_a_moderator_deletes_a_message_for_everyone(self) -> None:
        app, _ = moderated_app()
        mod = connect(app, headers={"X-User": "mod"})
        alice = connect(app, headers={"X-User": "alice"})
        ack = send(alice, "something rude")
        # Carol's join keeps the room's recent history; the deletion must
        # replace it.
        carol = connect(app, headers={"X-User": "carol"})
        assert events(carol, "history")[0]["messages"][-1]["message"] == (
            "something rude"
        )
        for client in (mod, alice):
            client.get_received("/chat")
        # Someone else's message: only a moderator may delete it.
        assert call(carol, "delete message", {"id": ack["id"]})["error"]["code"] == (
            "forbidden"
        )
        assert call(mod, "delete message", {"id": ack["id"]}) == {
            "ok": True,
            "id": ack["id"],
        }
        for client in (mod, alice):
            assert events(client, "message deleted") == [
                {
                    "kind": "delete",
                    "id": ack["id"],
                    "room": "lobby",
                    "change_seq": 1,
                    "seq": ack["seq"],
                }
            ]
        later = connect(app, headers={"X-User": "bob"})
        [history] = events(later, "history")
        assert history["messages"][-1]["message"] == ""
        assert history["messages"][-1]["deleted"] is True
        http = app.test_client()
        api = http.get("/chat/api/rooms/lobby/messages").get_json()
        assert "something rude" not in str(api)
        assert (
            call(mod, "delete message", {"id": "nope"})["error"]["code"] == "not_found"
        )

    def test_a_moderator_mutes_a_user_in_a_room(self) -> None:
        app, _ = moderated_app()
        mod = connect(app, headers={"X-User": "mod"})
        alice = connect(app, headers={"X-User": "alice"})
        mute = {"room": "lobby", "user_id": "alice", "seconds": 60}
        assert call(alice, "mute", {**mute, "user_id": "mod"})["error"]["code"] == (
            "forbidden"
        )
        ack = call(mod, "mute", mute)
        assert ack["ok"] is True and ack["until"] > 0
        refused = send(alice, "hello?")
        assert refused["error"]["code"] == "muted"
        assert 59 < refused["error"]["retry_after"] <= 60
        call(alice, "join", {"room": "elsewhere"})
        assert send(alice, "here I can", room="elsewhere")["ok"] is True
        assert call(mod, "mute", {**mute, "seconds": 0})["until"] is None
        assert send(alice, "back")["ok"] is True

    @pytest.mark.parametrize(
        "payload",
        [
            {"room": "lobby", "user_id": "a", "seconds": -1},
            {"room": "lobby", "user_id": "a", "seconds": 10**9},
            {"room": "lobby", "user_id": "", "seconds": 5},
            {"room": "lobby", "seconds": 5},
            {"user_id": "a"},
        ],
    )
    def test_bad_mute_requests(self, payload: dict[str, Any]) -> None:
        app, _ = moderated_app()
        mod = connect(app, headers={"X-User": "mod"})
        ack = call(mod, "mute", payload)
        assert ack["error"]["code"] in ("invalid_payload", "invalid_room")


class TestFailingSignalReceivers:
    """A receiver that raises is logged; the action it was told about stands and
    its author gets the usual answer (the same as for ``message_sent``)."""

    @staticmethod
    def broken(sender: Flask, **kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    def test_a_deletion_stands(self, caplog: pytest.LogCaptureFixture) -> None:
        app, _ = moderated_app()
        mod = connect(app, headers={"X-User": "mod"})
        ack = send(connect(app, headers={"X-User": "alice"}), "rude")
        events(mod, "message receive")
        with (
            signals.message_deleted.connected_to(self.broken, sender=app),
            caplog.at_level("ERROR", logger="flask_chatroom"),
        ):
            answer = call(mod, "delete message", {"id": ack["id"]})
        assert answer == {"ok": True, "id": ack["id"]}
        assert events(mod, "message deleted") == [
            {
                "kind": "delete",
                "id": ack["id"],
                "room": "lobby",
                "change_seq": 1,
                "seq": ack["seq"],
            }
        ]
        assert get_chat(app).history("lobby")[-1].deleted
        assert "a receiver of the chatroom.message-deleted signal failed" in caplog.text

    def test_a_mute_stands(self, caplog: pytest.LogCaptureFixture) -> None:
        app, _ = moderated_app()
        mod = connect(app, headers={"X-User": "mod"})
        alice = connect(app, headers={"X-User": "alice"})
        with (
            signals.user_muted.connected_to(self.broken, sender=app),
            caplog.at_level("ERROR", logger="flask_chatroom"),
        ):
            answer = call(
                mod, "mute", {"room": "lobby", "user_id": "alice", "seconds": 60}
            )
        assert answer["ok"] is True and answer["until"] is not None
        assert send(alice, "still here?")["error"]["code"] == "muted"
        assert "a receiver of the chatroom.user-muted signal failed" in caplog.text

    def test_a_rejection_is_still_a_rejection(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        app, chat = make_chat_app()
        chat.message_filter(lambda message, user: None)
        client = connect(app)
        with (
            signals.message_rejected.connected_to(self.broken, sender=app),
            caplog.at_level("ERROR", logger="flask_chatroom"),
        ):
            ack = send(client, "anything")
        assert ack["error"]["code"] == "rejected"  # not internal_error
        assert (
            "a receiver of the chatroom.message-rejected signal failed" in caplog.text
        )
