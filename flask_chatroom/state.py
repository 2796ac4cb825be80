"""Per-app runtime state, kept in ``app.extensions["chatroom"]``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

from .protocol import EVENT_MESSAGE, Message

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from .config import ChatConfig
    from .extension import Chatroom
    from .identity import Identity


@dataclass
class Connection:
    """One Socket.IO connection to the chat namespace."""

    sid: str
    identity: Identity
    rooms: set[str] = field(default_factory=set)


class ChatState:
    """Everything one Flask app's chat holds at run time.

    :param extension: the :class:`~flask_chatroom.Chatroom` that set it up.
    :param socketio: the host's ``SocketIO`` object.
    :param config: the validated ``CHATROOM_*`` configuration.
    """

    def __init__(self, extension: Chatroom, socketio: SocketIO, config: ChatConfig):
        self.extension = extension
        self.socketio = socketio
        self.config = config
        self._connections: dict[str, Connection] = {}
        self._lock = threading.Lock()

    # -- connections ------------------------------------------------------------

    def add_connection(self, sid: str, identity: Identity) -> Connection:
        """Record a new connection (the caller joins it to its rooms)."""
        conn = Connection(sid=sid, identity=identity)
        with self._lock:
            self._connections[sid] = conn
        return conn

    def connection(self, sid: str) -> Connection | None:
        """The connection with Socket.IO session id *sid*, if it is connected."""
        return self._connections.get(sid)

    def remove_connection(self, sid: str) -> Connection | None:
        """Forget a connection that went away."""
        with self._lock:
            return self._connections.pop(sid, None)

    @property
    def connection_count(self) -> int:
        """How many connections the chat namespace has in this process."""
        return len(self._connections)

    # -- messages -----------------------------------------------------------------

    def publish(self, message: Message) -> None:
        """Broadcast *message* to every member of its room, sender included."""
        self.socketio.emit(
            EVENT_MESSAGE,
            message.to_wire(),
            to=message.room,
            namespace=self.config.namespace,
        )


def get_state(app: Flask | None = None) -> ChatState:
    """The chat state of *app* (default: the current app).

    :raises RuntimeError: flask-chatroom is not registered on that app.
    """
    target = app if app is not None else current_app
    try:
        state: ChatState = target.extensions["chatroom"]
    except KeyError:
        raise RuntimeError(
            "flask-chatroom is not registered on this app: call "
            "register_chat(app, socketio) or Chatroom(app, socketio) first."
        ) from None
    return state
