"""The transport under the chat: WSGI middleware in front of Socket.IO
(:mod:`.middleware`, on every path) and, under gevent, the direct WebSocket
writer (:mod:`.websocket`).

The direct writer replaces parts of python-engineio and python-socketio that
are not public extension points (listed in :data:`SEAMS`), so :func:`install`
puts it in place only on the releases it was tested with
(:data:`TESTED_RELEASES`). On any other release it logs one warning and leaves
python-engineio's own WebSocket path serving the chat, which is slower but
needs nothing private. The upstream changes that would remove the seams are in
the performance docs.
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

from flask import Flask

from ..config import ChatConfig
from . import middleware

log = logging.getLogger("flask_chatroom")

#: distribution -> the ``(major, minor)`` release series the direct writer was
#: tested with (CI runs the WebSocket tests against the newest releases, so a
#: new series shows up there first).
TESTED_RELEASES: dict[str, tuple[int, int]] = {
    "python-socketio": (5, 18),
    "python-engineio": (4, 15),
}

#: What the direct writer relies on that python-engineio / python-socketio do
#: not document as extension points.
SEAMS = (
    "engineio.Server._async['websocket'] (the WebSocket class, per server copy; "
    "its wait() screened on every path)",
    "engineio.Server.handlers['message'] (python-socketio's Engine.IO message "
    "handler, wrapped to answer packets ChatPacket refuses; on every path)",
    "engineio.Server.start_background_task (Socket._send_ping found by name)",
    "engineio.socket.Socket.queue / receive / close / connected / upgraded",
    "socketio.Server.manager.__class__ (a subclass made at run time)",
    "socketio.Manager.basic_disconnect (its tail, repeated for the room index)",
)


def release_series(distribution: str) -> tuple[int, int] | None:
    """The installed ``(major, minor)`` of *distribution*, or ``None``."""
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def untested_releases() -> list[str]:
    """The installed releases the direct writer was not tested with, as
    ``"python-engineio 4.16"``; empty when every one was."""
    found = []
    for distribution, tested in TESTED_RELEASES.items():
        series = release_series(distribution)
        if series != tested:
            shown = "?" if series is None else f"{series[0]}.{series[1]}"
            found.append(f"{distribution} {shown}")
    return found


def screen_websocket_messages(eio_server: Any) -> None:
    """Have python-engineio's WebSocket class (simple-websocket's, on the plain
    path) close a connection that sends something other than an Engine.IO
    packet (:func:`.middleware.screen_messages`), on this server only."""
    drivers = getattr(eio_server, "_async", None)
    if not isinstance(drivers, dict) or not isinstance(drivers.get("websocket"), type):
        return
    screened = middleware.screen_messages(drivers["websocket"])
    if screened is not drivers["websocket"]:
        eio_server._async = {**drivers, "websocket": screened}


def install(app: Flask, socketio: Any, config: ChatConfig) -> bool:
    """Put the transport in front of *app*'s Socket.IO: the middleware always,
    the direct WebSocket writer when it is on (``CHATROOM_FAST_WEBSOCKET``, no
    compression, gevent) and the installed releases are the tested ones.

    :returns: whether the direct writer serves WebSockets.
    """
    middleware.install(app, config.websocket_compression)
    server = socketio.server
    screen_websocket_messages(server.eio)
    if (
        not config.fast_websocket
        or config.websocket_compression
        or server.eio.async_mode != "gevent"
    ):
        return False
    untested = untested_releases()
    if untested:
        log.warning(
            "flask-chatroom: the direct WebSocket writer was not tested with %s "
            "(tested: %s); the chat uses python-engineio's own WebSocket path "
            "instead (slower fan-out, same behaviour).",
            ", ".join(untested),
            ", ".join(f"{d} {a}.{b}" for d, (a, b) in TESTED_RELEASES.items()),
        )
        return False
    from . import websocket  # needs gevent and wsproto

    direct = websocket.install(server)
    if isinstance(app.wsgi_app, middleware.WebSocketTransport):
        app.wsgi_app.direct = direct
    return direct
