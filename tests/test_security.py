"""Defences against a real server: cross-site WebSocket hijacking, oversized frames,
and a flooding client that must not hurt anyone else."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import socketio as sio
import websocket

from .conftest import ChatClient, LiveServer

pytestmark = pytest.mark.server


def handshake(server: LiveServer, origin: str) -> int:
    """Status of an Engine.IO polling handshake sent with *origin*."""
    request = urllib.request.Request(
        f"{server.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_only_the_sites_own_origin_may_connect(live_server: LiveServer) -> None:
    assert handshake(live_server, live_server.url) == 200
    assert handshake(live_server, "http://evil.example") == 400
    assert handshake(live_server, "null") == 400
    ws_url = (
        live_server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    )
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(ws_url, origin="http://evil.example", timeout=5)
    ok = websocket.create_connection(ws_url, origin=live_server.url, timeout=5)
    assert ok.recv().startswith("0{")  # the Engine.IO open packet
    ok.close()


def test_an_oversized_frame_is_refused_before_it_is_parsed(
    live_server: LiveServer,
) -> None:
    big, bystander = (
        ChatClient(live_server.url, transports=["websocket"]) for _ in "ab"
    )
    big.next("welcome")
    bystander.next("welcome")
    gone = threading.Event()
    big.client.on("disconnect", lambda *args: gone.set(), namespace="/chat")
    big.client.emit("message broadcast", {"message": "x" * 100_000}, namespace="/chat")
    assert gone.wait(10), "the oversized frame did not close the connection"
    assert bystander.send({"message": "still here"})["ok"] is True
    assert "message receive" not in [name for name, _ in list(big.inbox.queue)]
    bystander.client.disconnect()


def test_a_flooding_client_is_limited_and_others_are_not_slowed(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(config={"CHATROOM_RATE_LIMIT_DISCONNECT": 200})
    flooder = sio.Client(reconnection=False)
    errors: list[Any] = []
    flooder.on("chat error", errors.append, namespace="/chat")
    flooder.connect(server.url, namespaces=["/chat"], transports=["websocket"])
    other = ChatClient(server.url, transports=["websocket"])
    other.next("welcome")

    stop = threading.Event()

    def flood() -> None:
        i = 0
        while not stop.is_set() and flooder.connected:
            try:
                flooder.emit(
                    "message broadcast", {"message": f"flood {i}"}, namespace="/chat"
                )
            except Exception:
                return
            i += 1

    thread = threading.Thread(target=flood)
    thread.start()
    time.sleep(0.5)
    latencies = []
    for i in range(10):
        started = time.monotonic()
        assert other.send({"message": f"normal {i}"})["ok"] is True
        latencies.append(time.monotonic() - started)
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=10)
    assert errors and {e["code"] for e in errors} == {"rate_limited"}
    # Not a speed target (those live in benchmarks/): the other user is served
    # promptly instead of queueing behind the flood.
    assert max(latencies) < 2.0, latencies
    flooder.disconnect()
    other.client.disconnect()
