"""The backend interfaces: where messages are kept, who is here, rate limits and
small per-user facts. :mod:`~flask_chatroom.backends.select` picks an
implementation of each for an app; a host can supply its own.

Every method of every interface is safe to call from several threads or
greenlets at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from ..identity import Identity
from ..protocol import Message

#: The schema this version of flask-chatroom reads and writes.
SCHEMA_VERSION = 1


class SchemaError(RuntimeError):
    """The database holds a chat schema this version cannot use."""


class MessageStore(ABC):
    """The message store interface. Every method is safe to call from several
    threads or greenlets at once."""

    @abstractmethod
    def add(self, message: Message) -> tuple[Message, bool]:
        """Commit *message* and give it its ``seq``.

        :returns: the stored message and ``True``; or, when the same sender
            already stored a message with the same ``client_id``, that message
            and ``False`` (nothing new is stored).
        """

    def add_many(self, messages: list[Message]) -> list[tuple[Message, bool]]:
        """:meth:`add` for several messages, in order; a store that can commits
        them together (one transaction, so several messages arriving at once
        cost one commit). Each result is what :meth:`add` would return."""
        return [self.add(message) for message in messages]

    @abstractmethod
    def history(
        self, room: str, *, before: int | None = None, limit: int = 50
    ) -> tuple[list[Message], bool]:
        """The newest *limit* messages of *room* with ``seq`` below *before*, oldest
        first, and whether older ones exist."""

    @abstractmethod
    def since(
        self, room: str, seq: int, *, limit: int = 500
    ) -> tuple[list[Message], bool]:
        """The messages of *room* after *seq*, oldest first (at most *limit*), and
        whether more follow."""

    @abstractmethod
    def get(self, message_id: str) -> Message | None:
        """The message with id *message_id*, deleted or not."""

    @abstractmethod
    def mark_deleted(self, message_id: str) -> Message | None:
        """Mark a message deleted (its text is no longer returned)."""

    @abstractmethod
    def purge(self, older_than_ts: int) -> int:
        """Delete messages older than *older_than_ts* (epoch ms); returns how many.
        ``seq`` numbers are never reused."""

    @abstractmethod
    def messages(self, room: str) -> Iterator[Message]:
        """Every message of *room*, oldest first (for exports)."""

    def init_schema(self) -> None:  # noqa: B027 - optional for stores
        """Create the schema if it is missing (a no-op for stores without one)."""

    def schema_status(self) -> str:
        """``"ok"``, ``"missing"`` or ``"outdated"``."""
        return "ok"

    def close(self) -> None:  # noqa: B027 - optional for stores
        """Release connections."""


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
        """Connection *sid* went away: it leaves every room it was in (and is
        no longer one of its user's :meth:`connections_of`)."""

    def connect(self, sid: str, identity: Identity) -> None:  # noqa: B027
        """Connection *sid* of *identity* opened (before it joins any room)."""

    def connections_of(self, user_id: str) -> list[str]:
        """The connections of *user_id* in every process sharing this backend
        (what :meth:`Chat.disconnect_user
        <flask_chatroom.Chat.disconnect_user>` ends)."""
        return []

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


class RateLimiter(ABC):
    """The rate limiter interface; safe to call from many threads or greenlets."""

    @abstractmethod
    def hit(self, key: str, action: str) -> float | None:
        """Take a token for *action* of *key*; ``None`` when allowed, else the
        seconds until a token is free."""


class UserData(ABC):
    """Nicknames and mutes; safe to call from many threads or greenlets."""

    @abstractmethod
    def nickname(self, guest_id: str) -> str | None:
        """The nickname guest *guest_id* picked, if any."""

    @abstractmethod
    def set_nickname(self, guest_id: str, name: str) -> None:
        """Remember *name* as the nickname of guest *guest_id*, for the backend's
        time to live (``CHATROOM_GUEST_TTL``)."""

    def touch_nickname(self, guest_id: str) -> None:
        """Keep guest *guest_id*'s nickname, if it has one, for another time to
        live (the guest connected or left)."""
        name = self.nickname(guest_id)
        if name is not None:
            self.set_nickname(guest_id, name)

    @abstractmethod
    def muted_until(self, room: str, user_id: str) -> int | None:
        """Until when (epoch ms) *user_id* is muted in *room*, if they are."""

    @abstractmethod
    def set_mute(self, room: str, user_id: str, until: int | None) -> None:
        """Mute *user_id* in *room* until *until* (epoch ms); ``None`` unmutes."""
