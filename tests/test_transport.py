"""The WebSocket transport middleware: whole frames, no Nagle delay, and
permessage-deflate only when CHATROOM_WEBSOCKET_COMPRESSION asks for it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
import websocket

from flask_chatroom.fastpath.middleware import (
    DIRECT_SOCKET,
    WebSocketTransport,
    WholeSendSocket,
)

from .conftest import LiveServer, make_app


def upgrade_environ(**extra: Any) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/socket.io/",
        "HTTP_UPGRADE": "websocket",
        "HTTP_SEC_WEBSOCKET_EXTENSIONS": "permessage-deflate; client_max_window_bits",
        **extra,
    }


def test_the_middleware_sits_in_front_of_socketio() -> None:
    app = make_app()
    assert isinstance(app.wsgi_app, WebSocketTransport)
    assert hasattr(app.wsgi_app.app, "engineio_app")


def test_compression_offers_are_dropped_unless_asked_for() -> None:
    left, right = socket.socketpair()
    seen: list[dict[str, Any]] = []
    for compression, kept in ((False, False), (True, True)):
        middleware = WebSocketTransport(
            lambda env, sr: seen.append(env) or [], compression
        )
        middleware(upgrade_environ(**{"gunicorn.socket": left}), None)
        assert ("HTTP_SEC_WEBSOCKET_EXTENSIONS" in seen[-1]) is kept
        assert isinstance(seen[-1]["gunicorn.socket"], WholeSendSocket)
    plain = {"REQUEST_METHOD": "GET", "PATH_INFO": "/chat/", "gunicorn.socket": left}
    WebSocketTransport(lambda env, sr: seen.append(env) or [])(plain, None)
    assert seen[-1] is plain  # other requests pass untouched
    left.close()
    right.close()


def test_whole_send_socket_never_writes_part_of_a_frame() -> None:
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    left.settimeout(10)
    whole = WholeSendSocket(left)
    frames = [bytes([i]) * 200_000 for i in range(1, 4)]
    received = bytearray()

    def slow_reader() -> None:
        while len(received) < sum(map(len, frames)):
            received.extend(right.recv(65536))

    reader = threading.Thread(target=slow_reader)
    reader.start()
    writers = [threading.Thread(target=whole.send, args=(f,)) for f in frames]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    reader.join(timeout=10)
    # Three writers at once, and each frame still arrives in one piece.
    chunks = [
        bytes(received[i : i + 200_000]) for i in range(0, len(received), 200_000)
    ]
    assert sorted(chunk[0] for chunk in chunks) == [1, 2, 3]
    assert all(chunk == bytes([chunk[0]]) * 200_000 for chunk in chunks)
    left.close()
    right.close()


@pytest.mark.server
@pytest.mark.parametrize("compression", [False, True])
def test_a_real_server_negotiates_compression_only_when_configured(
    live_server_factory: Callable[..., LiveServer], compression: bool
) -> None:
    server = live_server_factory(config={"CHATROOM_WEBSOCKET_COMPRESSION": compression})
    ws = websocket.create_connection(
        server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
        header=["Sec-WebSocket-Extensions: permessage-deflate"],
        origin=server.url,
        timeout=5,
    )
    try:
        extensions = ws.getheaders().get("sec-websocket-extensions", "")
        assert ("permessage-deflate" in extensions) is compression
    finally:
        ws.close()


def test_websockets_served_directly_pass_through_untouched() -> None:
    # With flask_chatroom.websocket in place (gevent), a WebSocket that starts
    # as one is handled there as it comes; an upgrade from long-polling (it
    # names its Engine.IO sid) gets the adjustments, for whichever WebSocket
    # class serves it.
    left, right = socket.socketpair()
    seen: list[dict[str, Any]] = []
    middleware = WebSocketTransport(lambda env, sr: seen.append(env) or [])
    middleware.direct = True
    direct = upgrade_environ(
        QUERY_STRING="EIO=4&transport=websocket", **{"gunicorn.socket": left}
    )
    middleware(direct, None)
    assert seen[-1] is direct
    # gunicorn's socket is kept out of python-engineio's middleware, which would
    # wrap it for eventlet.
    assert "gunicorn.socket" not in direct
    assert direct[DIRECT_SOCKET] is left
    upgrade = upgrade_environ(
        QUERY_STRING="EIO=4&transport=websocket&sid=abc", **{"gunicorn.socket": left}
    )
    middleware(upgrade, None)
    assert isinstance(seen[-1]["gunicorn.socket"], WholeSendSocket)
    assert "HTTP_SEC_WEBSOCKET_EXTENSIONS" not in seen[-1]
    # A WebSocket of the host's own, elsewhere, keeps its socket where it was.
    own = upgrade_environ(PATH_INFO="/host/ws", **{"gunicorn.socket": left})
    middleware(own, None)
    assert "gunicorn.socket" in seen[-1] and DIRECT_SOCKET not in seen[-1]
    left.close()
    right.close()
