"""Presence, rate limits and per-user facts kept in this process's memory: exact
while one process serves the chat. Several processes share them through
:mod:`~flask_chatroom.backends.redis` instead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from ..config import Limit
from ..identity import Identity
from ..protocol import now_ms
from .interfaces import Change, Presence, RateLimiter, UserData


class LocalPresence(Presence):
    """Presence kept in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # room -> user id -> (identity, set of sids); dicts keep arrival order
        self._rooms: dict[str, dict[str, tuple[Identity, set[str]]]] = {}
        # sid -> (user id, rooms)
        self._sids: dict[str, tuple[str, set[str]]] = {}
        # user id -> their open connections
        self._connections: dict[str, set[str]] = {}
        self._user_of: dict[str, str] = {}

    def connect(self, sid: str, identity: Identity) -> None:
        with self._lock:
            self._connections.setdefault(identity.id, set()).add(sid)
            self._user_of[sid] = identity.id

    def connections_of(self, user_id: str) -> list[str]:
        with self._lock:
            return sorted(self._connections.get(user_id, ()))

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
            user_id = self._user_of.pop(sid, None)
            if user_id is not None:
                sids = self._connections.get(user_id, set())
                sids.discard(sid)
                if not sids:
                    self._connections.pop(user_id, None)
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


class LocalLimiter(RateLimiter):
    """Token buckets in this process's memory.

    :param limits: action -> :class:`Limit`; actions not named are not limited.
    :param clock: a monotonic clock in seconds (tests pass a fake one).
    """

    _SWEEP_EVERY = 10_000

    def __init__(
        self,
        limits: Mapping[str, Limit],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self._clock = clock
        self._lock = threading.Lock()
        # (key, action) -> (tokens, last refill time)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._hits = 0

    def hit(self, key: str, action: str) -> float | None:
        limit = self.limits.get(action)
        if limit is None:
            return None
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get((key, action), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - then) * limit.rate)
            self._hits += 1
            if self._hits % self._SWEEP_EVERY == 0:
                self._sweep(now)
            if tokens >= 1.0:
                self._buckets[(key, action)] = (tokens - 1.0, now)
                return None
            self._buckets[(key, action)] = (tokens, now)
            return (1.0 - tokens) / limit.rate

    def _sweep(self, now: float) -> None:
        """Forget buckets that have refilled completely (their users went quiet)."""
        full = [
            bucket
            for bucket, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.limits[bucket[1]].rate
            >= self.limits[bucket[1]].burst
        ]
        for bucket in full:
            del self._buckets[bucket]

    def __len__(self) -> int:
        return len(self._buckets)


class LocalUserData(UserData):
    """Nicknames and mutes in this process's memory. A nickname is forgotten
    *ttl* seconds after it was last set or touched, as in Redis.

    :param ttl: ``CHATROOM_GUEST_TTL``.
    :param clock: wall-clock seconds (tests pass a fake one).
    """

    _SWEEP_EVERY = 1000

    def __init__(
        self, ttl: float = 24 * 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self._lock = threading.Lock()
        self._ttl = ttl
        self._clock = clock
        # guest id -> (nickname, expires at)
        self._nicknames: dict[str, tuple[str, float]] = {}
        self._mutes: dict[tuple[str, str], int] = {}
        self._sets = 0

    def nickname(self, guest_id: str) -> str | None:
        entry = self._nicknames.get(guest_id)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def set_nickname(self, guest_id: str, name: str) -> None:
        now = self._clock()
        with self._lock:
            self._nicknames[guest_id] = (name, now + self._ttl)
            self._sets += 1
            if self._sets % self._SWEEP_EVERY == 0:
                expired = [k for k, (_, t) in self._nicknames.items() if t <= now]
                for key in expired:
                    del self._nicknames[key]

    def __len__(self) -> int:
        """How many nicknames are kept (expired ones until the next sweep)."""
        return len(self._nicknames)

    def muted_until(self, room: str, user_id: str) -> int | None:
        until = self._mutes.get((room, user_id))
        if until is not None and until <= now_ms():
            with self._lock:
                self._mutes.pop((room, user_id), None)
            return None
        return until

    def set_mute(self, room: str, user_id: str, until: int | None) -> None:
        with self._lock:
            if until is None:
                self._mutes.pop((room, user_id), None)
            else:
                self._mutes[(room, user_id)] = until
