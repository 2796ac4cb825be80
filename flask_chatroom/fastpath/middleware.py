"""WebSocket transport settings, applied as WSGI middleware in front of Socket.IO.

python-engineio serves WebSockets with simple-websocket under gevent, threading
and gunicorn. This middleware adjusts each WebSocket upgrade request before
Engine.IO sees it:

- **Whole writes.** simple-websocket (1.1) writes frames with ``socket.send``,
  which may write only part of a frame when the socket's buffer is full (a slow
  reader, a large history frame), and it writes from two threads or greenlets at
  once; the next frame then starts in the middle of the previous one and the
  browser reports "Invalid frame header". The socket handed to simple-websocket
  here sends every frame whole (``sendall``) and one frame at a time.
- **Reads take turns.** simple-websocket keeps reading a socket that has data
  without yielding, so one client flooding its WebSocket could hold a gevent
  worker; the socket here yields after every read.
- **No Nagle delay.** ``TCP_NODELAY`` on the connection, so a small frame is not
  held back for up to 40 ms waiting for an ACK (gevent's WSGI server does not set
  it).
- **Compression.** Browsers offer permessage-deflate, and simple-websocket
  accepts it, compressing every frame once per recipient: the largest cost of a
  broadcast. Unless ``CHATROOM_WEBSOCKET_COMPRESSION`` is on, the offer is
  removed, so frames go uncompressed (chat messages are small).

It acts only on WebSocket upgrades; every other request passes through untouched.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

#: Where a gunicorn socket waits for :mod:`flask_chatroom.fastpath.websocket`.
DIRECT_SOCKET = "flask_chatroom.socket"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WholeSendSocket:
    """A socket proxy whose ``send`` writes everything (``sendall``), one writer
    at a time: simple-websocket writes from two threads or greenlets (its reader
    answers pings and the handshake while Engine.IO's writer sends messages)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._writing = threading.Lock()  # a gevent lock once gevent has patched

    def send(self, data: bytes, *flags: int) -> int:
        with self._writing:
            self._sock.sendall(data, *flags)
        return len(data)

    def recv(self, size: int, *flags: int) -> bytes:
        data: bytes = self._sock.recv(size, *flags)
        # A busy socket always has data, so without this its reader would never
        # let other greenlets run: one flooding client could stall the worker.
        time.sleep(0)  # gevent.sleep(0) once gevent has patched
        return data

    @property
    def unwrapped(self) -> Any:
        """The socket this one writes to."""
        return self._sock

    def dup(self) -> WholeSendSocket:
        return WholeSendSocket(self._sock.dup())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def no_delay(sock: Any) -> None:
    """Turn off the Nagle delay on *sock* (if it is a TCP socket)."""
    # Not TCP (a Unix socket), or no socket API: nothing to set.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class WebSocketTransport:
    """WSGI middleware that applies the settings above to WebSocket upgrades.

    :param app: the WSGI app to wrap (Flask-SocketIO's middleware).
    :param compression: keep the client's permessage-deflate offer.
    """

    def __init__(self, app: WSGIApp, compression: bool = False) -> None:
        self.app = app
        self.compression = compression
        #: :mod:`flask_chatroom.fastpath.websocket` serves WebSockets that start as
        #: such (it does all of the above itself); set by the extension.
        self.direct = False
        #: Socket.IO's path (other WebSockets of the host are not Socket.IO's)
        self.socketio_path: str = getattr(app, "engineio_path", "/socket.io/")

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Any:
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            if (
                self.direct
                and environ.get("PATH_INFO", "").startswith(self.socketio_path)
                and "sid" not in parse_qs(environ.get("QUERY_STRING", ""))
            ):
                # Served by flask_chatroom.fastpath.websocket. Its socket moves out of
                # python-engineio's sight: for gunicorn's, Engine.IO's middleware
                # would make an eventlet wrapper class for every request (2.5 KB
                # kept for as long as the connection lasts).
                if "gunicorn.socket" in environ:
                    environ[DIRECT_SOCKET] = environ.pop("gunicorn.socket")
                return self.app(environ, start_response)
            environ = self.adjust(dict(environ))
        return self.app(environ, start_response)

    def adjust(self, environ: dict[str, Any]) -> dict[str, Any]:
        """The environ of a WebSocket upgrade, with the socket and headers set."""
        if not self.compression:
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        for key in ("werkzeug.socket", "gunicorn.socket"):
            if key in environ:
                no_delay(environ[key])
                environ[key] = WholeSendSocket(environ[key])
                return environ
        # gevent's WSGI server: simple-websocket takes wsgi.input.raw._sock
        # (or wsgi.input.rfile.raw._sock) and dup()s it.
        if environ.get("SERVER_SOFTWARE", "").startswith("gevent"):
            wsgi_input: Any = environ.get("wsgi.input")
            if not hasattr(wsgi_input, "raw") and hasattr(wsgi_input, "rfile"):
                wsgi_input = wsgi_input.rfile
            raw_sock = getattr(getattr(wsgi_input, "raw", None), "_sock", None)
            if raw_sock is not None:
                no_delay(raw_sock)
                environ["wsgi.input"] = SimpleNamespace(
                    raw=SimpleNamespace(_sock=WholeSendSocket(raw_sock))
                )
        return environ


def install(app: Any, compression: bool) -> bool:
    """Put :class:`WebSocketTransport` in front of *app*'s Socket.IO middleware.

    :returns: whether it is in place (Flask-SocketIO must have wrapped the app
        already; otherwise call again later).
    """
    current = app.wsgi_app
    if isinstance(current, WebSocketTransport):
        return True
    if not hasattr(current, "engineio_app"):  # not Flask-SocketIO's middleware yet
        return False
    app.wsgi_app = WebSocketTransport(current, compression)
    return True
