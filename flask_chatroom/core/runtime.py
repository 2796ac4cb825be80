"""What the core needs from the real-time server under it, as an interface.

The Socket.IO adapter (:mod:`flask_chatroom.adapters.socketio`) implements it
over the host's ``SocketIO`` object; the core never imports Flask-SocketIO.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Realtime(Protocol):
    """Rooms, emits and tasks on the chat's namespace."""

    def emit(self, event: str, data: Any, to: str, skip_sid: str | None = None) -> None:
        """Emit *event* to a room or one connection (*to*), except *skip_sid*."""

    def enter_room(self, sid: str, room: str) -> None:
        """Put connection *sid* in *room*'s broadcast group."""

    def leave_room(self, sid: str, room: str) -> None:
        """Take connection *sid* out of *room*'s broadcast group."""

    def start_task(self, target: Callable[..., Any], *args: Any) -> None:
        """Run ``target(*args)`` in a background task, inside the current app's
        context."""

    def sleep(self, seconds: float) -> None:
        """Sleep the way the server's async mode sleeps (``0`` yields)."""

    def offload(self, target: Callable[..., T], *args: Any) -> T:
        """``target(*args)``, run where it does not stop the server: on gevent,
        in a thread of the hub's pool (CPU-heavy work such as decoding an
        image would otherwise hold every connection up); else right here."""
        ...

    def is_connected(self, sid: str) -> bool:
        """Whether *sid* is connected (or connecting) to the namespace."""

    def close(self, sid: str) -> None:
        """End the whole connection behind *sid*, not only the namespace."""

    def connection_of(self, sid: str) -> str | None:
        """The id of the transport connection behind *sid* (one for all the
        namespace sessions it carries), if it is known here."""

    def disconnect(self, sid: str) -> None:
        """End namespace session *sid*, in whichever process holds it (through
        the message queue)."""

    @property
    def shared(self) -> bool:
        """Whether emits reach other processes through a message queue."""
        ...
