"""Messages and conversations kept in this process's memory, for throwaway
setups and tests."""

from __future__ import annotations

import bisect
import functools
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import replace

from ..protocol import Message, Reaction, Reply, now_ms, reply_of
from ..search import Query, matches, words
from .interfaces import (
    DM_PREFIX,
    AttachmentClaimError,
    ChangeKind,
    Conversations,
    Edit,
    MessageChange,
    MessageStore,
    RoomInfo,
    Unread,
    Upload,
    Uploads,
    check_new_room,
    dm_key,
    dm_members,
    group_reactions,
    reactions_data,
)


def with_seq(message: Message, seq: int) -> Message:
    """*message* with its ``seq`` (and its mentions distinct and sorted):
    ``dataclasses.replace`` without re-running ``__init__`` (it is on every
    message's path)."""
    stored: Message = object.__new__(Message)
    stored.__dict__.update(message.__dict__, seq=seq)
    if message.mentions:
        stored.__dict__["mentions"] = tuple(sorted(set(message.mentions)))
    return stored


#: The folded words of a text (see :func:`~flask_chatroom.search.words`),
#: kept for the texts searched most recently.
_words_of = functools.lru_cache(maxsize=50_000)(words)


def _hidden(message: Message) -> Message:
    return replace(message, text="", mentions=()) if message.deleted else message


class MemoryStore(MessageStore):
    """Messages in this process's memory: gone when it exits. Its
    ``conversations`` keep rooms, members and read state beside them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, list[Message]] = {}
        self._last_seq: dict[str, int] = {}
        self._by_id: dict[str, Message] = {}
        self._by_client_id: dict[tuple[str, str], Message] = {}
        #: (user id, room) -> the seqs of the messages that mention the user.
        self._mentions: dict[tuple[str, str], list[int]] = {}
        #: room -> its change log, and its last change_seq.
        self._changes: dict[str, list[MessageChange]] = {}
        self._last_change_seq: dict[str, int] = {}
        #: message id -> its previous texts; -> its (emoji, user id) reactions.
        self._edits: dict[str, list[Edit]] = {}
        self._reactions: dict[str, list[tuple[str, str]]] = {}
        #: Rooms, members, read markers and blocks, in this process's memory.
        self.conversations = MemoryConversations(self)
        #: What is known of uploaded files, in this process's memory.
        self.uploads = MemoryUploads(self._lock)
        self.uploads.carrier = lambda message_id: self._by_id.get(message_id)

    def _view(self, message: Message) -> Message:
        """*message* as readers get it: hidden when deleted, with reactions and
        the message it answers."""
        message = _hidden(message)
        pairs = self._reactions.get(message.id)
        if pairs:
            message = replace(message, reactions=group_reactions(pairs))
        if message.reply_to is not None:
            original = self._by_id.get(message.reply_to)
            reply = (
                Reply(message.reply_to, deleted=True)
                if original is None
                else reply_of(
                    original.id, original.client, original.text, original.deleted
                )
            )
            message = replace(message, reply=reply)
        return message

    def _change(
        self,
        message: Message,
        kind: ChangeKind,
        user_id: str | None,
        data: dict[str, object],
        ts: int,
    ) -> MessageChange:
        change_seq = self._last_change_seq.get(message.room, 0) + 1
        self._last_change_seq[message.room] = change_seq
        current = self._by_id[message.id]
        self._replace(current, replace(current, change_seq=change_seq))
        change = MessageChange(
            message.room,
            change_seq,
            message.id,
            kind,
            ts,
            user_id,
            dict(data),
            message.seq,
        )
        self._changes.setdefault(message.room, []).append(change)
        return change

    def _replace(self, found: Message, new: Message) -> None:
        self._by_id[found.id] = new
        room = self._rooms[found.room]
        room[room.index(found)] = new

    def edit(
        self, message_id: str, text: str, editor_id: str | None
    ) -> tuple[Message, MessageChange]:
        with self._lock:
            found = self._by_id.get(message_id)
            if found is None or found.deleted:
                raise KeyError(message_id)
            ts = now_ms()
            edits = self._edits.setdefault(message_id, [])
            edits.append(Edit(message_id, len(edits) + 1, found.text, ts, editor_id))
            edited = replace(found, text=text, edited_ts=ts)
            self._replace(found, edited)
            change = self._change(
                edited, "edit", editor_id, {"message": text, "edited_ts": ts}, ts
            )
            return self._view(self._by_id[message_id]), change

    def delete(
        self, message_id: str, user_id: str | None
    ) -> tuple[Message, MessageChange | None] | None:
        with self._lock:
            found = self._by_id.get(message_id)
            if found is None:
                return None
            if found.deleted:
                return found, None
            deleted = replace(found, deleted=True, text="", mentions=(), attachments=())
            self._replace(found, deleted)
            for mentioned in found.mentions:
                self._mentions[mentioned, found.room].remove(found.seq or 0)
            self._reactions.pop(message_id, None)
            change = self._change(deleted, "delete", user_id, {}, now_ms())
            return self._by_id[message_id], change

    def react(
        self, message_id: str, emoji: str, user_id: str, on: bool
    ) -> tuple[tuple[Reaction, ...], MessageChange | None]:
        with self._lock:
            found = self._by_id.get(message_id)
            if found is None or found.deleted:
                raise KeyError(message_id)
            pairs = self._reactions.setdefault(message_id, [])
            if ((emoji, user_id) in pairs) == on:
                return group_reactions(pairs), None
            if on:
                pairs.append((emoji, user_id))
            else:
                pairs.remove((emoji, user_id))
            reactions = group_reactions(pairs)
            if not pairs:
                del self._reactions[message_id]
            data = reactions_data(reactions, emoji, on)
            return reactions, self._change(found, "reactions", user_id, data, now_ms())

    def changes_since(
        self, room: str, change_seq: int, *, limit: int = 500
    ) -> list[MessageChange]:
        with self._lock:
            changes = self._changes.get(room, [])
            start = bisect.bisect_right([c.change_seq for c in changes], change_seq)
            return changes[start : start + max(limit, 0)]

    def last_change_seq(self, room: str) -> int:
        return self._last_change_seq.get(room, 0)

    def edit_history(self, message_id: str) -> list[Edit]:
        with self._lock:
            return list(self._edits.get(message_id, ()))

    def add(self, message: Message) -> tuple[Message, bool]:
        with self._lock:
            key = (message.sender_id, message.client_id or "")
            if message.client_id and key in self._by_client_id:
                return self._view(self._by_id[self._by_client_id[key].id]), False
            self.uploads.claim(message)
            seq = self._last_seq.get(message.room, 0) + 1
            self._last_seq[message.room] = seq
            stored = with_seq(message, seq)
            self._rooms.setdefault(message.room, []).append(stored)
            self._by_id[stored.id] = stored
            if message.client_id:
                self._by_client_id[key] = stored
            for user_id in stored.mentions:
                self._mentions.setdefault((user_id, message.room), []).append(seq)
            return stored, True

    def history(
        self, room: str, *, before: int | None = None, limit: int = 50
    ) -> tuple[list[Message], bool]:
        with self._lock:
            items = self._rooms.get(room, [])
            if before is not None:
                items = [m for m in items if m.seq is not None and m.seq < before]
            page = items[-limit:] if limit > 0 else []
            return [self._view(m) for m in page], len(items) > len(page)

    def since(
        self, room: str, seq: int, *, limit: int = 500
    ) -> tuple[list[Message], bool]:
        with self._lock:
            items = [m for m in self._rooms.get(room, []) if (m.seq or 0) > seq]
            return [self._view(m) for m in items[:limit]], len(items) > limit

    def get(self, message_id: str) -> Message | None:
        with self._lock:
            found = self._by_id.get(message_id)
            return None if found is None else self._view(found)

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
            self._edits = {k: v for k, v in self._edits.items() if k in alive}
            self._reactions = {k: v for k, v in self._reactions.items() if k in alive}
            self._changes = {
                room: [c for c in changes if c.message_id in alive]
                for room, changes in self._changes.items()
            }
            self._mentions = {}
            for items in self._rooms.values():
                for m in items:
                    for user_id in m.mentions:
                        self._mentions.setdefault((user_id, m.room), []).append(
                            m.seq or 0
                        )
            return removed

    def rooms(self) -> list[str]:
        with self._lock:
            return [room for room, items in self._rooms.items() if items]

    def search(
        self,
        query: Query,
        rooms: Collection[str],
        *,
        before: str | None = None,
        limit: int = 20,
    ) -> tuple[list[Message], str | None]:
        """See :meth:`MessageStore.search`: a scan of every message of *rooms*
        (the cursor is ``"ts:id"``).

        :raises ValueError: *before* is not a cursor this store gave.
        """
        wanted = set(rooms)
        if query.room is not None:
            wanted &= {query.room}
        if query.empty or not wanted or limit < 1:
            return [], None
        after: tuple[int, str] | None = None
        if before is not None:
            ts, _, message_id = before.partition(":")
            if not ts.isdigit() or not message_id:
                raise ValueError(f"{before!r} is not a search cursor of this store.")
            after = (int(ts), message_id)
        sender = None if query.sender is None else query.sender.casefold()
        with self._lock:
            found = [
                m
                for room in wanted
                for m in self._rooms.get(room, ())
                if not m.deleted
                and (after is None or (m.ts, m.id) < after)
                and (query.after is None or m.ts >= query.after)
                and (query.before is None or m.ts < query.before)
                and (
                    sender is None
                    or m.user_id == query.sender
                    or m.client.casefold() == sender
                )
                and matches(_words_of(m.text), query)
            ]
            found.sort(key=lambda m: (m.ts, m.id), reverse=True)
            page = [self._view(m) for m in found[:limit]]
        last = page[-1] if len(found) > limit else None
        return page, None if last is None else f"{last.ts}:{last.id}"

    def messages(self, room: str) -> Iterator[Message]:
        with self._lock:
            items = [self._view(m) for m in self._rooms.get(room, [])]
        return iter(items)


class MemoryUploads(Uploads):
    """Uploads in this process's memory, beside a :class:`MemoryStore` (which
    claims them for messages under the same lock)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._uploads: dict[str, Upload] = {}
        self._removed: dict[str, Upload] = {}
        #: The messages alive: a MemoryStore's, set by it.
        self.carrier: Callable[[str], Message | None] = lambda _id: None

    def claim(self, message: Message) -> None:
        """Claim *message*'s attachments for it (under the store's lock), or
        raise :class:`AttachmentClaimError` claiming none."""
        for attachment in message.attachments:
            upload = self._uploads.get(attachment.id)
            if (
                upload is None
                or upload.uploader_id != message.sender_id
                or upload.room != message.room
                or upload.message_id is not None
            ):
                raise AttachmentClaimError(attachment.id)
        for attachment in message.attachments:
            self._uploads[attachment.id] = replace(
                self._uploads[attachment.id], message_id=message.id
            )

    def add(self, upload: Upload) -> None:
        with self._lock:
            self._uploads[upload.id] = upload

    def get(self, upload_id: str) -> Upload | None:
        with self._lock:
            return self._uploads.get(upload_id)

    def uploaded_since(self, uploader_id: str, ts: int) -> int:
        with self._lock:
            every = [*self._uploads.values(), *self._removed.values()]
        return sum(
            u.attachment.size
            for u in every
            if u.uploader_id == uploader_id and u.ts >= ts
        )

    def expired(self, unsent_before: int, limit: int = 500) -> list[Upload]:
        with self._lock:
            uploads = list(self._uploads.values())
        found = []
        for upload in uploads:
            if upload.message_id is None:
                gone = upload.ts < unsent_before
            else:
                carrier = self.carrier(upload.message_id)
                gone = carrier is None or carrier.deleted
            if gone:
                found.append(upload)
        return found[:limit]

    def remove(self, upload_ids: Collection[str]) -> None:
        with self._lock:
            for upload_id in upload_ids:
                upload = self._uploads.pop(upload_id, None)
                if upload is not None:
                    self._removed[upload_id] = upload


class MemoryConversations(Conversations):
    """Rooms, members, read markers and blocks in this process's memory, beside
    the messages of *store* (whose lock it shares)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._lock = store._lock
        self._info: dict[str, RoomInfo] = {}
        self._dms: dict[str, str] = {}  # dm key -> room
        self._members: dict[str, set[str]] = {}  # room -> user ids
        self._rooms_of: dict[str, set[str]] = {}  # user id -> rooms
        self._markers: dict[str, dict[str, int]] = {}  # user id -> room -> seq
        self._blocks: dict[str, set[str]] = {}

    def create_room(
        self,
        room: str,
        kind: str,
        created_by: str | None = None,
        title: str | None = None,
    ) -> RoomInfo:
        check_new_room(room, kind)
        with self._lock:
            if room not in self._info:
                self._info[room] = RoomInfo(
                    room,
                    "private" if kind == "private" else "public",
                    title,
                    created_by,
                    now_ms(),
                )
            return self._info[room]

    def room_info(self, room: str) -> RoomInfo | None:
        return self._info.get(room)

    def dm_room(
        self, user_ids: Collection[str], *, created_by: str | None = None
    ) -> str:
        members = dm_members(user_ids)
        key = dm_key(members)
        with self._lock:
            room = self._dms.get(key)
            if room is None:
                room = DM_PREFIX + uuid.uuid4().hex
                self._info[room] = RoomInfo(
                    room, "dm", None, created_by, now_ms(), members
                )
                self._dms[key] = room
                for user_id in members:
                    self._add(room, user_id)
            return room

    def _add(self, room: str, user_id: str) -> bool:
        members = self._members.setdefault(room, set())
        if user_id in members:
            return False
        members.add(user_id)
        self._rooms_of.setdefault(user_id, set()).add(room)
        return True

    def add_member(self, room: str, user_id: str) -> bool:
        with self._lock:
            if room not in self._info:
                raise KeyError(room)
            return self._add(room, user_id)

    def remove_member(self, room: str, user_id: str) -> bool:
        with self._lock:
            members = self._members.get(room, set())
            if user_id not in members:
                return False
            members.discard(user_id)
            self._rooms_of[user_id].discard(room)
            return True

    def is_member(self, room: str, user_id: str) -> bool:
        return user_id in self._members.get(room, ())

    def members(self, room: str) -> list[str]:
        with self._lock:
            return sorted(self._members.get(room, ()))

    def rooms_of(self, user_id: str) -> list[RoomInfo]:
        with self._lock:
            rooms = sorted(self._rooms_of.get(user_id, ()))
            return [self._info[room] for room in rooms]

    def mark_read(self, user_id: str, room: str, seq: int) -> int:
        if seq < 0:
            raise ValueError("a read marker is a seq, 0 or more")
        with self._lock:
            markers = self._markers.setdefault(user_id, {})
            seq = min(seq, self._store._last_seq.get(room, 0))
            markers[room] = max(markers.get(room, 0), seq)
            return markers[room]

    def read_markers(self, user_id: str) -> dict[str, int]:
        with self._lock:
            return dict(self._markers.get(user_id, {}))

    def unread(self, user_id: str, rooms: Iterable[str]) -> dict[str, Unread]:
        answer = {}
        with self._lock:
            markers = self._markers.get(user_id, {})
            for room in rooms:
                last = self._store._last_seq.get(room, 0)
                read = markers.get(room, 0)
                seqs = self._store._mentions.get((user_id, room), [])
                mentions = len(seqs) - bisect.bisect_right(seqs, read)
                answer[room] = Unread(room, max(last - read, 0), mentions, last)
        return answer

    def block(self, user_id: str, other_id: str) -> bool:
        if user_id == other_id:
            raise ValueError("a user cannot block themselves")
        with self._lock:
            blocked = self._blocks.setdefault(user_id, set())
            new = other_id not in blocked
            blocked.add(other_id)
            return new

    def unblock(self, user_id: str, other_id: str) -> bool:
        with self._lock:
            blocked = self._blocks.get(user_id, set())
            was = other_id in blocked
            blocked.discard(other_id)
            return was

    def blocked(self, user_id: str) -> set[str]:
        with self._lock:
            return set(self._blocks.get(user_id, ()))
