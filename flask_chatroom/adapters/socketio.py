"""The Socket.IO side of the chat: one ``Namespace`` with a thin method per event.

Every handler takes the connection's ``sid`` and returns its acknowledgement. A
refusal (:class:`ChatError`) or an unexpected failure becomes an error ack plus a
``chat error`` event to the sender only, is logged once, and never reaches other
users.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, NoReturn, TypeVar

from flask import Flask, current_app, request
from flask_socketio import Namespace
from socketio import PubSubManager
from socketio import packet as sio_packet
from socketio.exceptions import ConnectionRefusedError

from ..core.runtime import Realtime
from ..protocol import (
    EVENT_BLOCK,
    EVENT_BLOCKS,
    EVENT_CHANGES,
    EVENT_CREATE_ROOM,
    EVENT_DELETE,
    EVENT_DM,
    EVENT_EDIT,
    EVENT_EDIT_HISTORY,
    EVENT_ERROR,
    EVENT_HISTORY,
    EVENT_JOIN,
    EVENT_LEAVE,
    EVENT_MUTE,
    EVENT_NICKNAME,
    EVENT_REACT,
    EVENT_READ,
    EVENT_ROOMS,
    EVENT_SEARCH,
    EVENT_SEND,
    EVENT_TYPING,
    EVENT_UNBLOCK,
    ChatError,
    edit_wire,
    error_ack,
    json_nesting_exceeds,
    parse_auth_changes,
    parse_auth_since,
    parse_auth_token,
    parse_changes,
    parse_create_room,
    parse_dm,
    parse_edit,
    parse_history,
    parse_join,
    parse_message_id,
    parse_mute,
    parse_nickname,
    parse_react,
    parse_read,
    parse_room,
    parse_search,
    parse_send,
    parse_typing,
    parse_user,
    search_wire,
)
from ..service import MAX_HISTORY_PAGE, ChatService, get_service

log = logging.getLogger("flask_chatroom")

T = TypeVar("T")

#: Client events and the methods that handle them.
EVENTS: dict[str, str] = {
    EVENT_SEND: "on_message_broadcast",
    EVENT_JOIN: "on_join",
    EVENT_LEAVE: "on_leave",
    EVENT_ROOMS: "on_rooms",
    EVENT_TYPING: "on_typing",
    EVENT_NICKNAME: "on_nickname",
    EVENT_HISTORY: "on_history",
    EVENT_DELETE: "on_delete_message",
    EVENT_MUTE: "on_mute",
    EVENT_DM: "on_dm",
    EVENT_READ: "on_read",
    EVENT_BLOCK: "on_block",
    EVENT_UNBLOCK: "on_unblock",
    EVENT_BLOCKS: "on_blocks",
    EVENT_CREATE_ROOM: "on_create_room",
    EVENT_EDIT: "on_edit_message",
    EVENT_REACT: "on_react",
    EVENT_CHANGES: "on_changes",
    EVENT_EDIT_HISTORY: "on_edit_history",
    EVENT_SEARCH: "on_search",
}

#: Events whose handler asks the host who the user is now (a privileged action
#: re-checks the identity), so they run in a Flask request context of the
#: connection, with its session; every other event needs only the app context.
REQUEST_EVENTS = frozenset({EVENT_DELETE, EVENT_MUTE, EVENT_EDIT, EVENT_EDIT_HISTORY})


def _refuse(error: ChatError) -> NoReturn:
    """Refuse a connection: the client's ``connect_error`` has ``message`` and
    ``data`` ``{"code"}`` (and ``retry_after`` for ``rate_limited``)."""
    data = error.to_wire()
    del data["message"]
    raise ConnectionRefusedError(error.message, data)


class ChatNamespace(Namespace):  # type: ignore[misc]
    """The chat's Socket.IO namespace (``CHATROOM_NAMESPACE``): each handler
    takes the connection's ``sid`` and the payload, calls the service and
    returns the ack.

    It is registered like any Flask-SocketIO namespace, but dispatches its
    events itself (python-socketio's documented ``trigger_event`` override)
    instead of through Flask-SocketIO's per-event machinery: the connect
    handler runs in a full Flask request context built from the connection's
    WSGI environ (the host's identity loader and Flask-Login see the session
    cookie there), while chat events, whose identity was decided at connect,
    run in the app context only, with no request context and no session to
    open and save for each one. :data:`REQUEST_EVENTS`, and events of a
    connection the chat has not registered yet (a host's own ``connect``
    handler on a shared namespace), get the request context too.
    """

    def trigger_event(self, event: Any, *args: Any) -> Any:
        """Route chat events (their names hold spaces) and refuse unknown ones."""
        if event in ("connect", "disconnect") and not self._client_sent(event, args):
            if event == "connect":
                return self._connect(*args)
            return self._disconnect(args[0])
        method = EVENTS.get(event) if isinstance(event, str) else None
        if method is None:
            return self._unknown_event(event, args[0] if args else None)
        sid = args[0]
        app = self._app_of(sid)
        service = get_service(app)
        handler = getattr(self, method)
        if (
            event in REQUEST_EVENTS
            or not service.ready
            or service.connections.identity_of(sid) is None
        ):
            with self._request_context(app, sid, event, args[1:]):
                return self._answer(service, event, handler, sid, args[1:])
        with app.app_context():
            return self._answer(service, event, handler, sid, args[1:])

    def _answer(
        self,
        service: ChatService,
        event: str,
        handler: Callable[..., Any],
        sid: str,
        args: tuple[Any, ...],
    ) -> Any:
        """Run *handler*: its ack, or an error ack plus ``chat error`` to the
        sender for a refusal (:class:`ChatError`) or a failure, logged once."""
        try:
            service.admit(sid)
            return handler(sid, *args)
        except ChatError as exc:
            log.info("chat: refused %r from sid %s: %s", event, sid, exc.code)
            return self._reply_error(sid, exc)
        except Exception:
            log.exception("chat: handler for %r failed", event)
            failure = "The server could not handle that request."
            return self._reply_error(sid, ChatError("internal_error", failure))

    def _reply_error(self, sid: str, error: ChatError) -> dict[str, Any]:
        self.server.emit(EVENT_ERROR, error.to_wire(), to=sid, namespace=self.namespace)
        return error_ack(error)

    def _app_of(self, sid: str | None) -> Flask:
        """The app whose connection *sid* is (Flask-SocketIO keeps it in the
        connection's environ)."""
        environ = (
            self.server.get_environ(sid, namespace=self.namespace) if sid else None
        )
        app = environ.get("flask.app") if environ else None
        if app is None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
        return app  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def _request_context(
        self, app: Flask, sid: str, event: str, args: tuple[Any, ...]
    ) -> Iterator[None]:
        """A Flask request context of connection *sid*, with ``request.sid``,
        ``request.namespace`` and ``request.event`` set as Flask-SocketIO sets
        them."""
        environ = self.server.get_environ(sid, namespace=self.namespace) or {}
        with app.request_context(environ):
            request.sid = sid  # type: ignore[attr-defined]
            request.namespace = self.namespace  # type: ignore[attr-defined]
            request.event = {"message": event, "args": args}  # type: ignore[attr-defined]
            yield

    def _client_sent(self, event: str, args: tuple[Any, ...]) -> bool:
        """Whether a ``connect`` / ``disconnect`` is an event a client emitted by
        that name (python-socketio dispatches those too) rather than the real
        thing. A real connect carries the connection's WSGI environ; a real
        disconnect runs once the connection is no longer counted as connected."""
        sid = args[0] if args else None
        if event == "connect":
            environ = self.server.get_environ(sid, namespace=self.namespace)
            return not (len(args) >= 2 and environ is not None and args[1] is environ)
        return bool(self.server.manager.is_connected(sid, self.namespace))

    def _unknown_event(self, event: Any, sid: str | None) -> dict[str, Any]:
        log.info("chat: unknown event %.80r from sid %s", event, sid)
        error = ChatError("unknown_event", "The chat does not know that event.")
        if sid is None:
            return error_ack(error)
        app = self._app_of(sid)
        service = get_service(app)
        if service.ready and service.connections.identity_of(sid) is not None:
            with app.app_context():
                try:
                    service.admit(sid)  # an unknown event is an event too
                except ChatError as refused:
                    error = refused
        return self._reply_error(sid, error)

    # -- connection lifecycle ---------------------------------------------------

    def _connect(self, sid: str, environ: Any, auth: Any = None) -> None:
        app = environ["flask.app"]
        with self._request_context(app, sid, "connect", (auth,)):
            self.on_connect(sid, auth)

    def _disconnect(self, sid: str) -> None:
        app = self._app_of(sid)
        with app.app_context():
            self.on_disconnect(sid)

    def on_connect(self, sid: str, auth: Any = None) -> None:
        """A client connected: the service decides who it is and puts it in the
        default room.

        ``auth`` may carry ``{"since": {room: seq}}``: a reconnecting client's
        last seen ``seq`` of the default room, so it gets only what it missed;
        and ``{"guest_token"}``: the token its last ``welcome`` gave a guest, to
        stay that guest. A refused connection gets ``connect_error`` with a
        message for people and ``data`` ``{"code"}`` (``login_required``,
        ``rate_limited`` with ``retry_after``, ``too_many_connections``,
        ``internal_error``).
        """
        service = get_service()
        room = service.config.default_room
        since = parse_auth_since(auth, room)
        changes_since = parse_auth_changes(auth, room)
        try:
            service.connect(sid, since, parse_auth_token(auth), changes_since)
        except ChatError as exc:
            _refuse(exc)

    def on_disconnect(self, sid: str) -> None:
        """A client went away: it leaves its rooms, and the rooms are told."""
        service = get_service()
        if service.ready:
            service.disconnect(sid)

    # -- events -------------------------------------------------------------------

    def on_message_broadcast(
        self, sid: str, payload: Any = None, *_: Any
    ) -> dict[str, Any]:
        """``message broadcast``: post a message to a room the sender is in."""
        service = get_service()
        request = parse_send(payload, service.config.max_message_length)
        return service.post(sid, request).ack()

    def on_join(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``join`` ``{"room", "since"?, "changes_since"?}``: enter a room and
        get its history (or what was missed)."""
        room, since, changes_since = parse_join(payload)
        get_service().join(sid, room, since, changes_since)
        return {"ok": True, "room": room}

    def on_history(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``history`` ``{"room", "before"|"after", "limit"}``: a page of messages."""
        service = get_service()
        request = parse_history(
            payload, max(MAX_HISTORY_PAGE, service.config.history_limit)
        )
        user = service.user_of(sid)
        messages, more = service.history(user, request, sid)
        return {
            "ok": True,
            "room": request.room,
            "messages": [m.to_wire(user.id) for m in messages],
            "has_more": more,
        }

    def on_leave(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``leave`` ``{"room"}``: leave a room the connection is in."""
        room = parse_room(payload)
        get_service().leave(sid, room)
        return {"ok": True, "room": room}

    def on_rooms(self, sid: str, *_: Any) -> dict[str, Any]:
        """``rooms``: the rooms and how many users each has."""
        service = get_service()
        return {"ok": True, "rooms": service.room_list(service.user_of(sid))}

    def on_typing(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``typing`` ``{"room", "typing"}``: tell the other members."""
        service = get_service()
        room, typing = parse_typing(payload, service.config.default_room)
        service.typing(sid, room, typing)
        return {"ok": True}

    def on_nickname(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``nickname`` ``{"name"}``: a guest picks the name others see."""
        renamed = get_service().rename(sid, parse_nickname(payload))
        return {"ok": True, "name": renamed.name}

    def on_delete_message(
        self, sid: str, payload: Any = None, *_: Any
    ) -> dict[str, Any]:
        """``delete message`` ``{"id"}``: a moderator, or the author within
        ``CHATROOM_EDIT_WINDOW``, removes a message."""
        deleted = get_service().delete(sid, parse_message_id(payload))
        return {"ok": True, "id": deleted.id}

    def on_edit_message(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``edit message`` ``{"id", "message"}``: replace a message's text."""
        service = get_service()
        message_id, text = parse_edit(payload, service.config.max_message_length)
        edited = service.edit(sid, message_id, text)
        return {
            "ok": True,
            "id": edited.id,
            "edited_ts": edited.edited_ts,
            "change_seq": edited.change_seq,
        }

    def on_react(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``react`` ``{"id", "emoji", "on"}``: add or remove a reaction."""
        message_id, emoji, on = parse_react(payload)
        service = get_service()
        reactions, change = service.react(sid, message_id, emoji, on)
        me = service.user_of(sid).id
        answer: dict[str, Any] = {
            "ok": True,
            "id": message_id,
            "reactions": [r.to_wire(me) for r in reactions],
        }
        if change is not None:
            answer["change_seq"] = change.change_seq
        return answer

    def on_changes(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``changes`` ``{"room", "since"}``: a room's changes after a
        ``change_seq``."""
        room, since = parse_changes(payload)
        changes, last, more = get_service().changes(sid, room, since)
        return {
            "ok": True,
            "room": room,
            "changes": changes,
            "change_seq": last,
            "has_more": more,
        }

    def on_search(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``search`` ``{"query", "room"?, "before"?, "limit"?}``: messages the
        user may read that match, newest first, with where they matched."""
        request = parse_search(payload)
        service = get_service()
        user = service.user_of(sid)
        results, cursor = service.search(user, request, sid)
        return {
            "ok": True,
            "results": [search_wire(m, ranges, user.id) for m, ranges in results],
            "next": cursor,
        }

    def on_edit_history(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``edit history`` ``{"id"}``: a message's earlier texts (moderators)."""
        message_id = parse_message_id(payload)
        edits = get_service().edit_history(sid, message_id)
        return {"ok": True, "id": message_id, "edits": [edit_wire(e) for e in edits]}

    def on_mute(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``mute`` ``{"room", "user_id", "seconds"}``: a moderator mutes a user in
        a room (``seconds: 0`` lifts it)."""
        room, user_id, seconds = parse_mute(payload)
        until = get_service().mute(sid, room, user_id, seconds)
        return {"ok": True, "room": room, "user_id": user_id, "until": until}

    def on_dm(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``dm`` ``{"user_id"}`` or ``{"user_ids"}``: open a direct conversation."""
        service = get_service()
        user_ids = parse_dm(payload, service.config.dm_max_members)
        return {"ok": True, "room": service.dm(sid, user_ids)}

    def on_create_room(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``create room`` ``{"room", "title"?, "private"?}``: make a room and
        join it (when the host's ``can_create_room`` allows)."""
        room, title, private = parse_create_room(payload)
        return {
            "ok": True,
            "room": get_service().create_room(sid, room, title, private),
        }

    def on_read(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``read`` ``{"room", "seq"}``: move the user's read marker forward."""
        room, seq = parse_read(payload)
        return {"ok": True, **get_service().read(sid, room, seq)}

    def on_block(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``block`` ``{"user_id"}``: a signed-in user blocks another."""
        user_id = parse_user(payload)
        blocked = get_service().block(sid, user_id)
        return {"ok": True, "user_id": user_id, "blocked": blocked}

    def on_unblock(self, sid: str, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``unblock`` ``{"user_id"}``: a signed-in user unblocks another."""
        user_id = parse_user(payload)
        blocked = get_service().block(sid, user_id, blocked=False)
        return {"ok": True, "user_id": user_id, "blocked": blocked}

    def on_blocks(self, sid: str, *_: Any) -> dict[str, Any]:
        """``blocks``: the users a signed-in user blocks."""
        return {"ok": True, "blocked": get_service().blocks(sid)}


class SocketIORealtime(Realtime):
    """:class:`~flask_chatroom.core.runtime.Realtime` over the host's
    ``SocketIO``, on the chat's namespace.

    :param socketio: the host's ``SocketIO`` (its server may be created later).
    :param namespace: ``CHATROOM_NAMESPACE``.
    """

    def __init__(self, socketio: Any, namespace: str) -> None:
        self.socketio = socketio
        self.namespace = namespace

    def emit(self, event: str, data: Any, to: str, skip_sid: str | None = None) -> None:
        self.socketio.emit(
            event, data, to=to, skip_sid=skip_sid, namespace=self.namespace
        )

    def enter_room(self, sid: str, room: str) -> None:
        self.socketio.server.enter_room(sid, room, namespace=self.namespace)

    def leave_room(self, sid: str, room: str) -> None:
        self.socketio.server.leave_room(sid, room, namespace=self.namespace)

    def start_task(self, target: Callable[..., Any], *args: Any) -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        self.socketio.start_background_task(_in_app_context, app, target, *args)

    def sleep(self, seconds: float) -> None:
        self.socketio.sleep(seconds)

    def offload(self, target: Callable[..., T], *args: Any) -> T:
        if self.socketio.server.eio.async_mode != "gevent":
            return target(*args)
        import gevent

        result: T = gevent.get_hub().threadpool.apply(target, args)
        return result

    def is_connected(self, sid: str) -> bool:
        manager = self.socketio.server.manager
        return bool(
            manager.is_connected(sid, self.namespace)
            or sid in manager.pending_connect.get(self.namespace, ())
        )

    def close(self, sid: str) -> None:
        server = self.socketio.server
        eio_sid = server.manager.eio_sid_from_sid(sid, self.namespace)
        if eio_sid is not None and eio_sid in server.eio.sockets:
            server.eio.disconnect(eio_sid)
        else:  # no Engine.IO socket of its own (Flask-SocketIO's test client)
            server.disconnect(sid, namespace=self.namespace)

    def connection_of(self, sid: str) -> str | None:
        eio_sid: str | None = self.socketio.server.manager.eio_sid_from_sid(
            sid, self.namespace
        )
        return eio_sid

    def disconnect(self, sid: str) -> None:
        self.socketio.server.disconnect(sid, namespace=self.namespace)

    @property
    def shared(self) -> bool:
        return isinstance(self.socketio.server.manager, PubSubManager)


def _in_app_context(app: Flask, target: Callable[..., Any], *args: Any) -> None:
    with app.app_context():
        target(*args)


# -- packets the chat refuses before python-socketio acts on them ----------------------

#: The most binary attachments one packet may announce on a namespace other than
#: the chat's (the chat's own takes none). python-socketio keeps every binary
#: frame that follows until that many have come.
MAX_ATTACHMENTS = 10


class RefusedPacket(ValueError):
    """A client's Socket.IO packet the chat will not act on.

    :param reason: what is wrong, for the log.
    :param close: close the connection at once (binary data where none may be)
        rather than answer and count a strike.
    """

    def __init__(self, reason: str, close: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close = close


class _DepthCheckedJSON:
    """The JSON module of :class:`ChatPacket`: python-socketio's own (``json``
    option included), with the nesting checked before anything is decoded."""

    @staticmethod
    def loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(text, str) and json_nesting_exceeds(text):
            raise RefusedPacket("JSON nested too deep")
        return sio_packet.Packet.json.loads(text, *args, **kwargs)

    @staticmethod
    def dumps(data: Any, *args: Any, **kwargs: Any) -> Any:
        return sio_packet.Packet.json.dumps(data, *args, **kwargs)


class ChatPacket(sio_packet.Packet):  # type: ignore[misc]
    """python-socketio's packet with the checks a client's packet must pass,
    set as the server's ``packet_class`` (python-socketio's documented
    ``serializer`` option takes such a subclass). Encoding is unchanged.

    A packet is refused (:class:`RefusedPacket`) when it does not decode, nests
    JSON deeper than :data:`~flask_chatroom.protocol.MAX_JSON_DEPTH`, is of a
    type clients do not send, is an event without a name, or carries binary
    data: none on the chat's namespace, at most :data:`MAX_ATTACHMENTS` and
    :attr:`max_attachment_bytes` in all elsewhere.
    """

    json = _DepthCheckedJSON
    #: the chat's namespace (set per server by :func:`guard_packets`)
    chat_namespace: ClassVar[str] = "/chat"
    #: the most bytes of binary attachments one packet may have
    max_attachment_bytes: ClassVar[int | None] = None

    def decode(self, encoded_packet: Any) -> int:
        if not isinstance(encoded_packet, str):
            raise RefusedPacket("binary data outside a binary packet", close=True)
        try:
            count: int = super().decode(encoded_packet) or 0
        except RefusedPacket:
            raise
        except (ValueError, TypeError, IndexError, RecursionError) as exc:
            raise RefusedPacket("not a Socket.IO packet") from exc
        kind = self.packet_type
        if kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK) or count:
            if (self.namespace or "/") == self.chat_namespace:
                raise RefusedPacket("binary data on the chat", close=True)
            if not 0 < count <= MAX_ATTACHMENTS:
                raise RefusedPacket(f"{count} binary attachments", close=True)
        elif kind not in (
            sio_packet.CONNECT,
            sio_packet.DISCONNECT,
            sio_packet.EVENT,
            sio_packet.ACK,
        ):
            raise RefusedPacket("a packet type clients do not send")
        if kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT) and not (
            isinstance(self.data, list) and self.data
        ):
            raise RefusedPacket("an event without a name")
        if kind in (sio_packet.ACK, sio_packet.BINARY_ACK) and not isinstance(
            self.data, list
        ):
            raise RefusedPacket("an acknowledgement without arguments")
        return count

    def add_attachment(self, attachment: Any) -> bool:
        size = len(attachment) + sum(len(a) for a in self.attachments)
        limit = self.max_attachment_bytes
        if limit is not None and size > limit:
            raise RefusedPacket("binary attachments too large", close=True)
        try:
            done: bool = super().add_attachment(attachment)
        except (ValueError, TypeError, IndexError, KeyError, RecursionError) as exc:
            raise RefusedPacket("bad binary attachments", close=True) from exc
        return done


def guard_packets(app: Flask, socketio: Any, namespace: str) -> bool:
    """Check every client packet of *socketio*'s server with :class:`ChatPacket`
    and answer a refused one instead of python-engineio logging a traceback.

    A refused packet from a connection on the chat gets ``chat error``
    ``invalid_payload`` and counts as a strike (the rate limiter's bucket,
    ``CHATROOM_RATE_LIMIT_DISCONNECT``); binary data on the chat, and any
    refused packet from a connection that is not on the chat, close the
    connection. Each connection's first refusal is logged, as one line.

    :returns: whether the guard is in place: not when the host chose another
        serializer than python-socketio's JSON packets.
    """
    server = socketio.server
    current = server.packet_class
    if not (current is sio_packet.Packet or issubclass(current, ChatPacket)):
        log.warning(
            "flask-chatroom: the Socket.IO server uses the serializer %s, so the "
            "chat does not check client packets (depth, binary attachments).",
            current.__name__,
        )
        return False
    server.packet_class = type(
        "ChatPacket",
        (ChatPacket,),
        {
            "chat_namespace": namespace,
            "max_attachment_bytes": server.eio.max_http_buffer_size,
        },
    )
    # python-socketio's handler of Engine.IO messages (where packets are
    # decoded), wrapped: the one seam here (fastpath.SEAMS lists it).
    eio = server.eio
    handle = eio.handlers.get("message")
    if handle is None or getattr(handle, "_chatroom_guard", False):
        return handle is not None
    logged: weakref.WeakSet[Any] = weakref.WeakSet()

    def guarded(eio_sid: str, data: Any) -> Any:
        try:
            return handle(eio_sid, data)
        except RefusedPacket as refused:
            _refuse_packet(app, socketio, namespace, eio_sid, refused, logged)
            return None

    guarded._chatroom_guard = True  # type: ignore[attr-defined]
    eio.on("message", guarded)
    return True


def _refuse_packet(
    app: Flask,
    socketio: Any,
    namespace: str,
    eio_sid: str,
    refused: RefusedPacket,
    logged: weakref.WeakSet[Any],
) -> None:
    server = socketio.server
    eio_socket = server.eio.sockets.get(eio_sid)
    if eio_socket is None or eio_socket.closing or eio_socket.closed:
        return  # already on its way out
    sid = server.manager.sid_from_eio_sid(eio_sid, namespace)
    on_chat = sid is not None and server.manager.is_connected(sid, namespace)
    if eio_socket not in logged:
        logged.add(eio_socket)
        log.info(
            "chat: refused a packet from %s %s: %s (further ones from this "
            "connection are not logged)",
            "sid" if on_chat else "Engine.IO sid",
            sid if on_chat else eio_sid,
            refused.reason,
        )
    if on_chat:
        error = ChatError("invalid_payload", "The server could not read that packet.")
        socketio.emit(EVENT_ERROR, error.to_wire(), to=sid, namespace=namespace)
        service = get_service(app)
        if not refused.close and service.ready:
            service.moderation.strike(sid, "malformed packets")
            return
    server.eio.disconnect(eio_sid)
