"""flask-chatroom's WebSocket connection for gevent: broadcasts framed once and
written straight to each socket.

Under gevent, python-engineio serves a WebSocket with simple-websocket: a reader
greenlet per connection, Engine.IO's per-socket packet queue and writer greenlet,
a greenlet sleeping out each ping interval, and for every recipient of a
broadcast a queue hand-over, a greenlet switch and a frame built again in pure
Python. :class:`GeventWebSocket` takes simple-websocket's place (Engine.IO's
``websocket`` class for the gevent async mode) and changes what a delivery
costs:

- **Frames built once.** python-socketio encodes a broadcast once; the client
  manager (:class:`DirectEmit`) builds its WebSocket frame once too and writes
  the same bytes to every member's socket.
- **Written where they are sent.** The Engine.IO socket's queue is replaced by
  :class:`DirectQueue`, which writes each packet to the socket at once, in the
  order it was sent, with one non-blocking ``send``. What the kernel does not take
  (a slow reader) waits in a per-connection buffer that a short-lived greenlet
  flushes; a connection more than :data:`MAX_PENDING_BYTES` behind is closed
  rather than buffered without bound. One slow client never holds up the others.
- **One greenlet per connection.** Frames are read and parsed (with wsproto) in
  the request's own greenlet, which also runs Engine.IO's loop for the
  connection; pings are sent by timers of gevent's loop (:class:`PingTimers`).
  The handshake is answered from the headers the WSGI server already parsed.

Direct writes are for WebSocket connections that start on the WebSocket
transport (``transports: ["websocket"]``, as the widget connects). A connection
that upgrades from long-polling is read and framed here too but keeps
Engine.IO's queue and writer greenlet (its last long-poll request may still be
waiting on that queue). A server running gevent-websocket, and
``CHATROOM_WEBSOCKET_COMPRESSION`` (permessage-deflate), keep simple-websocket;
``CHATROOM_FAST_WEBSOCKET = False`` turns this module off.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import socket
import struct
import time
from typing import Any, ClassVar

import gevent
import gevent.queue
import socketio
from engineio import exceptions as engineio_exceptions
from engineio import packet as engineio_packet
from socketio import packet as socketio_packet
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from ..protocol import SharedPayload
from .frames import POLICY_VIOLATION, FrameGuard, engineio_problem
from .middleware import DIRECT_SOCKET, no_delay

log = logging.getLogger("flask_chatroom")

#: How far (in bytes) a connection may fall behind before it is closed.
MAX_PENDING_BYTES = 4 * 1024 * 1024
#: How much one read takes from the socket.
RECEIVE_BYTES = 65536
#: How long, and how many bytes, a connection closed for breaking a rule is
#: still read (and the bytes dropped) so that its close frame reaches it.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024

_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_FRAME_ATTRIBUTE = "_chatroom_ws_frame"
_SHORT = struct.Struct("!BB")  # FIN + opcode, length < 126
_MEDIUM = struct.Struct("!BBH")  # ..., 126, 16-bit length
_LONG = struct.Struct("!BBQ")  # ..., 127, 64-bit length


def frame(data: str | bytes) -> bytes:
    """One unfragmented, unmasked server frame: text for ``str``, binary for
    ``bytes`` (RFC 6455, section 5.2: FIN and the opcode, then the length in 7,
    7+16 or 7+64 bits; a server does not mask). wsproto builds the same bytes
    (tests/test_websocket.py compares) at ten times the cost, and every
    delivery and acknowledgement is one frame."""
    if isinstance(data, str):
        payload, first = data.encode(), 0x81
    else:
        payload, first = data, 0x82
    size = len(payload)
    if size < 126:
        return _SHORT.pack(first, size) + payload
    if size < 65536:
        return _MEDIUM.pack(first, 126, size) + payload
    return _LONG.pack(first, 127, size) + payload


def packet_frame(pkt: Any) -> bytes:
    """The WebSocket frame of an Engine.IO packet, built once per packet object
    (python-socketio hands one packet to every recipient of a broadcast)."""
    cached: bytes | None = getattr(pkt, _FRAME_ATTRIBUTE, None)
    if cached is None:
        cached = frame(pkt.encode())
        with contextlib.suppress(AttributeError):
            setattr(pkt, _FRAME_ATTRIBUTE, cached)
    return cached


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` answer to a ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(key.encode("ascii") + _ACCEPT_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def environ_socket(environ: dict[str, Any]) -> tuple[Any, str] | None:
    """The client's socket in a gevent WSGI environ and the server kind
    (``"gunicorn"`` for gunicorn's gevent worker, ``"gevent"`` for gevent's WSGI
    server), or ``None`` when it cannot be found."""
    sock = environ.get(DIRECT_SOCKET, environ.get("gunicorn.socket"))
    kind = "gunicorn"
    if sock is None and environ.get("SERVER_SOFTWARE", "").startswith("gevent"):
        wsgi_input: Any = environ.get("wsgi.input")
        if not hasattr(wsgi_input, "raw") and hasattr(wsgi_input, "rfile"):
            wsgi_input = wsgi_input.rfile
        sock = getattr(getattr(wsgi_input, "raw", None), "_sock", None)
        kind = "gevent"
    if sock is None:
        return None
    # The transport middleware's wrapper is for simple-websocket; writes here
    # are whole and ordered by construction.
    sock = getattr(sock, "unwrapped", sock)
    if not hasattr(sock, "_sock"):  # not a gevent socket
        return None
    return sock, kind


class DirectQueue:
    """Stands in for an Engine.IO socket's packet queue: a packet put here is
    written to the WebSocket at once, in the caller's greenlet. The
    end-of-connection marker (``None``, put when Engine.IO closes the socket)
    closes the WebSocket, as Engine.IO's writer does when it reads it."""

    def __init__(self, ws: GeventWebSocket, previous: Any) -> None:
        self.ws = ws
        # What Engine.IO queued before the handshake (its "open" packet).
        while not previous.empty():
            self.put(previous.get_nowait())

    def put(self, pkt: Any, *args: Any, **kwargs: Any) -> None:
        if pkt is None:
            self.ws.close()
        else:
            self.ws.write(packet_frame(pkt))

    def get(self, block: bool = True, timeout: float | None = None) -> None:
        raise gevent.queue.Empty

    def get_nowait(self) -> None:
        raise gevent.queue.Empty

    def task_done(self) -> None:
        pass

    def join(self) -> None:
        pass

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0


class GeventWebSocket:
    """A WebSocket connection for python-engineio's gevent mode.

    Engine.IO creates one per WebSocket request (``cls(handler, server)``) and
    calls it as a WSGI app; it answers the handshake, then runs *handler* (the
    Engine.IO socket's WebSocket loop), which reads with :meth:`wait` and writes
    with :meth:`send`.
    """

    #: the class to hand requests this one cannot serve (simple-websocket's)
    fallback: ClassVar[Any] = None
    #: the open connections that Engine.IO's queue bypasses, by Engine.IO sid
    registry: ClassVar[dict[str, GeventWebSocket]] = {}

    __slots__ = (
        "_raw",
        "_sock",
        "app",
        "closed",
        "conn",
        "failed",
        "guard",
        "incoming",
        "partial",
        "pending",
        "pending_size",
        "server",
    )

    def __init__(self, handler: Any, server: Any) -> None:
        self.app = handler
        self.server = server
        self._sock: Any = None  # Engine.IO sets its ping timeout on this
        self._raw: Any = None
        self.conn = Connection(ConnectionType.SERVER)
        self.incoming: list[str | bytes] = []
        self.partial: list[str | bytes] = []
        # Counts each message's bytes and frames as they are read.
        self.guard = FrameGuard(server.max_http_buffer_size)
        self.pending: list[bytes] | None = None
        self.pending_size = 0
        self.closed = False
        # The server closed the connection on a client breaking a rule (which
        # may still be sending): see _linger.
        self.failed = False

    # -- WSGI: the handshake --------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        found = environ_socket(environ)
        if found is None or "wsgi.websocket" in environ:
            return self._fall_back(environ, start_response)
        sock, kind = found
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        if environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13" or len(key) != 24:
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/plain"), ("Sec-WebSocket-Version", "13")],
            )
            return [b"Bad WebSocket handshake"]
        self._sock = sock
        self._raw = sock._sock  # the non-blocking OS socket under gevent's
        no_delay(sock)
        response = (
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
        ).encode("ascii")
        try:
            sock.sendall(response)
        except OSError:
            return []
        engineio_socket = getattr(self.app, "__self__", None)
        try:
            if engineio_socket is None or engineio_socket.connected:
                # An upgrade from long-polling: Engine.IO's own loop, with its
                # queue and writer (a long-poll request may still be waiting
                # on that queue).
                self.app(self)
            else:
                self._serve(engineio_socket)
        finally:
            self.close()
            if self.failed:
                self._linger(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if kind == "gunicorn":
            # gunicorn's async worker: the connection is done, write no response.
            raise StopIteration
        return []

    def _serve(self, eio_socket: Any) -> None:
        """Engine.IO's WebSocket loop (``Socket._websocket_handler``) for a
        connection that starts on the WebSocket, with packets written as they
        are sent (:class:`DirectQueue`) instead of by a writer greenlet."""
        server = self.server
        eio_socket.queue = DirectQueue(self, eio_socket.queue)
        eio_socket.connected = eio_socket.upgraded = True
        self.registry[eio_socket.sid] = self
        self._sock.settimeout(server.ping_interval + server.ping_timeout)
        try:
            while True:
                data = self.wait()
                if data is None:
                    break
                try:
                    eio_socket.receive(engineio_packet.Packet(encoded_packet=data))
                except engineio_exceptions.UnknownPacketError:
                    pass
                except engineio_exceptions.SocketIsClosedError:
                    break
                except Exception:
                    server.logger.exception("Unknown receive error")
                    break
        finally:
            self.registry.pop(eio_socket.sid, None)
            eio_socket.close(
                wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE
            )

    def _fall_back(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.fallback is None:
            raise RuntimeError("no WebSocket class to fall back on")
        if DIRECT_SOCKET in environ:
            environ["gunicorn.socket"] = environ.pop(DIRECT_SOCKET)
        return self.fallback(self.app, self.server)(environ, start_response)

    # -- Engine.IO's interface -------------------------------------------------

    def wait(self) -> str | bytes | None:
        """The next message from the client, or ``None`` once the connection is
        closed."""
        while not self.incoming:
            if self.closed:
                return None
            try:
                data = self._sock.recv(RECEIVE_BYTES)
            except OSError:  # includes the ping timeout Engine.IO set
                data = b""
            if not data:
                self.closed = True
                return None
            # A busy socket always has data: let other greenlets run, so one
            # client flooding its WebSocket cannot stall the worker.
            gevent.sleep(0)
            problem = self.guard.feed(data)
            if problem is not None:
                self._fail(*problem)
                return None
            self._receive(data)
        message = self.incoming.pop(0)
        problem_text = engineio_problem(message)
        if problem_text is not None:
            # python-engineio would log a traceback for it.
            self._fail(POLICY_VIOLATION, "malformed Engine.IO packet", problem_text)
            return None
        return message

    def send(self, message: str | bytes) -> None:
        """Send one message (Engine.IO's writer uses this on upgraded
        connections)."""
        if self.closed:
            raise OSError("the WebSocket is closed")
        self.write(frame(message))

    def close(self) -> None:
        """Send a close frame (once) and stop reading."""
        if self.conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self.write(self.conn.send(CloseConnection(code=CloseReason.NORMAL_CLOSURE)))
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RD)  # wakes the reading greenlet

    # -- reading -----------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        # The guard has checked each message's size (in bytes) and number of
        # frames before these bytes get here.
        self.conn.receive_data(data)
        for event in self.conn.events():
            if isinstance(event, Message):
                self.partial.append(event.data)
                if event.message_finished:
                    joiner: Any = b"" if isinstance(event, BytesMessage) else ""
                    self.incoming.append(joiner.join(self.partial))
                    self.partial = []
            elif isinstance(event, Ping):
                self.write(self.conn.send(event.response()))
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(LocalProtocolError):
                    self.write(self.conn.send(event.response()))
                self.closed = True
                return

    def _fail(self, code: int, reason: str, detail: str | None = None) -> None:
        """Close the connection for breaking a rule: one log line, and a close
        frame with *code* and *reason*."""
        log.info("chat: closing a WebSocket: %s", detail or reason)
        with contextlib.suppress(LocalProtocolError):
            self.write(self.conn.send(CloseConnection(code=code, reason=reason)))
        self.closed = True
        self.failed = True

    def _linger(self, sock: Any) -> None:
        """After closing on a client that broke a rule: end our side (FIN after
        the close frame) and read what the client still sends, for at most
        :data:`LINGER_SECONDS` and :data:`LINGER_BYTES`. Closing a socket with
        unread data resets the connection, and the client's system throws away
        what it had not read yet: the close frame with its reason, when the
        client was still writing the frame that broke the rule."""
        deadline = time.monotonic() + LINGER_SECONDS
        left = LINGER_BYTES
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                data = sock.recv(RECEIVE_BYTES)
                if not data:
                    break
                left -= len(data)

    # -- writing -----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write *data* now if the socket takes it; keep the rest in order for
        the flusher. Never blocks the caller."""
        if self._raw is None:
            return
        if self.pending is not None:  # a flush is under way: queue behind it
            self.pending.append(data)
            self.pending_size += len(data)
            if self.pending_size > MAX_PENDING_BYTES:
                self._abort("the client fell more than 4 MiB behind")
            return
        try:
            sent = self._raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._abort(None)
            return
        if sent < len(data):
            self.pending = [data[sent:]]
            self.pending_size = len(data) - sent
            gevent.spawn(self._flush)

    def _flush(self) -> None:
        try:
            while self.pending:
                data = b"".join(self.pending)
                self.pending, self.pending_size = [], 0
                self._sock.sendall(data)  # waits; honours the socket timeout
        except OSError:
            self._abort(None)
        finally:
            self.pending = None

    def _abort(self, reason: str | None) -> None:
        """Drop the connection: the reading greenlet sees it end, and Engine.IO
        runs its disconnect as for any lost client."""
        if reason:
            log.warning("chat: closing a WebSocket: %s", reason)
        self.pending = None
        self._raw = None
        self.closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


class DirectEmit(socketio.Manager):  # type: ignore[misc]
    """python-socketio's in-process fan-out, writing one pre-built frame to each
    recipient on a :class:`GeventWebSocket` (others get the packet the usual
    way). Put in place by :func:`install`, under the app's own manager class
    (so with a message queue it is the local delivery of what the queue
    brings)."""

    _chatroom_connections: dict[str, GeventWebSocket]
    _chatroom_rooms_of: dict[tuple[str, str], set[Any]]

    def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        connections = self._chatroom_connections
        if callback is not None or not connections:
            super().emit(event, data, namespace, room, skip_sid, callback, to, **kwargs)
            return
        room = to or room
        if namespace not in self.rooms:
            return
        built = self._encode(event, data, namespace)
        if built is None:  # binary attachments: the usual way
            super().emit(event, data, namespace, room, skip_sid, callback, to, **kwargs)
            return
        eio_pkt, data_frame = built
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        send_packet = self.server._send_eio_packet
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            ws = connections.get(eio_sid)
            if ws is None:
                send_packet(eio_sid, eio_pkt)
            else:
                ws.write(data_frame)

    def _encode(
        self, event: str, data: Any, namespace: str
    ) -> tuple[Any, bytes] | None:
        """The Engine.IO packet and WebSocket frame of an event, or ``None`` when
        it has binary attachments. A :class:`SharedPayload` keeps them."""
        shared = data if isinstance(data, SharedPayload) else None
        if shared is not None:
            kept: dict[tuple[str, str], tuple[Any, bytes]] = shared.__dict__.setdefault(
                "_chatroom_frames", {}
            )
            if (event, namespace) in kept:
                return kept[event, namespace]
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        pkt = self.server.packet_class(
            socketio_packet.EVENT, namespace=namespace, data=[event, *args]
        )
        encoded = pkt.encode()
        if isinstance(encoded, list):
            return None
        eio_pkt = engineio_packet.Packet(engineio_packet.MESSAGE, encoded)
        built = (eio_pkt, packet_frame(eio_pkt))
        if shared is not None:
            kept[event, namespace] = built
        return built

    # python-socketio finds a connection's rooms by looking through every room
    # of the namespace, and every connection has a room of its own: with many
    # connections, each disconnect costs as much as there are connections. An
    # index of each connection's rooms makes it cost as much as its rooms.

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._chatroom_rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._chatroom_rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._chatroom_rooms_of[namespace, sid]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        rooms = self._chatroom_rooms_of.get((namespace, sid))
        if rooms is None:
            super().basic_disconnect(sid, namespace, **kwargs)
            return
        for room in list(rooms):
            self.basic_leave_room(sid, namespace, room)
        # What python-socketio does after leaving the rooms:
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if sid in pending.get(namespace, ()):
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        rooms = self._chatroom_rooms_of.get((namespace, sid), ())
        return [room for room in rooms if room is not None]

    def index_rooms(self) -> None:
        """Build the room index from the rooms as they are."""
        self._chatroom_rooms_of = {}
        for namespace, rooms in self.rooms.items():
            for room, members in rooms.items():
                for sid in members:
                    self._chatroom_rooms_of.setdefault((namespace, sid), set()).add(
                        room
                    )


class PingTimers:
    """Engine.IO's ``start_background_task`` for one server, with each ping
    wait (``Socket._send_ping``: sleep a ping interval, then send a ping) done
    by a timer of gevent's loop instead of a greenlet that sleeps: one less
    greenlet, and its stack, per connection. Other tasks start as before."""

    def __init__(self, eio_server: Any) -> None:
        self.server = eio_server
        self.start_task = eio_server.start_background_task
        self.loop = gevent.get_hub().loop

    def __call__(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        eio_socket: Any = getattr(target, "__self__", None)
        if getattr(target, "__name__", "") != "_send_ping" or args or kwargs:
            return self.start_task(target, *args, **kwargs)
        timer = self.loop.timer(self.server.ping_interval, ref=False)
        timer.start(self._ping, eio_socket)
        eio_socket._chatroom_ping_timer = timer  # keeps it alive
        return timer

    def _ping(self, eio_socket: Any) -> None:
        # Runs in gevent's hub, which must not block: write the ping directly,
        # or leave it to a greenlet on a socket with Engine.IO's own queue.
        # (A client past its ping timeout is closed by Engine.IO's service
        # task, as before.)
        eio_socket._chatroom_ping_timer = None
        if eio_socket.closing or eio_socket.closed:
            return
        if isinstance(eio_socket.queue, DirectQueue):
            eio_socket.last_ping = time.time()
            eio_socket.queue.put(engineio_packet.Packet(engineio_packet.PING))
        else:
            gevent.spawn(_ping_now, eio_socket)


def _ping_now(eio_socket: Any) -> None:
    """``Socket._send_ping`` without its wait."""
    if not eio_socket.closing and not eio_socket.closed:
        eio_socket.last_ping = time.time()
        eio_socket.send(engineio_packet.Packet(engineio_packet.PING))


def _direct_manager_class(cls: type) -> type:
    if issubclass(cls, DirectEmit):
        return cls
    if cls is socketio.Manager:
        return DirectEmit
    return type(f"Direct{cls.__name__}", (cls, DirectEmit), {})


def install(sio_server: Any) -> bool:
    """Serve *sio_server*'s WebSockets (python-socketio over python-engineio in
    gevent mode) with :class:`GeventWebSocket`, and fan broadcasts out with
    :class:`DirectEmit`.

    :returns: whether it is in place (not in other async modes, nor with
        gevent-websocket, which does its own handshake, nor with a client
        manager that is not python-socketio's ``Manager`` or a subclass).
    """
    eio_server = sio_server.eio
    if getattr(eio_server, "async_mode", None) != "gevent":
        return False
    drivers = getattr(eio_server, "_async", None)
    if not isinstance(drivers, dict) or "websocket" not in drivers:
        return False
    if not isinstance(sio_server.manager, socketio.Manager):
        return False
    current = drivers["websocket"]
    if isinstance(current, type) and issubclass(current, GeventWebSocket):
        return True
    connections: dict[str, GeventWebSocket] = {}

    class WebSocket(GeventWebSocket):
        __slots__ = ()
        fallback = current
        registry = connections

    # A copy: the module's dict is shared by every Engine.IO server in the
    # process, and only this one is ours.
    eio_server._async = {**drivers, "websocket": WebSocket}
    eio_server.start_background_task = PingTimers(eio_server)
    manager = sio_server.manager
    manager.__class__ = _direct_manager_class(type(manager))
    manager._chatroom_connections = connections
    manager.index_rooms()
    return True
