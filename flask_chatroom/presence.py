"""Who is here: room membership by user, behind a small interface.

A user with several tabs open has several connections but one presence entry, so
joins, leaves and counts are per user, not per connection. :class:`LocalPresence`
keeps this in the process, which is exact while one process serves the chat; a
shared backend (many worker processes) implements the same :class:`Presence`
interface.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

from .identity import Identity


@dataclass(frozen=True)
class Change:
    """What a presence update changed for a room.

    :param room: the room.
    :param identity: the user who came or went.
    :param kind: ``"join"`` when the user's first connection entered the room,
        ``"leave"`` when their last one left, ``None`` when the user was (or still
        is) there through another connection.
    """

    room: str
    identity: Identity
    kind: str | None


class Presence(ABC):
    """The presence backend interface.

    Every method is safe to call from several threads or greenlets at once.
    """

    @abstractmethod
    def join(self, room: str, sid: str, identity: Identity) -> Change:
        """Connection *sid* of *identity* is now in *room*."""

    @abstractmethod
    def leave(self, room: str, sid: str) -> Change | None:
        """Connection *sid* left *room*; ``None`` if it was not there."""

    @abstractmethod
    def disconnect(self, sid: str) -> list[Change]:
        """Connection *sid* went away: it leaves every room it was in."""

    @abstractmethod
    def rename(self, sid: str, identity: Identity) -> list[str]:
        """The user behind *sid* is now *identity* (a new nickname); returns the
        rooms whose member list changed."""

    @abstractmethod
    def members(self, room: str) -> list[Identity]:
        """The users in *room*, one entry per user, in the order they came."""

    def count(self, room: str) -> int:
        """How many users are in *room*."""
        return len(self.members(room))

    @abstractmethod
    def rooms(self) -> dict[str, int]:
        """Every room with at least one user -> how many users it has."""

    @abstractmethod
    def rooms_of(self, sid: str) -> set[str]:
        """The rooms connection *sid* is in."""

    def is_member(self, sid: str, room: str) -> bool:
        """Whether connection *sid* is in *room* (asked for every message)."""
        return room in self.rooms_of(sid)

    def sweep(self) -> list[Change]:
        """Drop the entries of processes that died; returns what that changed.

        Called every few seconds by the chat's background task. A backend that
        lives in one process has nothing to sweep.
        """
        return []


class LocalPresence(Presence):
    """Presence kept in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # room -> user id -> (identity, set of sids); dicts keep arrival order
        self._rooms: dict[str, dict[str, tuple[Identity, set[str]]]] = {}
        # sid -> (user id, rooms)
        self._sids: dict[str, tuple[str, set[str]]] = {}

    def join(self, room: str, sid: str, identity: Identity) -> Change:
        with self._lock:
            users = self._rooms.setdefault(room, {})
            entry = users.get(identity.id)
            first = entry is None
            if entry is None:
                users[identity.id] = (identity, {sid})
            else:
                entry[1].add(sid)
            self._sids.setdefault(sid, (identity.id, set()))[1].add(room)
            return Change(room, identity, "join" if first else None)

    def _leave_locked(self, room: str, sid: str) -> Change | None:
        known = self._sids.get(sid)
        if known is None or room not in known[1]:
            return None
        user_id, rooms = known
        rooms.discard(room)
        users = self._rooms[room]
        identity, sids = users[user_id]
        sids.discard(sid)
        last = not sids
        if last:
            del users[user_id]
            if not users:
                del self._rooms[room]
        return Change(room, identity, "leave" if last else None)

    def leave(self, room: str, sid: str) -> Change | None:
        with self._lock:
            return self._leave_locked(room, sid)

    def disconnect(self, sid: str) -> list[Change]:
        with self._lock:
            known = self._sids.get(sid)
            if known is None:
                return []
            changes = [self._leave_locked(room, sid) for room in sorted(known[1])]
            del self._sids[sid]
            return [change for change in changes if change is not None]

    def rename(self, sid: str, identity: Identity) -> list[str]:
        with self._lock:
            known = self._sids.get(sid)
            if known is None:
                return []
            user_id, rooms = known
            for room in rooms:
                sids = self._rooms[room][user_id][1]
                self._rooms[room][user_id] = (identity, sids)
            return sorted(rooms)

    def members(self, room: str) -> list[Identity]:
        with self._lock:
            return [identity for identity, _ in self._rooms.get(room, {}).values()]

    def count(self, room: str) -> int:
        return len(self._rooms.get(room, ()))

    def rooms(self) -> dict[str, int]:
        with self._lock:
            return {room: len(users) for room, users in self._rooms.items()}

    def rooms_of(self, sid: str) -> set[str]:
        with self._lock:
            known = self._sids.get(sid)
            return set(known[1]) if known else set()

    def is_member(self, sid: str, room: str) -> bool:
        known = self._sids.get(sid)
        return known is not None and room in known[1]
