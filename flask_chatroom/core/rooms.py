"""Rooms: their locks, joining and leaving, and each room's recent history kept
encoded for the next joiner."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..backends.interfaces import MessageStore, Presence
from ..identity import Identity
from ..protocol import EVENT_HISTORY, SharedPayload
from .announcer import Announcer
from .runtime import Realtime

#: The most missed messages a ``join`` with ``since`` sends at once; a client
#: asks for the rest with ``history`` ``{"after": seq}``.
CATCHUP_LIMIT = 200
#: The most changes to messages (edits, deletions, reactions) a catch-up, or a
#: ``changes`` request, sends at once; a client asks for the rest with
#: ``changes``.
CATCHUP_CHANGES = 200
#: How long (seconds) a room's recent history, as sent on join, is kept in
#: memory. Every message and deletion made through this process replaces it at
#: once; the limit bounds how late a joiner sees what another process wrote
#: without a message queue (``flask chatroom purge``, a script). With a message
#: queue (several processes) it is not kept at all.
HISTORY_CACHE_SECONDS = 2.0
#: The most rooms whose history is kept at once (the rooms joined most recently).
HISTORY_CACHE_ROOMS = 1000
_ROOM_LOCKS = 64


def changes_page(
    store: MessageStore, room: str, since: int, viewer: str
) -> tuple[list[dict[str, Any]], int, bool]:
    """At most :data:`CATCHUP_CHANGES` of *room*'s changes after *since*, as
    *viewer* (a user id) gets them; the last one's ``change_seq`` (or *since*);
    and whether more follow."""
    found = store.changes_since(room, since, limit=CATCHUP_CHANGES + 1)
    page = found[:CATCHUP_CHANGES]
    last = page[-1].change_seq if page else since
    return [c.to_wire(viewer) for c in page], last, len(found) > len(page)


class RoomLocks:
    """A fixed set of locks that rooms hash onto.

    Publishing to a room and joining it take the room's lock, so a joining
    client gets every earlier message from the store and every later one live:
    none twice, none missing, in order (within this process)."""

    def __init__(self) -> None:
        self._locks = [threading.Lock() for _ in range(_ROOM_LOCKS)]

    def __call__(self, room: str) -> threading.Lock:
        return self._locks[hash(room) % _ROOM_LOCKS]


class RecentHistory:
    """Each room's ``history`` payload for newcomers (its last
    ``CHATROOM_HISTORY_LIMIT`` messages), kept for :data:`HISTORY_CACHE_SECONDS`
    in a single process, so a crowd joining costs one query and one encoding,
    not one each."""

    def __init__(
        self, store: MessageStore, realtime: Realtime, history_limit: int
    ) -> None:
        self._store = store
        self._realtime = realtime
        #: how many messages a joiner gets (``CHATROOM_HISTORY_LIMIT``)
        self.limit = history_limit
        # room -> (monotonic time, the history payload sent on join), oldest first
        self._kept: dict[str, tuple[float, SharedPayload]] = {}
        self._lock = threading.Lock()

    def get(self, room: str) -> SharedPayload:
        """The payload; call it under the room's lock."""
        now = time.monotonic()
        kept = self._kept.get(room)
        if kept is not None and now - kept[0] < HISTORY_CACHE_SECONDS:
            return kept[1]
        # The change cursor is read before the messages: every change up to
        # it shows in them, and every later one reaches the joiner live.
        change_seq = self._store.last_change_seq(room)
        messages, more = self._store.history(room, limit=self.limit)
        history = SharedPayload(
            room=room,
            messages=[m.to_wire() for m in messages],
            has_more=more,
            since=None,
            change_seq=change_seq,
        )
        if not self._realtime.shared:
            self._keep(room, now, history)
        return history

    def _keep(self, room: str, now: float, history: SharedPayload) -> None:
        kept = self._kept
        with self._lock:
            kept.pop(room, None)  # re-inserted last
            if len(kept) >= HISTORY_CACHE_ROOMS:
                stale = [
                    r for r, (t, _) in kept.items() if now - t >= HISTORY_CACHE_SECONDS
                ]
                for old in stale:
                    del kept[old]
                while len(kept) >= HISTORY_CACHE_ROOMS:
                    del kept[next(iter(kept))]
            kept[room] = (now, history)

    def __len__(self) -> int:
        """How many rooms' histories are kept."""
        return len(self._kept)

    def forget(self, room: str | None = None) -> None:
        """Drop the kept history of *room* (of every room if ``None``) after a
        change to it."""
        with self._lock:
            if room is None:
                self._kept.clear()
            else:
                self._kept.pop(room, None)


class Rooms:
    """Joining and leaving rooms: the broadcast group, the history a joiner
    gets, presence, and telling the room."""

    def __init__(
        self,
        store: MessageStore,
        presence: Presence,
        realtime: Realtime,
        announcer: Announcer,
        locks: RoomLocks,
        recent: RecentHistory,
    ) -> None:
        self._store = store
        self._presence = presence
        self._realtime = realtime
        self._announcer = announcer
        self.lock = locks
        self.recent = recent

    def join(
        self,
        sid: str,
        identity: Identity,
        room: str,
        since: int | None = None,
        changes_since: int | None = None,
    ) -> None:
        """Put connection *sid* in *room*, send it the room's recent history (or
        the messages after *since*, and the changes after *changes_since*), and
        tell the room if the user is new there.

        Under the room's lock, after entering the room: every message and
        change made through this process is either in what the joiner is sent
        or reaches it live, never both and never neither; changes made by other
        processes may be both (clients skip a ``change_seq`` they applied)."""
        with self.lock(room):
            self._realtime.enter_room(sid, room)
            history: dict[str, Any]
            if since is None and changes_since is None:
                history = self.recent.get(room)
            else:
                history = self._catch_up(identity, room, since, changes_since)
            self._realtime.emit(EVENT_HISTORY, history, to=sid)
        change = self._presence.join(room, sid, identity)
        if change.kind is None:
            # Another tab of the same user was already here: only this tab
            # needs the member list.
            self._announcer.send_presence(room, to=sid)
        else:
            self._announcer.announce(change)

    def _catch_up(
        self,
        identity: Identity,
        room: str,
        since: int | None,
        changes_since: int | None,
    ) -> dict[str, Any]:
        """The ``history`` of a rejoining client: the messages after *since*
        (or the recent ones), and the changes after *changes_since*."""
        change_seq = self._store.last_change_seq(room)
        if since is None:
            messages, more = self._store.history(room, limit=self.recent.limit)
        else:
            messages, more = self._store.since(room, since, limit=CATCHUP_LIMIT)
        history: dict[str, Any] = {
            "room": room,
            "messages": [m.to_wire(identity.id) for m in messages],
            "has_more": more,
            "since": since,
            "change_seq": change_seq,
        }
        if changes_since is not None:
            changes, _, more = changes_page(
                self._store, room, changes_since, identity.id
            )
            history["changes"] = changes
            history["changes_more"] = more
        return history

    def leave(self, sid: str, room: str) -> bool:
        """Take connection *sid* out of *room*; ``False`` if it was not there."""
        change = self._presence.leave(room, sid)
        if change is None:
            return False
        self._realtime.leave_room(sid, room)
        self._announcer.announce(change)
        return True

    def forget_history(self, room: str | None = None) -> None:
        """A change outside the message path (a deletion, a purge): the kept
        history of *room* (of every room if ``None``) is stale."""
        if room is None:
            self.recent.forget()
            return
        with self.lock(room):
            self.recent.forget(room)
