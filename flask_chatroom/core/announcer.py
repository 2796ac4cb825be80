"""Telling a room who came and went: ``notice`` and ``presence`` events, paced
in large rooms, and the housekeeping of presence shared between processes."""

from __future__ import annotations

import logging
import threading

from .. import signals
from ..backends.interfaces import Change, Presence
from ..identity import Identity
from ..protocol import EVENT_NOTICE, EVENT_PRESENCE, now_ms
from .runtime import Realtime

log = logging.getLogger("flask_chatroom")

#: Rooms with more users than this get no join/leave notices; their ``presence``
#: lists this many users (with the full ``count``), at most once per
#: :data:`PRESENCE_INTERVAL` seconds.
LARGE_ROOM = 100
PRESENCE_INTERVAL = 1.0
#: A large room's list goes to about this many members a second at most: a
#: room of 5,000 gets one every 5 seconds (see :func:`presence_interval`).
PRESENCE_FANOUT = 1000


def presence_interval(members: int) -> float:
    """Seconds between two ``presence`` lists of a large room of *members*:
    :data:`PRESENCE_INTERVAL`, longer in rooms of over :data:`PRESENCE_FANOUT`
    members, so that a list reaches about that many members a second."""
    return PRESENCE_INTERVAL * max(1.0, members / PRESENCE_FANOUT)


class Announcer:
    """Tells rooms about presence changes.

    :param presence: the presence backend.
    :param realtime: the server to emit through.
    :param sweep_every: seconds between two sweeps of a shared presence backend
        (a third of ``CHATROOM_PRESENCE_EXPIRY``).
    """

    def __init__(
        self, presence: Presence, realtime: Realtime, sweep_every: float
    ) -> None:
        self._presence = presence
        self._realtime = realtime
        self._sweep_every = sweep_every
        self._lock = threading.Lock()
        self._due: set[str] = set()
        self._housekeeping = False

    def announce(self, change: Change) -> None:
        """Tell *change*'s room: a ``notice`` and the new ``presence``.

        Every join or leave costs a delivery to every member, so rooms with more
        than :data:`LARGE_ROOM` users get no notices, and their presence list
        (capped, with the full count) at most once per :data:`PRESENCE_INTERVAL`.
        """
        large = self._presence.count(change.room) > LARGE_ROOM
        if change.kind is not None:
            if not large:
                self._realtime.emit(
                    EVENT_NOTICE,
                    {
                        "room": change.room,
                        "kind": change.kind,
                        "client": change.identity.name,
                        "user_id": change.identity.user_id,
                        "ts": now_ms(),
                    },
                    to=change.room,
                )
            signal = signals.user_joined if change.kind == "join" else signals.user_left
            signals.send(signal, room=change.room, user=change.identity)
        if large:
            self._presence_soon(change.room)
        else:
            self._send(change.room, self._presence.members(change.room), change.room)

    def announce_later(self, changes: list[Change]) -> None:
        """Announce *changes* from a task of their own.

        A disconnect does this: emitting inside it could find another
        connection past its ping timeout, whose close runs the disconnect
        handler again, inside this one (a deep recursion when many clients time
        out at once)."""
        if changes:
            self._realtime.start_task(self._announce_all, changes)

    def _announce_all(self, changes: list[Change]) -> None:
        for change in changes:
            self.announce(change)

    def send_presence(self, room: str, to: str | None = None) -> None:
        """Send the member list of *room* to the room (or to one connection)."""
        self._send(room, self._presence.members(room), to or room)

    def _send(self, room: str, members: list[Identity], to: str) -> None:
        users = [identity.to_wire() for identity in members[:LARGE_ROOM]]
        self._realtime.emit(
            EVENT_PRESENCE, {"room": room, "users": users, "count": len(members)}, to=to
        )

    def _presence_soon(self, room: str) -> None:
        with self._lock:
            if room in self._due:
                return
            self._due.add(room)
        self._realtime.start_task(self._presence_later, room)

    def _presence_later(self, room: str) -> None:
        self._realtime.sleep(presence_interval(self._presence.count(room)))
        with self._lock:
            self._due.discard(room)
        self.send_presence(room)

    # -- housekeeping of shared presence -------------------------------------------

    def start_housekeeping(self) -> None:
        """Start the background task that keeps shared presence fresh (once).

        Every third of ``CHATROOM_PRESENCE_EXPIRY`` it renews this process's
        heartbeat and removes the presence of processes that died, telling their
        rooms. Only backends shared between processes need it.
        """
        if self._housekeeping or type(self._presence).sweep is Presence.sweep:
            return
        self._housekeeping = True
        self._realtime.start_task(self._housekeep)

    def stop_housekeeping(self) -> None:
        """End the housekeeping task (after its current sleep)."""
        self._housekeeping = False

    def _housekeep(self) -> None:
        while self._housekeeping:
            self._realtime.sleep(self._sweep_every)
            if not self._housekeeping:
                return
            try:
                for change in self._presence.sweep():
                    self.announce(change)
            except Exception:
                log.exception("chat: presence housekeeping failed; retrying")
