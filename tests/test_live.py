"""Real servers, real clients: python-socketio clients chat through the example app."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import ChatClient, LiveServer, WireOrderClient

pytestmark = pytest.mark.server


@pytest.mark.parametrize("async_mode", ["gevent", "threading"])
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_two_clients_chat_on_a_real_server(
    live_server_factory: Callable[..., LiveServer],
    clients: Callable[..., ChatClient],
    async_mode: str,
    transport: str,
) -> None:
    server = live_server_factory(async_mode)
    alice = clients(server.url, transports=[transport])
    bob = clients(server.url, transports=[transport])
    alice_name = alice.next("welcome")["client"]
    bob_name = bob.next("welcome")["client"]

    ack = alice.send({"message": "Hi Bob"})
    assert ack["ok"] is True
    for client in (alice, bob):
        received = client.next("message receive")
        assert received["id"] == ack["id"]
        assert (received["client"], received["message"], received["room"]) == (
            alice_name,
            "Hi Bob",
            "lobby",
        )

    assert bob.send({"message": "Hi Alice"})["ok"] is True
    assert alice.next("message receive")["client"] == bob_name

    bad = bob.send({"message": ""})
    assert bad["error"]["code"] == "empty_message"
    assert bob.next("chat error")["code"] == "empty_message"
    assert alice.inbox.empty()


def test_the_example_app_keeps_its_own_pages(live_server: LiveServer) -> None:
    with urllib.request.urlopen(live_server.url + "/") as response:
        home = response.read().decode()
    assert "Welcome to Acme" in home and "data-chatroom" in home
    with urllib.request.urlopen(live_server.url + "/hello") as response:
        assert "Hello, world!" in response.read().decode()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(live_server.url + "/no-such-page")
    assert info.value.code == 404
    assert "Acme has no page at this address" in info.value.read().decode()


def test_many_clients_each_get_every_message_once(
    live_server: LiveServer, clients: Callable[..., ChatClient]
) -> None:
    members = [clients(live_server.url, transports=["websocket"]) for _ in range(8)]
    for member in members:
        member.next("welcome")
    acks = [members[i % 8].send({"message": f"m{i}"}) for i in range(40)]
    assert all(ack["ok"] for ack in acks)
    for member in members:
        got = [member.next("message receive")["id"] for _ in range(40)]
        assert got == [ack["id"] for ack in acks]
        assert member.inbox.empty()


def test_a_refused_connection_says_why(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    import socketio as sio

    server = live_server_factory(config={"CHATROOM_REQUIRE_LOGIN": True})
    client = sio.Client(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", errors.append, namespace="/chat")
    with pytest.raises(sio.exceptions.ConnectionError):
        client.connect(server.url, namespaces=["/chat"], wait_timeout=5)
    assert errors == [
        {"message": "Please sign in to chat.", "data": {"code": "login_required"}}
    ]


def test_the_test_clients_see_frames_in_wire_order() -> None:
    # Tests that assert the order of broadcasts rely on it: each Socket.IO packet
    # reaches the handlers before the next one is read (python-engineio's own
    # client would start a thread per packet), so they see the server's order.
    from engineio import packet

    client = WireOrderClient(reconnection=False)
    seen: list[int] = []

    def slow_on_odd_seqs(data: dict[str, int]) -> None:
        if data["seq"] % 2:
            time.sleep(0.002)  # a thread per packet would let the next overtake
        seen.append(data["seq"])

    client.on("message receive", slow_on_odd_seqs, namespace="/chat")
    for seq in range(1, 101):
        frame = f'2/chat,["message receive",{{"seq":{seq}}}]'
        client.eio._receive_packet(packet.Packet(packet.MESSAGE, frame))
        assert seen[-1:] == [seq]
    assert seen == list(range(1, 101))
