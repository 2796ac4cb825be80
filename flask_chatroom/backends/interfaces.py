"""The backend interfaces: where messages are kept, rooms with their members and
read state, who is here, rate limits and small per-user facts.
:mod:`~flask_chatroom.backends.select` picks an implementation of each for an
app; a host can supply its own.

Every method of every interface is safe to call from several threads or
greenlets at once.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..formatting import render
from ..identity import Identity
from ..protocol import Attachment, Message, Reaction, is_valid_room_name
from ..search import Query

#: The schema this version of flask-chatroom reads and writes. Version 2 added
#: rooms with a kind, members, read markers, mentions and blocks; version 3 the
#: change log (edits, deletions, reactions), edit history and reactions;
#: version 4 replies (``reply_to``) and each message's latest ``change_seq``;
#: version 5 attachments (uploads, their files, ``chatroom_messages.attachments``)
#: and the full-text search index.
SCHEMA_VERSION = 5

#: What a :class:`MessageChange` did to its message.
ChangeKind = Literal["edit", "delete", "reactions"]


@dataclass(frozen=True)
class MessageChange:
    """One entry of a room's change log: the state a message was set to.

    Each change to a message (an edit, a deletion, a reaction added or
    removed) gets the room's next ``change_seq`` (1, 2, 3, ... per room, no
    gaps, apart from the messages' ``seq``) in the transaction that makes it.
    ``data`` is the message's new state, not a difference, so applying a
    change twice is harmless; a client keeps the last ``change_seq`` it
    applied and skips any it has seen.

    :param room: the message's room.
    :param change_seq: its place in the room's change log.
    :param message_id: the message changed.
    :param kind: ``"edit"``, ``"delete"`` or ``"reactions"``.
    :param ts: when (epoch ms).
    :param user_id: who made the change (the editor, the deleter, the reactor).
    :param seq: the message's own ``seq`` (a client holds a change to a
        message newer than any it has until that message arrives).
    :param data: the new state: ``{"message", "edited_ts"}`` for an edit, ``{}``
        for a deletion, ``{"reactions": [{"emoji", "count", "user_ids"}],
        "emoji", "on"}`` for reactions (what its author did, too).
    """

    room: str
    change_seq: int
    message_id: str
    kind: ChangeKind
    ts: int
    user_id: str | None
    data: dict[str, Any]
    seq: int | None = None

    def to_wire(self, viewer: str | None = None) -> dict[str, Any]:
        """The change as clients get it, the same live (``message edited``,
        ``message deleted``, ``reactions``) and in a catch-up's ``changes``:
        ``{"kind", "id", "room", "change_seq", "seq"}`` (``seq`` is the
        message's) and, for an edit, ``message``,
        ``edited_ts`` and ``html`` (when the text has markup); for reactions,
        ``reactions`` (``"me": true`` on those of *viewer*, a user id),
        ``user_id`` (who reacted), ``emoji`` and ``on``."""
        wire: dict[str, Any] = {
            "kind": self.kind,
            "id": self.message_id,
            "room": self.room,
            "change_seq": self.change_seq,
            "seq": self.seq,
        }
        data = self.data
        if self.kind == "edit":
            wire["message"] = data["message"]
            wire["edited_ts"] = data["edited_ts"]
            html = render(data["message"])
            if html is not None:
                wire["html"] = html
        elif self.kind == "reactions":
            reactions = []
            for reaction in data.get("reactions", ()):
                entry = dict(reaction)
                if viewer is not None and viewer in entry.get("user_ids", ()):
                    entry["me"] = True
                reactions.append(entry)
            wire["reactions"] = reactions
            wire["user_id"] = self.user_id
            wire["emoji"] = data.get("emoji")
            wire["on"] = data.get("on")
        return wire


@dataclass(frozen=True)
class Edit:
    """A text a message had before an edit (the edit history moderators see).

    :param message_id: the message.
    :param n: 1 for the first edit, 2 for the next, ...
    :param text: the text the edit replaced.
    :param ts: when the edit was made (epoch ms).
    :param editor_id: who made it.
    """

    message_id: str
    n: int
    text: str
    ts: int
    editor_id: str | None


def reactions_data(
    reactions: Iterable[Reaction], emoji: str, on: bool
) -> dict[str, Any]:
    """The ``data`` of a ``"reactions"`` change: the message's reactions after
    it (each with at most :data:`~flask_chatroom.protocol.REACTION_USERS_SHOWN`
    user ids), and what its author did (*emoji*, *on*)."""
    return {
        "reactions": [reaction.to_wire() for reaction in reactions],
        "emoji": emoji,
        "on": on,
    }


def group_reactions(rows: Iterable[tuple[str, str]]) -> tuple[Reaction, ...]:
    """``(emoji, user_id)`` pairs as reactions: one per emoji, sorted by emoji
    (by code point, the same in every store), its users sorted."""
    users: dict[str, list[str]] = {}
    for emoji, user_id in rows:
        users.setdefault(emoji, []).append(user_id)
    return tuple(
        Reaction(emoji, len(ids), tuple(sorted(ids)))
        for emoji, ids in sorted(users.items())
    )


class SchemaError(RuntimeError):
    """The database holds a chat schema this version cannot use."""


class AttachmentClaimError(KeyError):
    """A message names an upload that is not its sender's unsent upload to
    that room (:meth:`MessageStore.add` stored nothing)."""


class MessageStore(ABC):
    """The message store interface. Every method is safe to call from several
    threads or greenlets at once.

    A message's ``attachments`` are uploads (:class:`Uploads`) the store
    *claims* for it in the same transaction that stores it: each must be an
    upload of the message's sender to its room that no message claimed yet,
    else :meth:`add` raises :class:`AttachmentClaimError` and stores nothing.
    """

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

    def mark_deleted(self, message_id: str) -> Message | None:
        """Mark a message deleted (its text is no longer returned): :meth:`delete`
        by nobody in particular, without the change."""
        done = self.delete(message_id, None)
        return None if done is None else done[0]

    @abstractmethod
    def purge(self, older_than_ts: int) -> int:
        """Delete messages older than *older_than_ts* (epoch ms), with their
        edit history, reactions and change log entries; returns how many.
        ``seq`` and ``change_seq`` numbers are never reused."""

    # -- changes to messages (schema version 3) --------------------------------

    @abstractmethod
    def edit(
        self, message_id: str, text: str, editor_id: str | None
    ) -> tuple[Message, MessageChange]:
        """Replace the text of a message, in one transaction: the previous text
        goes to its :meth:`edit_history`, ``edited_ts`` is set, and an
        ``"edit"`` change is appended to the room's change log.

        Permissions, filters and the edit window are the service's business.

        :returns: the message as stored now and the change.
        :raises KeyError: no such message, or it is deleted.
        """

    @abstractmethod
    def delete(
        self, message_id: str, user_id: str | None
    ) -> tuple[Message, MessageChange | None] | None:
        """Mark a message deleted, drop its reactions and mentions, and append a
        ``"delete"`` change, in one transaction.

        :returns: the deleted message and the change; ``None`` when there is no
            such message; for a message deleted before, it and ``None`` (no new
            change: deleting twice is a no-op).
        """

    @abstractmethod
    def react(
        self, message_id: str, emoji: str, user_id: str, on: bool
    ) -> tuple[tuple[Reaction, ...], MessageChange | None]:
        """Add (*on*) or remove *user_id*'s *emoji* reaction to a message (one
        per user per emoji), appending a ``"reactions"`` change with the
        message's reactions after it, in one transaction.

        :returns: the message's reactions now, and the change; ``None`` instead
            of a change when nothing changed (already on, already off).
        :raises KeyError: no such message, or it is deleted.
        """

    @abstractmethod
    def changes_since(
        self, room: str, change_seq: int, *, limit: int = 500
    ) -> list[MessageChange]:
        """The changes of *room* after *change_seq*, in ``change_seq`` order (at
        most *limit*)."""

    @abstractmethod
    def last_change_seq(self, room: str) -> int:
        """The room's last ``change_seq``; 0 before its first change."""

    @abstractmethod
    def edit_history(self, message_id: str) -> list[Edit]:
        """The texts a message had before each of its edits, oldest first."""

    @abstractmethod
    def messages(self, room: str) -> Iterator[Message]:
        """Every message of *room*, oldest first (for exports)."""

    def rooms(self) -> list[str]:
        """Every room that has messages (search looks through those a user
        may read, with open rooms). A store that cannot tell returns none."""
        return []

    # -- search (schema version 5) ------------------------------------------------

    def search(
        self,
        query: Query,
        rooms: Collection[str],
        *,
        before: str | None = None,
        limit: int = 20,
    ) -> tuple[list[Message], str | None]:
        """The messages of *rooms* that match *query*, newest first: not
        deleted, by their current text, within the query's filters.

        :param rooms: the rooms to search (the service passes only rooms the
            user may read now).
        :param before: the cursor a page before returned, for the next page.
        :returns: at most *limit* messages and the cursor of the next page
            (``None`` at the end).
        :raises NotImplementedError: the store has no search (a host's own
            store that does not implement it).
        """
        raise NotImplementedError("this message store has no search")

    def init_schema(self) -> None:  # noqa: B027 - optional for stores
        """Create the schema if it is missing (a no-op for stores without one)."""

    def schema_status(self) -> str:
        """``"ok"``, ``"missing"`` or ``"outdated"``."""
        return "ok"

    def migrate(self) -> int | None:
        """Bring an older schema up to :data:`SCHEMA_VERSION` (create it when it
        is missing); safe to run again and from two processes at once.

        :returns: the version the database had, ``None`` when it had none.
        :raises SchemaError: the database was written by a newer release.
        """
        self.init_schema()
        return SCHEMA_VERSION

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


#: What a room is: ``"public"`` (anyone the host's hooks let in), ``"private"``
#: (members only) or ``"dm"`` (a direct conversation between a fixed set of
#: users, made by ``Conversations.dm_room``).
RoomKind = Literal["public", "private", "dm"]

#: The kinds ``Conversations.create_room`` makes.
ROOM_KINDS: frozenset[str] = frozenset({"public", "private"})

#: Every direct conversation's room name starts with this, and no other room's
#: may: ``Conversations.create_room`` refuses such names.
DM_PREFIX = "dm-"


@dataclass(frozen=True)
class RoomInfo:
    """A room the conversations store knows.

    :param room: the room's name.
    :param kind: ``"public"``, ``"private"`` or ``"dm"``
        (:data:`~flask_chatroom.backends.interfaces.RoomKind`).
    :param title: the name people see, if it has one besides ``room``.
    :param created_by: the id of the user who made it, if a user did.
    :param created_ts: when it was made, in epoch milliseconds.
    :param dm_members: for a direct conversation, the ids of the users it is
        between, distinct and sorted; empty for other kinds. The stored members
        (:meth:`Conversations.members`) start as these.
    """

    room: str
    kind: RoomKind
    title: str | None = None
    created_by: str | None = None
    created_ts: int = 0
    dm_members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unread:
    """What a user has not read in a room, computed from ``seq``.

    :param room: the room.
    :param unread: how many messages came after the user's read marker:
        ``last_seq - read seq`` (a message deleted or purged after it still
        counts; ``seq`` numbers are never reused).
    :param mentions: how many stored mentions of the user come after the
        marker (a deleted message's mention no longer counts).
    :param last_seq: the room's last ``seq``; ``0`` before its first message.
    """

    room: str
    unread: int
    mentions: int
    last_seq: int


def check_new_room(room: str, kind: str) -> None:
    """Refuse what :meth:`Conversations.create_room` refuses (``ValueError``)."""
    if not is_valid_room_name(room):
        raise ValueError(f"{room!r} is not a room name")
    if room.startswith(DM_PREFIX):
        raise ValueError(f"room names starting with {DM_PREFIX!r} are for DMs")
    if kind not in ROOM_KINDS:
        raise ValueError(f"a room's kind is one of {sorted(ROOM_KINDS)}, not {kind!r}")


def dm_members(user_ids: Collection[str]) -> tuple[str, ...]:
    """*user_ids* as a direct conversation's members: distinct and sorted.

    :raises ValueError: there are none, or one is empty.
    """
    if isinstance(user_ids, str):
        raise ValueError("dm_room takes a collection of user ids, not one string")
    members = tuple(sorted(set(user_ids)))
    if not members or not all(members):
        raise ValueError("a direct conversation needs at least one user id")
    return members


def dm_key(members: tuple[str, ...]) -> str:
    """The unique key of the direct conversation between *members* (as
    :func:`dm_members` gives them): 64 hex digits, whatever the ids' length."""
    encoded = json.dumps(members, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


class Conversations(ABC):
    """Rooms with a kind, direct conversations, stored membership, read markers,
    unread counts and blocks: the state that outlives a connection. It lives in
    the same database as its :class:`MessageStore` (a message's mentions are
    written with the message), and
    :func:`~flask_chatroom.backends.select.conversations_of` gives the one that
    belongs to a store.

    It only keeps what it is told: who may see, join or post to a room is the
    service's decision. Read markers are for signed-in users; a guest's are
    kept by the service for its browser session, not here.

    Every method is safe to call from several threads or greenlets at once, and
    with a database, from several processes.
    """

    @abstractmethod
    def create_room(
        self,
        room: str,
        kind: str,
        created_by: str | None = None,
        title: str | None = None,
    ) -> RoomInfo:
        """Record *room* as a room of *kind* (idempotent).

        :param kind: ``"public"`` or ``"private"``; a direct conversation is made
            by :meth:`dm_room`.
        :returns: the room as stored: the one recorded before, unchanged, when
            *room* already exists (compare its ``kind`` when it matters).
        :raises ValueError: *room* is not a valid room name or starts with
            ``"dm-"`` (:data:`~flask_chatroom.backends.interfaces.DM_PREFIX`),
            or *kind* is not ``"public"`` or ``"private"``
            (:data:`~flask_chatroom.backends.interfaces.ROOM_KINDS`).
        """

    @abstractmethod
    def room_info(self, room: str) -> RoomInfo | None:
        """The room *room*, ``None`` when it was never recorded (a room that
        only has messages, or no room at all)."""

    @abstractmethod
    def dm_room(
        self, user_ids: Collection[str], *, created_by: str | None = None
    ) -> str:
        """The room of the direct conversation between exactly *user_ids*,
        made (kind ``"dm"``, every one of them a member) if there is none.

        The same set of users, in any order and with repeats, always gets the
        same room, also when two processes ask at once; another set gets
        another room. The name is ``"dm-"``
        (:data:`~flask_chatroom.backends.interfaces.DM_PREFIX`) and 32 random
        hex digits, so it cannot be worked out from the users' ids.

        :raises ValueError: *user_ids* is empty or holds an empty id.
        """

    @abstractmethod
    def add_member(self, room: str, user_id: str) -> bool:
        """Make *user_id* a stored member of *room*.

        :returns: whether they were not one before.
        :raises KeyError: *room* was never recorded (:meth:`create_room`).
        """

    @abstractmethod
    def remove_member(self, room: str, user_id: str) -> bool:
        """*user_id* is no longer a member of *room*; returns whether they were.
        Their read marker for the room stays."""

    @abstractmethod
    def is_member(self, room: str, user_id: str) -> bool:
        """Whether *user_id* is a stored member of *room*."""

    @abstractmethod
    def members(self, room: str) -> list[str]:
        """The stored members of *room*, sorted by id."""

    @abstractmethod
    def rooms_of(self, user_id: str) -> list[RoomInfo]:
        """The rooms *user_id* is a stored member of, direct conversations
        included, sorted by room name."""

    @abstractmethod
    def mark_read(self, user_id: str, room: str, seq: int) -> int:
        """Move *user_id*'s read marker in *room* forward to *seq*.

        The marker only moves forward: an older *seq* leaves it where it is,
        also when several tabs or processes write at once. It never passes the
        room's last ``seq`` (a larger *seq* stops there).

        :returns: the marker as stored now.
        :raises ValueError: *seq* is negative.
        """

    @abstractmethod
    def read_markers(self, user_id: str) -> dict[str, int]:
        """Every room *user_id* has a read marker in -> its ``seq``."""

    @abstractmethod
    def unread(self, user_id: str, rooms: Iterable[str]) -> dict[str, Unread]:
        """What *user_id* has not read in each of *rooms*, in one or two
        queries however many rooms are asked for.

        Every room asked for is in the answer: a room without messages has
        ``last_seq`` 0, and a user without a marker has read nothing (marker 0).
        """

    @abstractmethod
    def block(self, user_id: str, other_id: str) -> bool:
        """*user_id* blocks *other_id*; returns whether that is new.

        :raises ValueError: a user cannot block themselves.
        """

    @abstractmethod
    def unblock(self, user_id: str, other_id: str) -> bool:
        """*user_id* no longer blocks *other_id*; returns whether they did."""

    @abstractmethod
    def blocked(self, user_id: str) -> set[str]:
        """The users *user_id* blocks."""


# -- attachments (schema version 5) ------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """An uploaded file, sent with a message or not yet.

    :param attachment: what messages show of it.
    :param room: the room it was uploaded to (only messages there may carry it).
    :param uploader_id: who uploaded it (a user id).
    :param ts: when (epoch ms).
    :param inline: whether it is served inline (an image the server re-encoded);
        anything else is served as a download.
    :param thumbnail: whether it has a small version (key ``<id>.thumb``).
    :param message_id: the message that carries it, once sent.
    """

    attachment: Attachment
    room: str
    uploader_id: str
    ts: int
    inline: bool = False
    thumbnail: bool = False
    message_id: str | None = None

    @property
    def id(self) -> str:
        """The upload's id (its attachment's)."""
        return self.attachment.id

    @property
    def keys(self) -> tuple[str, ...]:
        """The :class:`FileStorage` keys of its file (and thumbnail)."""
        return (self.id, self.id + ".thumb") if self.thumbnail else (self.id,)


class Uploads(ABC):
    """What is known of uploaded files (their bytes are in a
    :class:`FileStorage`). Kept beside a :class:`MessageStore`, in the same
    database, since the store claims uploads for messages."""

    @abstractmethod
    def add(self, upload: Upload) -> None:
        """Record a new upload (not sent yet)."""

    @abstractmethod
    def get(self, upload_id: str) -> Upload | None:
        """The upload *upload_id*, sent or not."""

    @abstractmethod
    def uploaded_since(self, uploader_id: str, ts: int) -> int:
        """How many bytes *uploader_id* uploaded since *ts* (epoch ms), sent or
        not, removed or not (a daily quota counts what was taken)."""

    @abstractmethod
    def expired(self, unsent_before: int, limit: int = 500) -> list[Upload]:
        """Uploads to remove: not sent and uploaded before *unsent_before*
        (epoch ms), or claimed by a message that is deleted or gone."""

    @abstractmethod
    def remove(self, upload_ids: Collection[str]) -> None:
        """Forget these uploads (their files are the caller's to delete)."""


class FileStorage(ABC):
    """Where the bytes of uploaded files are kept, by key. The chat ships
    one in its database and one in a directory; a host plugs in object
    storage (S3 and the like) by implementing these three methods."""

    @abstractmethod
    def save(self, key: str, data: bytes) -> None:
        """Keep *data* under *key* (a new key: keys are never reused)."""

    @abstractmethod
    def load(self, key: str) -> bytes | None:
        """The bytes under *key*, ``None`` when there are none."""

    @abstractmethod
    def delete(self, keys: Collection[str]) -> None:
        """Remove these keys (a missing one is no error)."""
