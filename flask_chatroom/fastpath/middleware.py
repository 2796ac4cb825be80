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
- **Messages measured in bytes and frames.** The socket counts each message's
  bytes and frames from the frame headers as they are read (:mod:`.frames`) and
  closes the connection (1009) when a message is over Engine.IO's
  ``max_http_buffer_size`` or comes in more than ``MAX_FRAGMENTS`` frames.
- **The connection ends with the WebSocket.** gevent's WSGI server reads another
  HTTP request from a connection whose WSGI app returned without calling
  ``start_response``, which is what python-engineio and the direct writer do
  when a WebSocket ends: bytes a client sends after its close frame would be
  served as a new request, past any proxy rule. Here the connection is shut
  down and gevent's server told the peer is gone, so it closes it.

- **Long-polling packets screened.** A long-polling client posts its Engine.IO
  packets in the body of a request; python-engineio logs a traceback for each
  body that does not parse (and answers 200). The body of a POST to Socket.IO's
  path is checked first (:func:`polling_problem`): a bad one is answered 400,
  its Engine.IO connection closed, and logged as one line.

Every other request passes through untouched.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import io
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any, NoReturn
from urllib.parse import parse_qs

from .frames import POLICY_VIOLATION, FrameGuard, close_frame, engineio_problem

log = logging.getLogger("flask_chatroom")

#: Where a gunicorn socket waits for :mod:`flask_chatroom.fastpath.websocket`.
DIRECT_SOCKET = "flask_chatroom.socket"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WholeSendSocket:
    """A socket proxy whose ``send`` writes everything (``sendall``), one writer
    at a time: simple-websocket writes from two threads or greenlets (its reader
    answers pings and the handshake while Engine.IO's writer sends messages).

    :param sock: the client's socket.
    :param guard: checks every read (a message over its limits gets a close
        frame, and the reader sees the connection end); ``None`` for none.
    """

    def __init__(self, sock: Any, guard: FrameGuard | None = None) -> None:
        self._sock = sock
        self._writing = threading.Lock()  # a gevent lock once gevent has patched
        self._guard = guard
        self._refused = False

    def send(self, data: bytes, *flags: int) -> int:
        with self._writing:
            self._sock.sendall(data, *flags)
        return len(data)

    def recv(self, size: int, *flags: int) -> bytes:
        if self._refused:
            return b""
        data: bytes = self._sock.recv(size, *flags)
        # A busy socket always has data, so without this its reader would never
        # let other greenlets run: one flooding client could stall the worker.
        time.sleep(0)  # gevent.sleep(0) once gevent has patched
        if data and self._guard is not None:
            problem = self._guard.feed(data)
            if problem is not None:
                # simple-websocket would put the whole message together first.
                log.info("chat: closing a WebSocket: %s", problem[1])
                self._refused = True
                with contextlib.suppress(OSError):
                    self.send(close_frame(*problem))
                return b""  # the reader sees the connection end
        return data

    @property
    def unwrapped(self) -> Any:
        """The socket this one writes to."""
        return self._sock

    def dup(self) -> WholeSendSocket:
        guard = self._guard
        if guard is not None:  # the copy reads the stream from the start
            guard = FrameGuard(guard.max_bytes, guard.max_fragments)
        return WholeSendSocket(self._sock.dup(), guard)

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
        if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            if environ.get("REQUEST_METHOD") == "POST" and environ.get(
                "PATH_INFO", ""
            ).startswith(self.socketio_path):
                return self.screen_post(environ, start_response)
            return self.app(environ, start_response)
        if not environ.get("PATH_INFO", "").startswith(self.socketio_path):
            # A WebSocket of the host's own: only the settings for every socket.
            return self.app(self.adjust(dict(environ)), start_response)
        if self.direct and "sid" not in parse_qs(environ.get("QUERY_STRING", "")):
            # Served by flask_chatroom.fastpath.websocket. Its socket moves out of
            # python-engineio's sight: for gunicorn's, Engine.IO's middleware
            # would make an eventlet wrapper class for every request (2.5 KB
            # kept for as long as the connection lasts).
            if "gunicorn.socket" in environ:
                environ[DIRECT_SOCKET] = environ.pop("gunicorn.socket")
            served = environ
        else:
            served = self.adjust(dict(environ), FrameGuard(self.max_message_bytes()))
        started = False

        def start(*args: Any) -> Any:
            nonlocal started
            started = True
            return start_response(*args)

        result = self.app(served, start)
        if not started and environ.get("SERVER_SOFTWARE", "").startswith("gevent"):
            # The WebSocket was served and is over (a refused handshake gets a
            # response). gunicorn's worker and Werkzeug's server were told so by
            # an exception on the way here.
            end_gevent_connection(environ)
        return result

    def screen_post(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Any:
        """A long-polling POST: its body is passed on only if it is Engine.IO
        packets a client sends; otherwise 400, and the connection is closed."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        limit = self.max_message_bytes()
        if length < 0 or (limit is not None and length > limit):
            return self.app(environ, start_response)  # Engine.IO refuses it
        body = environ["wsgi.input"].read(length)
        problem = polling_problem(body)
        if problem is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.app(environ, start_response)
        sid = parse_qs(environ.get("QUERY_STRING", "")).get("sid", [""])[0]
        server = getattr(self.app, "engineio_app", None)  # python-socketio's
        eio = getattr(server, "eio", None)
        eio_socket = eio.sockets.get(sid) if eio is not None else None
        if eio is not None and eio_socket is not None:
            log.info("chat: closing a long-polling connection: %s", problem)
            # Not eio.disconnect(): it waits for the close packet to be polled,
            # and this client may never poll again.
            with contextlib.suppress(Exception):
                eio_socket.close(
                    wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT
                )
            eio.sockets.pop(sid, None)
        start_response(
            "400 BAD REQUEST", [("Content-Type", "text/plain; charset=UTF-8")]
        )
        return [b"Bad Engine.IO packet"]

    def max_message_bytes(self) -> int | None:
        """Engine.IO's limit on one message (``max_http_buffer_size``)."""
        server = getattr(self.app, "engineio_app", None)  # python-socketio's
        limit = getattr(getattr(server, "eio", server), "max_http_buffer_size", None)
        return limit if isinstance(limit, int) else None

    def adjust(
        self, environ: dict[str, Any], guard: FrameGuard | None = None
    ) -> dict[str, Any]:
        """The environ of a WebSocket upgrade, with the socket and headers set;
        with a *guard*, its reads are checked (see :class:`WholeSendSocket`)."""
        if not self.compression:
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        for key in ("werkzeug.socket", "gunicorn.socket"):
            if key in environ:
                no_delay(environ[key])
                environ[key] = WholeSendSocket(environ[key], guard)
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
                    raw=SimpleNamespace(_sock=WholeSendSocket(raw_sock, guard))
                )
        return environ


def polling_problem(body: bytes) -> str | None:
    """Why the body of a long-polling POST is not Engine.IO packets a client
    sends (packets separated by U+001E; ``b`` and base64 for binary ones), or
    ``None`` when it is."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "a body that is not UTF-8"
    for packet in text.split("\x1e"):
        if packet.startswith("b"):
            try:
                base64.b64decode(packet[1:], validate=True)
            except (binascii.Error, ValueError):
                return "bad base64 in a binary packet"
            continue
        problem = engineio_problem(packet)
        if problem is not None:
            return problem
    return None


def end_gevent_connection(environ: dict[str, Any]) -> NoReturn:
    """End the TCP connection of a WebSocket that gevent's WSGI server served.

    The socket is shut down, and a ``BrokenPipeError`` (``EPIPE``) tells the
    server the peer is gone: gevent's ``WSGIHandler`` then closes the connection
    without logging anything (its ``ignored_socket_errors``) instead of reading
    another request from it, including bytes already in its buffer.
    """
    wsgi_input: Any = environ.get("wsgi.input")
    rfile = getattr(wsgi_input, "rfile", wsgi_input)
    raw_sock = getattr(getattr(rfile, "raw", None), "_sock", None)
    if raw_sock is not None:
        with contextlib.suppress(OSError):
            raw_sock.shutdown(socket.SHUT_RDWR)
    raise BrokenPipeError(errno.EPIPE, "the WebSocket is over")


def screen_messages(cls: type) -> type:
    """A subclass of python-engineio's WebSocket class *cls* (simple-websocket's
    wrapper) whose ``wait`` closes the connection, with one log line, on a
    message that is not an Engine.IO packet a client sends
    (:func:`~.frames.engineio_problem`); python-engineio would log a traceback
    for each."""
    if getattr(cls, "_chatroom_screened", False):
        return cls

    class Screened(cls):  # type: ignore[misc]
        _chatroom_screened = True

        def wait(self) -> Any:
            message = super().wait()
            if message is None:
                return None
            problem = engineio_problem(message)
            if problem is None:
                return message
            log.info("chat: closing a WebSocket: %s", problem)
            ws = getattr(self, "ws", None)  # simple-websocket's Server
            with contextlib.suppress(Exception):
                if ws is not None:
                    ws.close(POLICY_VIOLATION, "malformed Engine.IO packet")
                else:
                    self.close()
            return None  # python-engineio closes the connection

        def close(self) -> None:
            # python-engineio's writer closes the connection too, and may find
            # the close above half done (simple-websocket yields while sending).
            with contextlib.suppress(Exception):
                super().close()

    Screened.__name__ = Screened.__qualname__ = f"Screened{cls.__name__}"
    return Screened


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
