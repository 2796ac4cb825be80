"""Telling a room who came and went: ``notice`` and ``presence`` events, paced
in large rooms, and the housekeeping of presence shared between processes."""

from __future__ import annotations

import logging
import threading

from .. import signals
from ..backends.interfaces import Change, Presence
from ..backends.local import LocalLimiter
from ..config import Limit
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


#: How many join/leave announcements a room gets at once, and how many a second
#: after that: past this budget a room's changes are coalesced, and announced
#: once per :data:`PRESENCE_INTERVAL` as their net effect (a user who came and
#: went again in between is not announced at all; more than ``ANNOUNCE_BURST``
#: users at once get only the new member list). Clients that connect and leave
#: in a loop cost the room's members at most this much.
ANNOUNCE_BURST = 10
ANNOUNCE_RATE = 2.0


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
        self._budget = LocalLimiter({"announce": Limit(ANNOUNCE_RATE, ANNOUNCE_BURST)})
        # room -> changes waiting to be announced together (coalescing)
        self._queued: dict[str, list[Change]] = {}

    def announce(self, change: Change) -> None:
        """Tell *change*'s room: a ``notice`` and the new ``presence``.

        Every join or leave costs a delivery to every member, so rooms with more
        than :data:`LARGE_ROOM` users get no notices, and their presence list
        (capped, with the full count) at most once per :data:`PRESENCE_INTERVAL`;
        and a room past its announcement budget (:data:`ANNOUNCE_BURST`) gets
        its changes coalesced.
        """
        if change.kind is not None:
            signal = signals.user_joined if change.kind == "join" else signals.user_left
            signals.send(signal, room=change.room, user=change.identity)
        room = change.room
        with self._lock:
            queued = self._queued.get(room)
            if queued is None and self._budget.hit(room, "announce") is not None:
                queued = self._queued[room] = []
                self._realtime.start_task(self._announce_coalesced, room)
            if queued is not None:
                queued.append(change)
                return
        self._tell(room, [change])

    def _tell(self, room: str, changes: list[Change]) -> None:
        large = self._presence.count(room) > LARGE_ROOM
        if not large:
            for change in changes:
                if change.kind is None:
                    continue
                self._realtime.emit(
                    EVENT_NOTICE,
                    {
                        "room": room,
                        "kind": change.kind,
                        "client": change.identity.name,
                        "user_id": change.identity.user_id,
                        "ts": now_ms(),
                    },
                    to=room,
                )
        if large:
            self._presence_soon(room)
        else:
            self._send(room, self._presence.members(room), room)

    def _announce_coalesced(self, room: str) -> None:
        """Announce *room*'s queued changes once per interval, as their net
        effect, until an interval passes without any."""
        while True:
            self._realtime.sleep(PRESENCE_INTERVAL)
            with self._lock:
                changes = self._queued.get(room) or []
                if not changes:
                    self._queued.pop(room, None)
                    return
                self._queued[room] = []
            net = net_changes(changes)
            if len(net) > ANNOUNCE_BURST:
                net = []  # a crowd came or went: the member list says who
            try:
                self._tell(room, net)
            except Exception:
                log.exception("chat: could not announce changes to %s", room)

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


def net_changes(changes: list[Change]) -> list[Change]:
    """What *changes* (in order) amount to, one per user: the last join or leave
    of each user whose first and last change agree (someone who joined and left
    again, or left and came back, changed nothing)."""
    first: dict[str, Change] = {}
    last: dict[str, Change] = {}
    for change in changes:
        if change.kind is None:
            continue
        first.setdefault(change.identity.id, change)
        last[change.identity.id] = change
    return [change for user, change in last.items() if first[user].kind == change.kind]
