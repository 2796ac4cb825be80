"""Messages kept in this process's memory, for throwaway setups and tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

from ..protocol import Message
from .interfaces import MessageStore


def with_seq(message: Message, seq: int) -> Message:
    """*message* with its ``seq``: ``dataclasses.replace`` without re-running
    ``__init__`` (it is on every message's path)."""
    stored: Message = object.__new__(Message)
    stored.__dict__.update(message.__dict__, seq=seq)
    return stored


def _hidden(message: Message) -> Message:
    return replace(message, text="") if message.deleted else message


class MemoryStore(MessageStore):
    """Messages in this process's memory: gone when it exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, list[Message]] = {}
        self._last_seq: dict[str, int] = {}
        self._by_id: dict[str, Message] = {}
        self._by_client_id: dict[tuple[str, str], Message] = {}

    def add(self, message: Message) -> tuple[Message, bool]:
        with self._lock:
            key = (message.sender_id, message.client_id or "")
            if message.client_id and key in self._by_client_id:
                return self._by_client_id[key], False
            seq = self._last_seq.get(message.room, 0) + 1
            self._last_seq[message.room] = seq
            stored = with_seq(message, seq)
            self._rooms.setdefault(message.room, []).append(stored)
            self._by_id[stored.id] = stored
            if message.client_id:
                self._by_client_id[key] = stored
            return stored, True

    def history(
        self, room: str, *, before: int | None = None, limit: int = 50
    ) -> tuple[list[Message], bool]:
        with self._lock:
            items = self._rooms.get(room, [])
            if before is not None:
                items = [m for m in items if m.seq is not None and m.seq < before]
            page = items[-limit:] if limit > 0 else []
            return [_hidden(m) for m in page], len(items) > len(page)

    def since(
        self, room: str, seq: int, *, limit: int = 500
    ) -> tuple[list[Message], bool]:
        with self._lock:
            items = [m for m in self._rooms.get(room, []) if (m.seq or 0) > seq]
            return [_hidden(m) for m in items[:limit]], len(items) > limit

    def get(self, message_id: str) -> Message | None:
        return self._by_id.get(message_id)

    def mark_deleted(self, message_id: str) -> Message | None:
        with self._lock:
            found = self._by_id.get(message_id)
            if found is None:
                return None
            deleted = replace(found, deleted=True, text="")
            self._by_id[message_id] = deleted
            room = self._rooms[found.room]
            room[room.index(found)] = deleted
            return deleted

    def purge(self, older_than_ts: int) -> int:
        with self._lock:
            removed = 0
            for room, items in self._rooms.items():
                keep = [m for m in items if m.ts >= older_than_ts]
                removed += len(items) - len(keep)
                self._rooms[room] = keep
            alive = {m.id for items in self._rooms.values() for m in items}
            self._by_id = {k: v for k, v in self._by_id.items() if k in alive}
            self._by_client_id = {
                k: v for k, v in self._by_client_id.items() if v.id in alive
            }
            return removed

    def messages(self, room: str) -> Iterator[Message]:
        with self._lock:
            items = list(self._rooms.get(room, []))
        return iter(items)
