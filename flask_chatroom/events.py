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
from flask_socketio import Namespace, emit, join_room

from .identity import guest_from_session, new_guest
from .protocol import (
    EVENT_ERROR,
    EVENT_SEND,
    EVENT_WELCOME,
    ChatError,
    Message,
    error_ack,
    parse_send,
)
from .state import ChatState, Connection, get_state

log = logging.getLogger("flask_chatroom")

#: Client events and the methods that handle them.
EVENTS: dict[str, str] = {
    EVENT_SEND: "on_message_broadcast",
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
                "chat: refused %r from sid %s: %s",
                _event_name(),
                _sid(),
                exc.code,
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
        """A client connected: give it an identity and put it in the default room."""
        self._register(get_state())

    def on_disconnect(self, reason: Any = None) -> None:
        """A client went away: forget it (Socket.IO removes it from its rooms)."""
        get_state().remove_connection(_sid())

    def _register(self, state: ChatState) -> Connection:
        config = state.config
        identity = guest_from_session(config.guest_prefix, create=False) or new_guest(
            config.guest_prefix
        )
        conn = state.add_connection(_sid(), identity)
        join_room(config.default_room)
        conn.rooms.add(config.default_room)
        emit(
            EVENT_WELCOME,
            {
                "client": identity.name,
                "user_id": identity.user_id,
                "room": config.default_room,
            },
        )
        return conn

    def _connection(self, state: ChatState) -> Connection:
        # A host handler for "connect" on a shared namespace (CHATROOM_NAMESPACE="/")
        # runs instead of ours; such a connection is registered on first use.
        return state.connection(_sid()) or self._register(state)

    # -- events -------------------------------------------------------------------

    @chat_event
    def on_message_broadcast(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        """``message broadcast``: post a message to a room the sender is in."""
        state = get_state()
        conn = self._connection(state)
        req = parse_send(payload, state.config.max_message_length)
        room = req.room or state.config.default_room
        if room not in conn.rooms:
            raise ChatError(
                "not_in_room", f"Join the room {room!r} before posting to it."
            )
        message = Message(
            room=room,
            client=conn.identity.name,
            text=req.text,
            user_id=conn.identity.user_id,
            client_id=req.client_id,
        )
        state.publish(message)
        return message.ack()
