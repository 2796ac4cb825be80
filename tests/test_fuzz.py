"""Property-based fuzzing of every event with Hypothesis.

Each example sends one event with an arbitrary payload (any JSON value, nesting
up to the packet layer's bound, huge strings, wrong types) and checks that the server
answered with a valid result or a documented error, logged no failure, and still
serves a normal client. ``CHATROOM_FUZZ_EXAMPLES`` sets the examples per event
(default 2000; raise it for a longer run).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask_socketio import SocketIOTestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_chatroom.adapters.socketio import EVENTS, RefusedPacket
from flask_chatroom.protocol import ERROR_CODES, MAX_JSON_DEPTH

from .conftest import make_chat_app

EXAMPLES = int(os.environ.get("CHATROOM_FUZZ_EXAMPLES", "2000"))
FIELDS = [
    "message",
    "data",
    "room",
    "client_id",
    "since",
    "before",
    "after",
    "limit",
    "typing",
    "name",
    "id",
    "user_id",
    "seconds",
    "client",
    "user_ids",
    "title",
    "private",
    "query",
    "attachments",
    "reply_to",
    "emoji",
    "on",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text()
    | st.sampled_from(["lobby", "dev", "", " ", "a" * 65, "ü", "\x00", "\u202e"])
)
# Binary data and nesting deeper than MAX_JSON_DEPTH never reach an event: the
# chat's packet class refuses them (tests/test_security.py attacks a real
# server with both, and test_the_packet_layer_refuses_... below).
huge = st.integers(min_value=1000, max_value=200_000).map(lambda n: "x" * n)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(FIELDS) | st.text(max_size=4), children, max_size=3
        )
    ),
    max_leaves=6,
)
deep = st.integers(min_value=20, max_value=MAX_JSON_DEPTH - 2).map(
    lambda depth: _nest(depth)
)
# Objects with the protocol's field names and wrong, odd or huge values.
objects = st.dictionaries(
    st.sampled_from(FIELDS), scalars | huge | json_values, max_size=5
)
payloads = objects | json_values | deep | huge


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"room": value}
    return value


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    db = Path(tmp_path_factory.mktemp("fuzz")) / "chat.sqlite3"
    app, chat = make_chat_app(
        CHATROOM_DATABASE_URL=f"sqlite:///{db}", CHATROOM_RATE_LIMITS=None
    )

    @chat.identity_loader
    def moderator_or_guest() -> Any:
        # The fuzzer is a moderator, so moderation events are fuzzed too.
        if request.headers.get("X-Fuzzer"):
            return {"id": "fuzzer", "name": "Fuzzer", "roles": ["moderator"]}
        return None

    return app


@pytest.fixture(scope="module")
def clients(fuzz_app: Flask) -> tuple[SocketIOTestClient, SocketIOTestClient]:
    socketio = fuzz_app.extensions["socketio"]
    fuzzer = socketio.test_client(
        fuzz_app, namespace="/chat", headers={"X-Fuzzer": "1"}
    )
    normal = socketio.test_client(fuzz_app, namespace="/chat")
    return fuzzer, normal


def check_answer(ack: Any) -> None:
    assert isinstance(ack, dict), ack
    if ack["ok"] is not True:
        assert ack["ok"] is False
        assert ack["error"]["code"] in ERROR_CODES
        assert ack["error"]["code"] != "internal_error", ack
        assert isinstance(ack["error"]["message"], str)


def still_serves(normal: SocketIOTestClient) -> None:
    ack = normal.emit(
        "message broadcast", {"message": "ping"}, namespace="/chat", callback=True
    )
    assert ack["ok"] is True, ack
    normal.get_received("/chat")


@pytest.mark.slow
# "connect" and "disconnect" sent as events must not pass for the real thing.
@pytest.mark.parametrize(
    "event", [*EVENTS, "no such event", "", "connect", "disconnect"]
)
def test_every_event_survives_arbitrary_payloads(
    event: str,
    clients: tuple[SocketIOTestClient, SocketIOTestClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fuzzer, normal = clients

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(args=st.lists(payloads, max_size=2))
    def fuzz(args: list[Any]) -> None:
        with caplog.at_level(logging.ERROR, logger="flask_chatroom"):
            ack = fuzzer.emit(event, *args, namespace="/chat", callback=True)
        check_answer(ack)
        assert fuzzer.is_connected("/chat")
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        fuzzer.get_received("/chat")
        still_serves(normal)

    fuzz()


@pytest.mark.parametrize(
    "payload", [_nest(MAX_JSON_DEPTH + 10), b"\x00binary", {"message": [b"x"]}]
)
def test_the_packet_layer_refuses_deep_nesting_and_binary_data(
    clients: tuple[SocketIOTestClient, SocketIOTestClient], payload: Any
) -> None:
    # Flask-SocketIO's test client hands packets to python-socketio directly,
    # so the refusal shows as the exception the chat's guard answers on a real
    # connection (with chat error invalid_payload, or by closing it).
    fuzzer, normal = clients
    with pytest.raises(RefusedPacket):
        fuzzer.emit("message broadcast", payload, namespace="/chat", callback=True)
    still_serves(normal)
