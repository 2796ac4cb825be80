"""The Socket.IO side of the chat: one ``Namespace`` with a thin method per event.

Every handler returns its acknowledgement. A refusal (:class:`ChatError`) or an
unexpected failure becomes an error ack plus a ``chat error`` event to the sender
only, is logged once, and never reaches other users.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from flask import request
from flask_socketio import Namespace, emit
from socketio.exceptions import ConnectionRefusedError

from . import signals
from .identity import Identity
from .protocol import (
    EVENT_DELETE,
    EVENT_DELETED,
    EVENT_ERROR,
    EVENT_HISTORY,
    EVENT_JOIN,
    EVENT_LEAVE,
    EVENT_MUTE,
    EVENT_NICKNAME,
    EVENT_ROOMS,
    EVENT_SEND,
    EVENT_TYPING,
    EVENT_WELCOME,
    MAX_SEQ,
    ChatError,
    Message,
    error_ack,
    parse_history,
    parse_join,
    parse_message_id,
    parse_mute,
    parse_nickname,
    parse_room,
    parse_send,
    parse_typing,
)
from .state import MAX_HISTORY_PAGE, ChatState, app_object, get_state

log = logging.getLogger("flask_chatroom")

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
}

# "message_broadcast" (how the handler is reached) -> "message broadcast"
_WIRE_NAMES = {method[len("on_") :]: event for event, method in EVENTS.items()}

#: The role an identity needs to delete messages and mute users.
MODERATOR_ROLE = "moderator"


F = TypeVar("F", bound=Callable[..., Any])


def chat_event(handler: F) -> F:
    """Turn a handler's :class:`ChatError` or failure into an error reply.

    The sender gets ``chat error`` ``{"code", "message"}`` and the error ack; the
    log gets one line (a traceback for failures); nothing internal reaches the
    client.
    """

    @functools.wraps(handler)
    def wrapper(self: ChatNamespace, *args: Any) -> Any:
        try:
            return handler(self, *args)
        except ChatError as exc:
            log.info(
                "chat: refused %r from sid %s: %s", _event_name(), _sid(), exc.code
            )
            return _reply_error(exc)
        except Exception:
            log.exception("chat: handler for %r failed", _event_name())
            return _reply_error(
                ChatError("internal_error", "The server could not handle that request.")
            )

    return wrapper  # type: ignore[return-value]


def _sid() -> str:
    """The Socket.IO session id of the connection being handled."""
    sid: str = request.sid  # type: ignore[attr-defined]  # set by Flask-SocketIO
    return sid


def _event_name() -> Any:
    """The wire name of the event being handled (``message broadcast``)."""
    name = request.event["message"]  # type: ignore[attr-defined]
    return _WIRE_NAMES.get(name, name)


def _reply_error(error: ChatError) -> dict[str, Any]:
    emit(EVENT_ERROR, error.to_wire())
    return error_ack(error)


def _refuse(error: ChatError) -> NoReturn:
    """Refuse a connection: the client's ``connect_error`` has ``message`` and
    ``data`` ``{"code"}``."""
    raise ConnectionRefusedError(error.message, {"code": error.code})


def _since_from_auth(auth: Any, room: str) -> int | None:
    since = auth.get("since") if isinstance(auth, dict) else None
    seq = since.get(room) if isinstance(since, dict) else None
    valid = isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= MAX_SEQ
    return seq if valid else None


class ChatNamespace(Namespace):  # type: ignore[misc]
    """The chat's Socket.IO namespace (``CHATROOM_NAMESPACE``)."""

    def trigger_event(self, event: Any, *args: Any) -> Any:
        """Route chat events (their names hold spaces) and refuse unknown ones."""
        if event in ("connect", "disconnect") and not self._client_sent(event, args):
            return super().trigger_event(event, *args)
        method = EVENTS.get(event) if isinstance(event, str) else None
        if method is None:
            return self._unknown_event(event, args[0] if args else None)
        return super().trigger_event(method[len("on_") :], *args)

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
        if sid is not None:
            self.socketio.emit(
                EVENT_ERROR, error.to_wire(), to=sid, namespace=self.namespace
            )
        return error_ack(error)

    # -- connection lifecycle ---------------------------------------------------

    def on_connect(self, auth: Any = None) -> None:
        """A client connected: decide who it is and put it in the default room.

        ``auth`` may carry ``{"since": {room: seq}}``: a reconnecting client's
        last seen ``seq`` of the default room, so it gets only what it missed.
        A refused connection gets ``connect_error`` with a message for people
        and ``data`` ``{"code"}`` (``login_required``, ``too_many_connections``,
        ``internal_error``).
        """
        state = get_state()
        if not state.setup_finished:  # SocketIO.init_app came after the chat's
            state.extension.finish_setup(app_object())
        try:
            identity = state.identify()
        except Exception:
            log.exception("chat: the identity loader failed; connection refused")
            _refuse(ChatError("internal_error", "The server could not connect you."))
        if identity is None:
            if state.config.require_login:
                log.info("chat: refused an anonymous connection (login required)")
                _refuse(ChatError("login_required", "Please sign in to chat."))
            identity = state.guest()
        try:
            state.connect(_sid(), identity)
        except ChatError as exc:
            log.info("chat: refused a connection of %s: %s", identity.id, exc.code)
            _refuse(exc)
        try:
            self._register(
                state, identity, _since_from_auth(auth, state.config.default_room)
            )
        except Exception:
            # A permission hook or the store failed: refuse rather than leave the
            # client half connected.
            log.exception("chat: could not set up a connection; refused")
            state.disconnect(_sid())
            _refuse(ChatError("internal_error", "The server could not connect you."))

    def on_disconnect(self, reason: Any = None) -> None:
        """A client went away: it leaves its rooms, and the rooms are told."""
        get_state().disconnect(_sid())

    def _register(
        self, state: ChatState, identity: Identity, since: int | None = None
    ) -> Identity:
        sid = _sid()
        if state.identity_of(sid) is None:
            state.connect(sid, identity)
        room = state.config.default_room
        joined = state.extension.may_join(identity, room)
        emit(
            EVENT_WELCOME,
            {
                "id": identity.id,
                "client": identity.name,
                "user_id": identity.user_id,
                "guest": identity.anonymous,
                "room": room if joined else None,
                "moderator": MODERATOR_ROLE in identity.roles,
                "nicknames": identity.anonymous and state.config.allow_nicknames,
            },
        )
        if joined:
            state.join(sid, room, since)
        return identity

    def _identity(self, state: ChatState) -> Identity:
        # A host handler for "connect" on a shared namespace (CHATROOM_NAMESPACE="/")
        # runs instead of ours; such a connection is registered on first use.
        identity = state.identity_of(_sid())
        if identity is not None:
            return identity
        found = state.identify()
        if found is None and state.config.require_login:
            raise ChatError("login_required", "Please sign in to chat.")
        return self._register(state, found or state.guest())

    # -- events -------------------------------------------------------------------

    @chat_event
    def on_message_broadcast(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``message broadcast``: post a message to a room the sender is in."""
        state = get_state()
        identity = self._identity(state)
        req = parse_send(payload, state.config.max_message_length)
        room = req.room or state.config.default_room
        if not state.is_member(_sid(), room):
            raise ChatError(
                "not_in_room", f"Join the room {room!r} before posting to it."
            )
        if not state.extension.may_post(identity, room):
            raise ChatError("forbidden", f"You may not post in {room!r}.")
        state.check_not_muted(room, identity)
        state.check_rate(_sid(), identity, "message")
        message = Message(
            room=room,
            client=identity.name,
            text=req.text,
            user_id=identity.user_id,
            client_id=req.client_id,
            sender_id=identity.id,
        )
        message = state.extension.apply_filters(message, identity)
        stored, _created = state.publish(message)
        return stored.ack()

    @chat_event
    def on_join(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``join`` ``{"room", "since"?}``: enter a room and get its history, or
        the messages after ``since`` (joining again just sends those)."""
        state = get_state()
        identity = self._identity(state)
        room, since = parse_join(payload)
        self._check_may_read(state, identity, room)
        state.check_rate(_sid(), identity, "join")
        rooms = state.presence.rooms_of(_sid())
        if room not in rooms and len(rooms) >= state.config.max_rooms_per_connection:
            raise ChatError("too_many_rooms", "You are in too many rooms; leave one.")
        state.join(_sid(), room, since)
        return {"ok": True, "room": room}

    @staticmethod
    def _check_may_read(state: ChatState, identity: Identity, room: str) -> None:
        if not state.config.room_exists(room):
            raise ChatError("unknown_room", f"There is no room {room!r}.")
        if not state.extension.may_join(identity, room):
            raise ChatError("forbidden", f"You may not join {room!r}.")

    @chat_event
    def on_history(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``history`` ``{"room", "before"|"after", "limit"}``: a page of messages."""
        state = get_state()
        identity = self._identity(state)
        req = parse_history(payload, max(MAX_HISTORY_PAGE, state.config.history_limit))
        self._check_may_read(state, identity, req.room)
        state.check_rate(_sid(), identity, "history")
        if req.after is not None:
            messages, more = state.store.since(req.room, req.after, limit=req.limit)
        else:
            messages, more = state.store.history(
                req.room, before=req.before, limit=req.limit
            )
        return {
            "ok": True,
            "room": req.room,
            "messages": [m.to_wire() for m in messages],
            "has_more": more,
        }

    @chat_event
    def on_leave(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``leave`` ``{"room"}``: leave a room the connection is in."""
        state = get_state()
        self._identity(state)
        room = parse_room(payload)
        if not state.leave(_sid(), room):
            raise ChatError("not_in_room", f"You are not in {room!r}.")
        return {"ok": True, "room": room}

    @chat_event
    def on_rooms(self, *_: Any) -> dict[str, Any]:
        """``rooms``: the rooms and how many users each has."""
        state = get_state()
        self._identity(state)
        return {"ok": True, "rooms": state.extension.room_list()}

    @chat_event
    def on_typing(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``typing`` ``{"room", "typing"}``: tell the other members."""
        state = get_state()
        identity = self._identity(state)
        room, typing = parse_typing(payload, state.config.default_room)
        if not state.is_member(_sid(), room):
            raise ChatError("not_in_room", f"You are not in {room!r}.")
        state.check_rate(_sid(), identity, "typing")
        state.emit(
            EVENT_TYPING,
            {
                "room": room,
                "client": identity.name,
                "user_id": identity.user_id,
                "typing": typing,
            },
            to=room,
            skip_sid=_sid(),
        )
        return {"ok": True}

    @chat_event
    def on_nickname(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``nickname`` ``{"name"}``: a guest picks the name others see."""
        state = get_state()
        identity = self._identity(state)
        if not state.config.allow_nicknames or not identity.anonymous:
            raise ChatError("nicknames_disabled", "You cannot pick a nickname here.")
        name = parse_nickname(payload)
        state.check_rate(_sid(), identity, "nickname")
        if name.casefold() in state.signed_in_names():
            raise ChatError("name_taken", "That is the name of a signed-in user.")
        renamed = state.set_nickname(_sid(), name)
        return {"ok": True, "name": renamed.name}

    @chat_event
    def on_delete_message(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``delete message`` ``{"id"}``: a moderator removes a message."""
        state = get_state()
        identity = self._identity(state)
        message_id = parse_message_id(payload)
        if MODERATOR_ROLE not in identity.roles:
            raise ChatError("forbidden", "Only moderators can delete messages.")
        deleted = state.mark_deleted(message_id)
        if deleted is None:
            raise ChatError("not_found", "There is no such message.")
        log.info(
            "chat: %s deleted message %s in %s", identity.id, deleted.id, deleted.room
        )
        state.emit(
            EVENT_DELETED, {"id": deleted.id, "room": deleted.room}, to=deleted.room
        )
        signals.message_deleted.send(app_object(), message=deleted, moderator=identity)
        return {"ok": True, "id": deleted.id}

    @chat_event
    def on_mute(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``mute`` ``{"room", "user_id", "seconds"}``: a moderator mutes a user in
        a room (``seconds: 0`` lifts it)."""
        state = get_state()
        identity = self._identity(state)
        room, user_id, seconds = parse_mute(payload)
        if MODERATOR_ROLE not in identity.roles:
            raise ChatError("forbidden", "Only moderators can mute users.")
        until = state.mute(room, user_id, seconds)
        log.info("chat: %s muted %s in %s for %ss", identity.id, user_id, room, seconds)
        signals.user_muted.send(
            app_object(),
            room=room,
            user_id=user_id,
            until=until if seconds else None,
            moderator=identity,
        )
        return {
            "ok": True,
            "room": room,
            "user_id": user_id,
            "until": until if seconds else None,
        }
