"""Delivery guarantees against a real server: nothing acked is lost when the
process is killed, and a client that was away gets what it missed exactly once."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ChatClient, LiveServer

pytestmark = [pytest.mark.server, pytest.mark.slow]

#: These tests post faster than people do.
UNLIMITED = {"CHATROOM_RATE_LIMITS": None}


def all_messages(server: LiveServer, room: str = "lobby") -> list[dict[str, Any]]:
    """Every stored message of *room*, oldest first, through the history API."""
    messages: list[dict[str, Any]] = []
    before = ""
    while True:
        url = f"{server.url}/chat/api/rooms/{room}/messages?limit=200&before={before}"
        with urllib.request.urlopen(url, timeout=10) as response:
            page = json.load(response)
        messages = page["messages"] + messages
        if not page["has_more"]:
            return messages
        before = str(page["messages"][0]["seq"])


def test_no_acked_message_is_lost_when_the_server_is_killed(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(config=UNLIMITED)
    acked: dict[int, list[dict[str, Any]]] = {n: [] for n in range(3)}
    stop = threading.Event()

    def sender(n: int) -> None:
        client = ChatClient(server.url, transports=["websocket"])
        i = 0
        while not stop.is_set():
            try:
                ack = client.send({"message": f"{n}:{i}", "client_id": f"{n}-{i}"})
            except Exception:
                return  # the server is gone
            if ack and ack.get("ok"):
                acked[n].append(ack)
            i += 1

    threads = [
        threading.Thread(target=sender, args=(n,), daemon=True) for n in range(3)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(len(a) for a in acked.values()) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.kill()  # SIGKILL: no clean shutdown
    server.process.wait()
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    total = sum(len(a) for a in acked.values())
    assert total >= 300

    restarted = live_server_factory(config=UNLIMITED)  # same SQLite file
    stored = all_messages(restarted)
    by_id = {m["id"]: m for m in stored}
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))
    for n, acks in acked.items():
        for ack in acks:
            assert ack["id"] in by_id, f"acked message {ack} was lost"
            assert by_id[ack["id"]]["seq"] == ack["seq"]
        texts = [m["message"] for m in stored if m["message"].startswith(f"{n}:")]
        assert texts[: len(acks)] == [f"{n}:{i}" for i in range(len(acks))]


def test_a_client_offline_for_ten_seconds_catches_up_exactly_once_in_order(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    live_server = live_server_factory(config=UNLIMITED)
    poster = ChatClient(live_server.url, transports=["websocket"])
    reader = ChatClient(live_server.url, transports=["websocket"])
    seen: list[int] = [m["seq"] for m in reader.next("history")["messages"]]
    for i in range(5):
        assert poster.send({"message": f"before {i}"})["ok"]
    seen += [reader.next("message receive")["seq"] for _ in range(5)]
    last_seq = seen[-1]

    reader.client.disconnect()
    stop = threading.Event()
    posted: list[int] = []

    def keep_posting() -> None:
        i = 0
        while not stop.is_set():
            posted.append(poster.send({"message": f"while away {i}"})["seq"])
            i += 1
            time.sleep(0.05)

    thread = threading.Thread(target=keep_posting)
    thread.start()
    time.sleep(10)  # offline while the others post
    back = ChatClient(
        live_server.url, transports=["websocket"], auth={"since": {"lobby": last_seq}}
    )
    time.sleep(1)  # keep posting while the reader reconnects
    stop.set()
    thread.join()
    assert len(posted) > 50

    catch_up = back.next("history")
    assert catch_up["since"] == last_seq
    got = [m["seq"] for m in catch_up["messages"]]
    while len(got) < len(posted):
        got.append(back.next("message receive")["seq"])
    assert got == posted  # every message once, in order
    assert back.inbox.empty()
    for client in (poster, back):
        client.client.disconnect()


def test_messages_sent_at_once_are_stored_together_and_broadcast_in_seq_order(
    live_server_factory: Callable[..., LiveServer],
    clients: Callable[..., ChatClient],
) -> None:
    # Messages that arrive together are committed in one transaction; everyone
    # still gets each exactly once, in seq order, matching its sender's ack.
    server = live_server_factory(config=UNLIMITED)
    members = [clients(server.url, transports=["websocket"]) for _ in range(4)]
    for member in members:
        member.next("welcome")
    acks: list[dict[str, Any]] = []

    def send_all(member: ChatClient, n: int) -> None:
        for i in range(20):
            acks.append(member.send({"message": f"{n}-{i}", "client_id": f"{n}-{i}"}))

    threads = [
        threading.Thread(target=send_all, args=(m, n)) for n, m in enumerate(members)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(acks) == 80 and all(ack["ok"] for ack in acks)
    acked = {(ack["id"], ack["seq"]) for ack in acks}
    assert sorted(seq for _, seq in acked) == list(range(1, 81))
    for member in members:
        got = [member.next("message receive") for _ in range(80)]
        assert [m["seq"] for m in got] == list(range(1, 81))
        assert {(m["id"], m["seq"]) for m in got} == acked
    assert [m["seq"] for m in all_messages(server)] == list(range(1, 81))
