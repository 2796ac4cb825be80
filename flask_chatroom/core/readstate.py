"""Read markers on their way to the store, and guests' read markers.

A signed-in user's marker moves when they say they have read a room (the
``read`` event, written at once) and when they post (their own message is
read): that second write is on the message path, so it happens at most once a
second per user and room; a later one waits here and a background task writes
it. Guests' markers are never stored: they live here, per guest id, for
``CHATROOM_GUEST_TTL`` after the guest's last connection to this process
closes (a reload, or a new tab with the guest's token, finds them), bounded in
number (:data:`GUEST_MARKERS_MAX` guests, :data:`GUEST_ROOMS_MAX` rooms each).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ..backends.interfaces import Conversations
from .runtime import Realtime

log = logging.getLogger("flask_chatroom")

#: The fewest seconds between two marker writes of one user and room on the
#: message path.
MARKER_INTERVAL = 1.0

# How many (user, room) write times are kept before old ones are dropped.
_PRUNE_AT = 4096

#: The most guests whose markers one process keeps (the least recently used
#: go first), and the most rooms per guest.
GUEST_MARKERS_MAX = 20_000
GUEST_ROOMS_MAX = 50


class ReadState:
    """Pending read markers of signed-in users, and guests' markers.

    :param conversations: where markers are stored.
    :param realtime: runs the task that writes pending markers.
    :param interval: :data:`MARKER_INTERVAL`.
    :param clock: a monotonic clock in seconds (tests pass a fake one).
    :param guest_ttl: how long a guest's markers outlive its last connection
        here (``CHATROOM_GUEST_TTL``).
    """

    def __init__(
        self,
        conversations: Conversations,
        realtime: Realtime,
        interval: float = MARKER_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        guest_ttl: float = 24 * 3600,
    ) -> None:
        self._conversations = conversations
        self._realtime = realtime
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        # Held while pending markers are written, so that a flush waits for
        # the background task's writes rather than count before they land.
        self._writing = threading.Lock()
        self._pending: dict[tuple[str, str], int] = {}
        self._written: dict[tuple[str, str], float] = {}
        self._flushing = False
        self._guest_ttl = guest_ttl
        # guest id -> room -> seq, least recently used first
        self._guests: OrderedDict[str, dict[str, int]] = OrderedDict()
        # guest id -> when its last connection here closed
        self._guests_gone: dict[str, float] = {}

    # -- signed-in users -------------------------------------------------------------

    def mark(self, user_id: str, room: str, seq: int) -> int:
        """Move *user_id*'s marker in *room* to *seq* now (with any pending
        one); the marker as stored."""
        key = (user_id, room)
        with self._lock:
            pending = self._pending.pop(key, 0)
            self._written[key] = self._clock()
        return self._conversations.mark_read(user_id, room, max(seq, pending))

    def mark_soon(self, user_id: str, room: str, seq: int) -> None:
        """Move *user_id*'s marker in *room* to *seq*: now when the last write
        of that marker is a second old, else from a background task."""
        key = (user_id, room)
        now = self._clock()
        start = False
        with self._lock:
            last = self._written.get(key)
            write_now = last is None or now - last >= self._interval
            if write_now:
                self._written[key] = now
                seq = max(seq, self._pending.pop(key, 0))
                if len(self._written) > _PRUNE_AT:
                    self._prune(now)
            else:
                self._pending[key] = max(seq, self._pending.get(key, 0))
                start = not self._flushing
                self._flushing = True
        if write_now:
            self._conversations.mark_read(user_id, room, seq)
        elif start:
            self._realtime.start_task(self._flush_loop)

    def flush(self, user_id: str) -> None:
        """Write *user_id*'s pending markers now (before counting what they have
        not read)."""
        with self._writing:
            with self._lock:
                mine = {k: s for k, s in self._pending.items() if k[0] == user_id}
                for key in mine:
                    del self._pending[key]
                    self._written[key] = self._clock()
            self._write(mine)

    def _flush_loop(self) -> None:
        while True:
            self._realtime.sleep(self._interval)
            with self._writing:
                with self._lock:
                    batch, self._pending = self._pending, {}
                    if not batch:
                        self._flushing = False
                        return
                    now = self._clock()
                    for key in batch:
                        self._written[key] = now
                self._write(batch)

    def _write(self, batch: dict[tuple[str, str], int]) -> None:
        for (user_id, room), seq in batch.items():
            try:
                self._conversations.mark_read(user_id, room, seq)
            except Exception:
                log.exception("chat: could not store %s's read marker", user_id)

    def _prune(self, now: float) -> None:
        old = [k for k, t in self._written.items() if now - t >= self._interval]
        for key in old:
            del self._written[key]

    # -- guests ------------------------------------------------------------------------

    def guest_mark(self, guest_id: str, room: str, seq: int) -> int:
        """Move guest *guest_id*'s marker in *room* forward to *seq*; the marker."""
        with self._lock:
            markers = self._guest(guest_id, create=True)
            seq = max(markers.pop(room, 0), seq)  # (re)inserted: the newest room
            markers[room] = seq
            while len(markers) > GUEST_ROOMS_MAX:
                del markers[next(iter(markers))]
            return seq

    def guest_markers(self, guest_id: str) -> dict[str, int]:
        """Guest *guest_id*'s markers: room -> ``seq``."""
        with self._lock:
            return dict(self._guest(guest_id, create=False))

    def guest_left(self, guest_id: str) -> None:
        """Guest *guest_id* has no connection here any more: its markers are
        kept for ``guest_ttl`` (a connection of it before then keeps them)."""
        with self._lock:
            now = self._clock()
            if guest_id in self._guests:
                self._guests_gone[guest_id] = now
            self._prune_guests(now)

    def _guest(self, guest_id: str, create: bool) -> dict[str, int]:
        """The markers of *guest_id*, now the most recently used (under the
        lock); expired ones are gone."""
        markers = self._guests.get(guest_id)
        gone = self._guests_gone.pop(guest_id, None)
        if (
            markers is not None
            and gone is not None
            and self._clock() - gone >= self._guest_ttl
        ):
            del self._guests[guest_id]
            markers = None
        if markers is None:
            if not create:
                return {}
            markers = self._guests[guest_id] = {}
            if len(self._guests) > GUEST_MARKERS_MAX:
                oldest = next(iter(self._guests))
                del self._guests[oldest]
                self._guests_gone.pop(oldest, None)
        self._guests.move_to_end(guest_id)
        return markers

    def _prune_guests(self, now: float) -> None:
        """Drop the markers of guests gone longer than ``guest_ttl``, looking
        at the least recently used few (each call: the work stays bounded)."""
        for guest_id in list(itertools.islice(self._guests, 64)):
            gone = self._guests_gone.get(guest_id)
            if gone is not None and now - gone >= self._guest_ttl:
                del self._guests[guest_id]
                del self._guests_gone[guest_id]
