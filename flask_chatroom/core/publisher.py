"""Storing messages and broadcasting them, in ``seq`` order, with group commit;
and broadcasting changes to messages, in ``change_seq`` order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from .. import signals
from ..backends.interfaces import MessageChange, MessageStore
from ..protocol import CHANGE_EVENTS, EVENT_MESSAGE, Message
from .rooms import RecentHistory, RoomLocks
from .runtime import Realtime

T = TypeVar("T")


class _Publishing:
    """A message waiting in :meth:`Publisher.publish` for its room's lock."""

    __slots__ = ("error", "message", "result")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.result: tuple[Message, bool] | None = None
        self.error: Exception | None = None


class Publisher:
    """Stores each message, then broadcasts it to every member of its room."""

    def __init__(
        self,
        store: MessageStore,
        realtime: Realtime,
        locks: RoomLocks,
        recent: RecentHistory,
    ) -> None:
        self._store = store
        self._realtime = realtime
        self._locks = locks
        self._recent = recent
        self._lock = threading.Lock()
        # room -> messages waiting to be stored and broadcast
        self._waiting: dict[str, list[_Publishing]] = {}

    def publish(self, message: Message) -> tuple[Message, bool]:
        """Store *message*, then broadcast it to every member of its room, sender
        included.

        Messages for the same room that arrive together are committed together
        (:meth:`~flask_chatroom.backends.interfaces.MessageStore.add_many`) and
        broadcast in ``seq`` order; each is acknowledged once its commit is done.

        :returns: the stored message (with its ``seq``) and whether it is new;
            a retry of a message already stored is not broadcast again.
        """
        entry = _Publishing(message)
        if message.attachments:
            # Stored on its own: the store may refuse its attachments, and
            # that must fail this message only.
            with self._locks(message.room):
                self._publish_batch([entry])
        else:
            with self._lock:
                self._waiting.setdefault(message.room, []).append(entry)
            # Let other messages that have arrived join this one: whoever takes
            # the room's lock first stores everything waiting for the room in
            # one commit, then broadcasts it in seq order.
            self._realtime.sleep(0)
            with self._locks(message.room):
                if entry.result is None and entry.error is None:
                    with self._lock:
                        batch = self._waiting.pop(message.room, [])
                    self._publish_batch(batch)
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        stored, created = entry.result
        if created:
            signals.send(signals.message_sent, message=stored)
        return stored, created

    def _publish_batch(self, batch: list[_Publishing]) -> None:
        """Store *batch* (one room's waiting messages) and broadcast the new
        ones; every entry gets its result or the error. Under the room's lock."""
        try:
            results = self._store.add_many([entry.message for entry in batch])
        except Exception as error:  # each publisher raises it for its message
            for entry in batch:
                entry.error = error
            return
        for entry, result in zip(batch, results, strict=True):
            entry.result = result
        for stored, created in results:
            if created:
                self._recent.forget(stored.room)
                self._realtime.emit(EVENT_MESSAGE, stored.to_wire(), to=stored.room)

    def publish_change(
        self, room: str, make: Callable[[], tuple[T, MessageChange | None]]
    ) -> tuple[T, MessageChange | None]:
        """Make a change to a message of *room* (*make* asks the store and
        returns its answer and the change, ``None`` when nothing changed) and
        announce it to the room (``message edited``, ``message deleted`` or
        ``reactions``, by its kind). Under the room's lock, as messages are
        published: one process announces a room's changes in ``change_seq``
        order, and a joiner gets each one either in its history or live."""
        with self._locks(room):
            answer, change = make()
            if change is not None:
                self._recent.forget(room)
                self._realtime.emit(
                    CHANGE_EVENTS[change.kind], change.to_wire(), to=room
                )
        return answer, change
