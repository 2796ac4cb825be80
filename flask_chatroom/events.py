"""The Socket.IO side of the chat: one ``Namespace`` with a thin method per event.

Every handler returns its acknowledgement. A refusal (:class:`ChatError`) or an
unexpected failure becomes an error ack plus a ``chat error`` event to the sender
only, is logged once, and never reaches other users.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask_socketio import Namespace, emit
from socketio.exceptions import ConnectionRefusedError

from .identity import Identity
from .protocol import (
    EVENT_ERROR,
    EVENT_JOIN,
    EVENT_LEAVE,
    EVENT_NICKNAME,
    EVENT_ROOMS,
    EVENT_SEND,
    EVENT_TYPING,
    EVENT_WELCOME,
    ChatError,
    Message,
    error_ack,
    parse_nickname,
    parse_room,
    parse_send,
    parse_typing,
)
from .state import ChatState, get_state

log = logging.getLogger("flask_chatroom")

#: Client events and the methods that handle them.
EVENTS: dict[str, str] = {
    EVENT_SEND: "on_message_broadcast",
    EVENT_JOIN: "on_join",
    EVENT_LEAVE: "on_leave",
    EVENT_ROOMS: "on_rooms",
    EVENT_TYPING: "on_typing",
    EVENT_NICKNAME: "on_nickname",
}

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
    """The name of the event being handled."""
    return request.event["message"]  # type: ignore[attr-defined]


def _reply_error(error: ChatError) -> dict[str, Any]:
    emit(EVENT_ERROR, error.to_wire())
    return error_ack(error)


class ChatNamespace(Namespace):  # type: ignore[misc]
    """The chat's Socket.IO namespace (``CHATROOM_NAMESPACE``)."""

    def trigger_event(self, event: Any, *args: Any) -> Any:
        """Route chat events (their names hold spaces) and refuse unknown ones."""
        if event in ("connect", "disconnect"):
            return super().trigger_event(event, *args)
        method = EVENTS.get(event) if isinstance(event, str) else None
        if method is None:
            return self._unknown_event(event, args[0] if args else None)
        return super().trigger_event(method[len("on_") :], *args)

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
        """A client connected: decide who it is and put it in the default room."""
        state = get_state()
        try:
            identity = state.identify()
        except Exception:
            log.exception("chat: the identity loader failed; connection refused")
            raise ConnectionRefusedError(
                {
                    "code": "internal_error",
                    "message": "The server could not connect you.",
                }
            ) from None
        if identity is None:
            if state.config.require_login:
                log.info("chat: refused an anonymous connection (login required)")
                raise ConnectionRefusedError(
                    {"code": "login_required", "message": "Please sign in to chat."}
                )
            identity = state.guest()
        self._register(state, identity)

    def on_disconnect(self, reason: Any = None) -> None:
        """A client went away: it leaves its rooms, and the rooms are told."""
        get_state().disconnect(_sid())

    def _register(self, state: ChatState, identity: Identity) -> Identity:
        sid = _sid()
        state.connect(sid, identity)
        room = state.config.default_room
        joined = state.extension.may_join(identity, room)
        emit(
            EVENT_WELCOME,
            {
                "client": identity.name,
                "user_id": identity.user_id,
                "guest": identity.anonymous,
                "room": room if joined else None,
            },
        )
        if joined:
            state.join(sid, room)
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
        message = Message(
            room=room,
            client=identity.name,
            text=req.text,
            user_id=identity.user_id,
            client_id=req.client_id,
        )
        state.publish(message)
        return message.ack()

    @chat_event
    def on_join(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``join`` ``{"room"}``: enter a room (joining twice is fine)."""
        state = get_state()
        identity = self._identity(state)
        room = parse_room(payload)
        if not state.config.room_exists(room):
            raise ChatError("unknown_room", f"There is no room {room!r}.")
        if not state.extension.may_join(identity, room):
            raise ChatError("forbidden", f"You may not join {room!r}.")
        if not state.is_member(_sid(), room):
            state.join(_sid(), room)
        return {"ok": True, "room": room}

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
        if name.casefold() in state.signed_in_names():
            raise ChatError("name_taken", "That is the name of a signed-in user.")
        renamed = state.set_nickname(_sid(), name)
        return {"ok": True, "name": renamed.name}
