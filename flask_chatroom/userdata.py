"""Small per-user facts the chat keeps: guests' nicknames and mutes.

Behind an interface so that many worker processes can share them (the Redis
backend in :mod:`flask_chatroom.redis_backend`); :class:`LocalUserData` keeps them
in this process.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from .protocol import now_ms


class UserData(ABC):
    """Nicknames and mutes; safe to call from many threads or greenlets."""

    @abstractmethod
    def nickname(self, guest_id: str) -> str | None:
        """The nickname guest *guest_id* picked, if any."""

    @abstractmethod
    def set_nickname(self, guest_id: str, name: str) -> None:
        """Remember *name* as the nickname of guest *guest_id*."""

    @abstractmethod
    def muted_until(self, room: str, user_id: str) -> int | None:
        """Until when (epoch ms) *user_id* is muted in *room*, if they are."""

    @abstractmethod
    def set_mute(self, room: str, user_id: str, until: int | None) -> None:
        """Mute *user_id* in *room* until *until* (epoch ms); ``None`` unmutes."""


class LocalUserData(UserData):
    """Nicknames and mutes in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nicknames: dict[str, str] = {}
        self._mutes: dict[tuple[str, str], int] = {}

    def nickname(self, guest_id: str) -> str | None:
        return self._nicknames.get(guest_id)

    def set_nickname(self, guest_id: str, name: str) -> None:
        with self._lock:
            self._nicknames[guest_id] = name

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
