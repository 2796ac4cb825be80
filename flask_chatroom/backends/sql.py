"""Messages and conversations in a SQL database through SQLAlchemy Core.

A store assigns each message its per-room sequence number ``seq`` (1, 2, 3, ... with
no gaps or repeats) in the same transaction that saves it, so a message is only
acknowledged once it is committed. A message that carries a ``client_id`` is
stored once per sender: a retry returns the message as first stored.

:class:`SQLStore` works with any SQLAlchemy engine and is tested on SQLite (one
process; WAL mode) and PostgreSQL (any number of processes). Its
:class:`SQLConversations` keep rooms, members, read markers, mentions and blocks
in the same database, through the same engine.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ..protocol import Attachment, Message, Reaction, Reply, now_ms, reply_of
from ..search import Query
from . import fulltext
from .interfaces import (
    DM_PREFIX,
    SCHEMA_VERSION,
    AttachmentClaimError,
    ChangeKind,
    Conversations,
    Edit,
    FileStorage,
    MessageChange,
    MessageStore,
    RoomInfo,
    SchemaError,
    Unread,
    Upload,
    Uploads,
    check_new_room,
    dm_key,
    dm_members,
    group_reactions,
    reactions_data,
)
from .memory import with_seq

metadata = MetaData()

messages_table = Table(
    "chatroom_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("room", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("sender_id", String(255), nullable=False),
    Column("sender_name", String(255), nullable=False),
    Column("user_id", String(255), nullable=True),
    Column("text", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("client_id", String(64), nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    # Version 3: when the text was last edited.
    Column("edited_ts", BigInteger, nullable=True),
    # Version 4: the message this one answers (an id in the same room), and
    # the room's change_seq of this message's latest change.
    Column("reply_to", String(32), nullable=True),
    Column("change_seq", BigInteger, nullable=True),
    # Version 5: the files it carries, as a JSON list of Attachment.to_wire()
    # (null for none; they never change, so reads need no join).
    Column("attachments", Text, nullable=True),
    UniqueConstraint("room", "seq", name="uq_chatroom_messages_room_seq"),
    UniqueConstraint("sender_id", "client_id", name="uq_chatroom_messages_client_id"),
    Index("ix_chatroom_messages_ts", "ts"),
)

rooms_table = Table(
    "chatroom_rooms",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    # Version 3: the room's last change_seq (its change log's counter).
    Column("last_change_seq", BigInteger, nullable=False, server_default="0"),
)

meta_table = Table(
    "chatroom_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

# -- schema version 2: conversations ---------------------------------------------------

room_info_table = Table(
    "chatroom_room_info",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("title", String(255), nullable=True),
    Column("created_by", String(255), nullable=True),
    Column("created_ts", BigInteger, nullable=False),
    # A direct conversation: the hash of its members (dm_key()), and the
    # members as a JSON list.
    Column("dm_key", String(64), nullable=True),
    Column("dm_members", Text, nullable=True),
    UniqueConstraint("dm_key", name="uq_chatroom_room_info_dm_key"),
)

members_table = Table(
    "chatroom_members",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("user_id", String(255), primary_key=True),
    Column("ts", BigInteger, nullable=False),
    Index("ix_chatroom_members_user_id", "user_id"),
)

read_markers_table = Table(
    "chatroom_read_markers",
    metadata,
    Column("user_id", String(255), primary_key=True),
    Column("room", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

mentions_table = Table(
    "chatroom_mentions",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("user_id", String(255), primary_key=True),
    Column("message_id", String(32), nullable=False),
    Index("ix_chatroom_mentions_user_id_room_seq", "user_id", "room", "seq"),
)

blocks_table = Table(
    "chatroom_blocks",
    metadata,
    Column("user_id", String(255), primary_key=True),
    Column("blocked_id", String(255), primary_key=True),
    Column("ts", BigInteger, nullable=False),
)


# -- schema version 3: changes to messages ---------------------------------------------

changes_table = Table(
    "chatroom_changes",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("change_seq", BigInteger, primary_key=True),
    Column("message_id", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("user_id", String(255), nullable=True),
    # The message's new state, as JSON.
    Column("data", Text, nullable=False),
    # Version 4: the message's seq.
    Column("seq", BigInteger, nullable=True),
    Index("ix_chatroom_changes_message_id", "message_id"),
)

edits_table = Table(
    "chatroom_edits",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("n", BigInteger, primary_key=True),
    # The text the edit replaced.
    Column("text", Text, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("editor_id", String(255), nullable=True),
)

reactions_table = Table(
    "chatroom_reactions",
    metadata,
    Column("message_id", String(32), primary_key=True),
    Column("emoji", String(64), primary_key=True),
    Column("user_id", String(255), primary_key=True),
    Column("ts", BigInteger, nullable=False),
    Index("ix_chatroom_reactions_message_id", "message_id"),
)


# -- schema version 5: attachments ---------------------------------------------------

attachments_table = Table(
    "chatroom_attachments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("room", String(64), nullable=False),
    Column("uploader_id", String(255), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    # The Attachment as messages show it, as JSON.
    Column("data", Text, nullable=False),
    Column("served_inline", Boolean, nullable=False, default=False),
    Column("thumbnail", Boolean, nullable=False, default=False),
    # The message that carries it, once sent.
    Column("message_id", String(32), nullable=True),
    # Removed (its files deleted); the row stays a while for the daily quota.
    Column("removed", Boolean, nullable=False, default=False),
    Index("ix_chatroom_attachments_message_id", "message_id"),
    Index("ix_chatroom_attachments_uploader_id_ts", "uploader_id", "ts"),
    Index("ix_chatroom_attachments_ts", "ts"),
)

files_table = Table(
    "chatroom_files",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


def _migrate_1_to_2(conn: Any) -> None:
    """Version 1 -> 2: the conversations tables (nothing in version 1 changes).
    A later version that changes one of these tables must freeze its version-2
    definition here."""
    metadata.create_all(
        conn,
        tables=[
            room_info_table,
            members_table,
            read_markers_table,
            mentions_table,
            blocks_table,
        ],
    )


def _migrate_2_to_3(conn: Any) -> None:
    """Version 2 -> 3: ``chatroom_rooms.last_change_seq`` (0 for every room),
    ``chatroom_messages.edited_ts`` (null), and the change log, edit history and
    reactions tables. Each column is added only when missing, so a step that
    ran before (or a database made by ``create_all``) is left as it is."""
    columns = {
        table: {c["name"] for c in inspect(conn).get_columns(table)}
        for table in ("chatroom_rooms", "chatroom_messages")
    }
    if "last_change_seq" not in columns["chatroom_rooms"]:
        conn.execute(
            text(
                "ALTER TABLE chatroom_rooms "
                "ADD COLUMN last_change_seq BIGINT NOT NULL DEFAULT 0"
            )
        )
    if "edited_ts" not in columns["chatroom_messages"]:
        conn.execute(text("ALTER TABLE chatroom_messages ADD COLUMN edited_ts BIGINT"))
    metadata.create_all(conn, tables=[edits_table, reactions_table])
    _version_3_changes().create_all(conn)


def _version_3_changes() -> MetaData:
    """``chatroom_changes`` as version 3 defined it (frozen: version 4 adds
    ``seq`` in its own step)."""
    frozen = MetaData()
    Table(
        "chatroom_changes",
        frozen,
        Column("room", String(64), primary_key=True),
        Column("change_seq", BigInteger, primary_key=True),
        Column("message_id", String(32), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("ts", BigInteger, nullable=False),
        Column("user_id", String(255), nullable=True),
        Column("data", Text, nullable=False),
        Index("ix_chatroom_changes_message_id", "message_id"),
    )
    return frozen


def _migrate_3_to_4(conn: Any) -> None:
    """Version 3 -> 4: ``chatroom_messages.reply_to`` (null),
    ``chatroom_messages.change_seq`` (filled in from the change log) and
    ``chatroom_changes.seq`` (each change's message's ``seq``). A column is
    added only when missing."""
    logged = {c["name"] for c in inspect(conn).get_columns("chatroom_changes")}
    if "seq" not in logged:
        conn.execute(text("ALTER TABLE chatroom_changes ADD COLUMN seq BIGINT"))
    conn.execute(
        text(
            "UPDATE chatroom_changes SET seq = (SELECT m.seq FROM chatroom_messages m "
            "WHERE m.id = chatroom_changes.message_id) WHERE seq IS NULL"
        )
    )
    columns = {c["name"] for c in inspect(conn).get_columns("chatroom_messages")}
    if "reply_to" not in columns:
        conn.execute(
            text("ALTER TABLE chatroom_messages ADD COLUMN reply_to VARCHAR(32)")
        )
    if "change_seq" not in columns:
        conn.execute(text("ALTER TABLE chatroom_messages ADD COLUMN change_seq BIGINT"))
    conn.execute(
        text(
            "UPDATE chatroom_messages SET change_seq = (SELECT MAX(c.change_seq) "
            "FROM chatroom_changes c WHERE c.message_id = chatroom_messages.id) "
            "WHERE id IN (SELECT message_id FROM chatroom_changes)"
        )
    )


def _migrate_4_to_5(conn: Any) -> None:
    """Version 4 -> 5: ``chatroom_messages.attachments`` (null), the uploads
    and files tables, and the full-text index. A column is added only when
    missing."""
    columns = {c["name"] for c in inspect(conn).get_columns("chatroom_messages")}
    if "attachments" not in columns:
        conn.execute(text("ALTER TABLE chatroom_messages ADD COLUMN attachments TEXT"))
    metadata.create_all(conn, tables=[attachments_table, files_table])
    fulltext.create(conn)


#: schema version -> the step that brings a database at that version to the
#: next one, inside the caller's transaction.
_MIGRATIONS: dict[int, Callable[[Any], None]] = {
    1: _migrate_1_to_2,
    2: _migrate_2_to_3,
    3: _migrate_3_to_4,
    4: _migrate_4_to_5,
}


_INSERT_MESSAGE = insert(messages_table)

_COLUMNS = (
    "id, room, seq, sender_id, sender_name, user_id, text, ts, client_id, deleted, "
    "reply_to, attachments"
)
#: What the driver path reads back of a message (a retry's answer).
_READ_COLUMNS = _COLUMNS + ", edited_ts, change_seq"


def _direct_sql(mark: str) -> dict[str, str]:
    """The statements of :meth:`SQLStore.add` for a driver whose placeholder is
    *mark*; the same as the SQLAlchemy Core ones."""
    return {
        "mark": mark,
        "by_client_id": f"SELECT {_READ_COLUMNS} FROM chatroom_messages "
        f"WHERE sender_id = {mark} AND client_id = {mark}",
        "next_seq": f"INSERT INTO chatroom_rooms (room, last_seq) VALUES ({mark}, 1) "
        "ON CONFLICT (room) DO UPDATE SET last_seq = chatroom_rooms.last_seq + 1 "
        "RETURNING last_seq",
        # An upload the message carries: the sender's, to this room, not sent.
        "claim": f"UPDATE chatroom_attachments SET message_id = {mark} "
        f"WHERE id = {mark} AND uploader_id = {mark} AND room = {mark} "
        f"AND message_id IS NULL AND removed = {mark}",
        "insert_mention": "INSERT INTO chatroom_mentions "
        f"(room, seq, user_id, message_id) VALUES ({mark}, {mark}, {mark}, {mark})",
        "mentions_of": "SELECT user_id FROM chatroom_mentions "
        f"WHERE room = {mark} AND seq = {mark}",
        # Changes to messages (edit, delete, react): see SQLStore._change_direct.
        "room_of": f"SELECT room FROM chatroom_messages WHERE id = {mark}",
        "next_change_seq": "UPDATE chatroom_rooms "
        "SET last_change_seq = last_change_seq + 1 "
        f"WHERE room = {mark} RETURNING last_change_seq",
        "row": f"SELECT {_READ_COLUMNS} FROM chatroom_messages WHERE id = {mark}",
        "append": "INSERT INTO chatroom_changes "
        "(room, change_seq, message_id, kind, ts, user_id, data, seq) "
        f"VALUES ({', '.join([mark] * 8)})",
        "set_change_seq": "UPDATE chatroom_messages SET change_seq = "
        f"{mark} WHERE id = {mark}",
        "edits_count": "SELECT COALESCE(MAX(n), 0) FROM chatroom_edits "
        f"WHERE message_id = {mark}",
        "insert_edit": "INSERT INTO chatroom_edits "
        f"(message_id, n, text, ts, editor_id) VALUES ({', '.join([mark] * 5)})",
        "set_text": f"UPDATE chatroom_messages SET text = {mark}, edited_ts = {mark}, "
        f"change_seq = {mark} WHERE id = {mark}",
        "set_deleted": "UPDATE chatroom_messages SET deleted = "
        f"{mark}, text = '', attachments = NULL, change_seq = {mark} "
        f"WHERE id = {mark}",
        "drop_mentions": f"DELETE FROM chatroom_mentions WHERE room = {mark} "
        f"AND seq = {mark}",
        "drop_reactions": f"DELETE FROM chatroom_reactions WHERE message_id = {mark}",
        "reactions_of": "SELECT emoji, user_id FROM chatroom_reactions "
        f"WHERE message_id = {mark}",
        "add_reaction": "INSERT INTO chatroom_reactions "
        f"(message_id, emoji, user_id, ts) VALUES ({', '.join([mark] * 4)})",
        "drop_reaction": "DELETE FROM chatroom_reactions WHERE message_id = "
        f"{mark} AND emoji = {mark} AND user_id = {mark}",
        "reply_of": "SELECT id, sender_name, text, deleted FROM chatroom_messages "
        f"WHERE id = {mark}",
    }


_DIRECT_SQL = {"sqlite": _direct_sql("?"), "postgresql": _direct_sql("%s")}


@functools.cache
def _insert_sql(mark: str, index: fulltext.Index) -> str:
    """A message's INSERT through the driver, setting *index*'s column too."""
    columns, values = _COLUMNS, ", ".join([mark] * 12)
    if index.column:
        columns += f", {index.column}"
        values += f", {index.insert_value(mark)}"
    return f"INSERT INTO chatroom_messages ({columns}) VALUES ({values})"


def _insert_direct(
    cursor: Any,
    sql: dict[str, str],
    message: Message,
    index: fulltext.Index,
    batch: fulltext.Batch,
) -> tuple[Message, bool]:
    """Store *message* inside the caller's transaction, indexed by *index*
    (its *batch*): the message already stored under its ``client_id`` (and
    ``False``), or *message* with its ``seq`` (and ``True``)."""
    if message.client_id:
        cursor.execute(sql["by_client_id"], (message.sender_id, message.client_id))
        row = cursor.fetchone()
        if row is not None:
            return _stored_direct(cursor, sql, row), False
    cursor.execute(sql["next_seq"], (message.room,))
    seq_row: Any = cursor.fetchone()
    stored = with_seq(message, int(seq_row[0]))
    for attachment in stored.attachments:
        cursor.execute(
            sql["claim"],
            (stored.id, attachment.id, stored.sender_id, stored.room, False),
        )
        if cursor.rowcount != 1:
            raise AttachmentClaimError(attachment.id)
    cursor.execute(
        _insert_sql(sql["mark"], index),
        (
            stored.id,
            stored.room,
            stored.seq,
            stored.sender_id,
            stored.client,
            stored.user_id,
            stored.text,
            stored.ts,
            stored.client_id,
            False,
            stored.reply_to,
            attachments_json(stored.attachments),
            *batch.params(stored.text),
        ),
    )
    if stored.mentions:
        cursor.executemany(
            sql["insert_mention"],
            [(stored.room, stored.seq, user, stored.id) for user in stored.mentions],
        )
    return stored, True


def _stored_direct(cursor: Any, sql: dict[str, str], row: Any) -> Message:
    """The message in *row* (read through the driver) with its mentions."""
    message = _row_to_message(_Row(*row))
    if message.deleted:
        return message
    cursor.execute(sql["mentions_of"], (message.room, message.seq))
    mentions = tuple(sorted(user for (user,) in cursor.fetchall()))
    return replace(message, mentions=mentions) if mentions else message


@dataclass(frozen=True)
class _Row:
    """A row of chatroom_messages read through the driver."""

    id: str
    room: str
    seq: int
    sender_id: str
    sender_name: str
    user_id: str | None
    text: str
    ts: int
    client_id: str | None
    deleted: bool
    reply_to: str | None
    attachments: str | None
    edited_ts: int | None
    change_seq: int | None


def _row_to_message(row: Any) -> Message:
    return Message(
        id=row.id,
        room=row.room,
        seq=row.seq,
        sender_id=row.sender_id,
        client=row.sender_name,
        user_id=row.user_id,
        text="" if row.deleted else row.text,
        ts=row.ts,
        client_id=row.client_id,
        deleted=bool(row.deleted),
        edited_ts=row.edited_ts,
        reply_to=row.reply_to,
        change_seq=row.change_seq,
        attachments=() if row.deleted else attachments_of(row.attachments),
    )


def attachments_json(attachments: tuple[Attachment, ...]) -> str | None:
    """What ``chatroom_messages.attachments`` holds for *attachments*."""
    if not attachments:
        return None
    return json.dumps(
        [a.to_wire() for a in attachments], ensure_ascii=False, separators=(",", ":")
    )


def attachments_of(value: str | None) -> tuple[Attachment, ...]:
    """The attachments :func:`attachments_json` wrote."""
    if not value:
        return ()
    return tuple(Attachment.from_wire(item) for item in json.loads(value))


def _with_replies(conn: Any, messages: list[Message]) -> list[Message]:
    """*messages* with the messages they answer (:class:`Reply`, as they are
    now): one query for the whole page, none for a page without replies."""
    wanted = {m.reply_to for m in messages if m.reply_to is not None}
    if not wanted:
        return messages
    rows = conn.execute(
        select(
            messages_table.c.id,
            messages_table.c.sender_name,
            messages_table.c.text,
            messages_table.c.deleted,
        ).where(messages_table.c.id.in_(wanted))
    ).all()
    found = {
        row.id: reply_of(row.id, row.sender_name, row.text, row.deleted) for row in rows
    }
    return [
        replace(m, reply=found.get(m.reply_to, Reply(m.reply_to, deleted=True)))
        if m.reply_to is not None
        else m
        for m in messages
    ]


def _complete(conn: Any, room: str, page: list[Message]) -> list[Message]:
    """A page of *room* with its mentions, reactions and replies."""
    return _with_replies(conn, _with_reactions(conn, _with_mentions(conn, room, page)))


def _with_reactions(conn: Any, messages: list[Message]) -> list[Message]:
    """*messages* with their reactions: one query for the whole page."""
    if not messages:
        return messages
    rows = conn.execute(
        select(
            reactions_table.c.message_id,
            reactions_table.c.emoji,
            reactions_table.c.user_id,
        ).where(reactions_table.c.message_id.in_([m.id for m in messages]))
    ).all()
    if not rows:
        return messages
    by_id: dict[str, list[tuple[str, str]]] = {}
    for message_id, emoji, user_id in rows:
        by_id.setdefault(message_id, []).append((emoji, user_id))
    return [
        replace(m, reactions=group_reactions(by_id[m.id])) if m.id in by_id else m
        for m in messages
    ]


def _change_row(row: Any) -> MessageChange:
    return MessageChange(
        room=row.room,
        change_seq=int(row.change_seq),
        message_id=row.message_id,
        kind=row.kind,
        ts=int(row.ts),
        user_id=row.user_id,
        data=json.loads(row.data),
        seq=None if row.seq is None else int(row.seq),
    )


class _NoChange(Exception):
    """Rolls a change's transaction back: there was nothing to change."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer


def _with_mentions(conn: Any, room: str, messages: list[Message]) -> list[Message]:
    """*messages* of *room* (in ``seq`` order) with their mentions: one query
    for the whole page."""
    if not messages:
        return messages
    rows = conn.execute(
        select(mentions_table.c.seq, mentions_table.c.user_id).where(
            mentions_table.c.room == room,
            mentions_table.c.seq >= messages[0].seq,
            mentions_table.c.seq <= messages[-1].seq,
        )
    ).all()
    if not rows:
        return messages
    by_seq: dict[int, list[str]] = {}
    for seq, user_id in rows:
        by_seq.setdefault(seq, []).append(user_id)
    return [
        replace(m, mentions=tuple(sorted(by_seq[m.seq]))) if m.seq in by_seq else m
        for m in messages
    ]


def _with_mentions_of(conn: Any, messages: list[Message]) -> list[Message]:
    """*messages* of any rooms, in any order, with their mentions: one query."""
    if not messages:
        return messages
    rows = conn.execute(
        select(
            mentions_table.c.room, mentions_table.c.seq, mentions_table.c.user_id
        ).where(
            mentions_table.c.room.in_({m.room for m in messages}),
            mentions_table.c.seq.in_({m.seq for m in messages}),
        )
    ).all()
    found: dict[tuple[str, int], list[str]] = {}
    for room, seq, user_id in rows:
        found.setdefault((room, seq), []).append(user_id)
    return [
        replace(m, mentions=tuple(sorted(found[key])))
        if (key := (m.room, m.seq or 0)) in found
        else m
        for m in messages
    ]


def sqlite_engine(url: str) -> Engine:
    """An engine for an SQLite file set up for the chat: WAL mode, ``synchronous
    = NORMAL`` (durable when the process dies), a busy timeout, ``BEGIN
    IMMEDIATE`` transactions so concurrent writers wait instead of failing, and
    1 KiB pages in a new file."""
    engine = create_engine(url)
    database = engine.url.database

    @event.listens_for(engine, "do_connect")
    def _make_folder(*_args: Any) -> None:
        if database and database != ":memory:" and not database.startswith("file:"):
            os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        # For a new file (a no-op on an existing one): 1 KiB pages. A message's
        # commit writes one page of the table and of each index to the WAL;
        # small pages make that a third faster than SQLite's default 4 KiB.
        cursor.execute("PRAGMA page_size=1024")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SQLStore(MessageStore):
    """Messages in a SQL database through SQLAlchemy Core, and beside them
    (``conversations``) rooms, members, read markers and blocks.

    :param engine: the engine to use, or a function that returns it on first use
        (``lambda: db.engine`` with Flask-SQLAlchemy, whose engine needs an app
        context). For SQLite files make it with :func:`sqlite_engine`.
    """

    #: The dialects whose driver :meth:`add_many` talks to directly; every other
    #: database goes through SQLAlchemy Core (the same statements, portable).
    direct_dialects: frozenset[str] = frozenset(_DIRECT_SQL)
    #: The dialects whose own full-text index (SQLite's FTS5, PostgreSQL's
    #: ``tsvector``) is kept and searched when written through SQLAlchemy Core
    #: (a dialect in :attr:`direct_dialects` always is); every other database
    #: keeps a folded copy of each text searched with ``LIKE`` (see
    #: :mod:`~flask_chatroom.backends.fulltext`).
    search_dialects: frozenset[str] = frozenset(fulltext.NATIVE)

    def __init__(self, engine: Engine | Callable[[], Engine]) -> None:
        self._engine_source = engine
        self._engine = engine if isinstance(engine, Engine) else None
        self._ready = False
        self._lock = threading.Lock()
        self._writer: Any = None  # SQLite: the one connection that writes
        self._writer_cursor: Any = None
        #: Rooms, members, read markers and blocks, in the same database.
        self.conversations = SQLConversations(self)
        #: What is known of uploaded files, in the same database.
        self.uploads = SQLUploads(self)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (resolved on first use)."""
        if self._engine is None:
            assert callable(self._engine_source)
            self._engine = self._engine_source()
        return self._engine

    @property
    def _index(self) -> fulltext.Index:
        """The full-text index this store keeps."""
        name = self.engine.dialect.name
        native = name in self.search_dialects or name in self.direct_dialects
        return fulltext.index_for(name, native)

    # -- schema ------------------------------------------------------------------

    def schema_status(self) -> str:
        with self.engine.connect() as conn:
            if not self.engine.dialect.has_table(conn, meta_table.name):
                return "missing"
            version = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar()
        if version is None:
            return "missing"
        return "ok" if int(version) == SCHEMA_VERSION else "outdated"

    @staticmethod
    def _version(conn: Any) -> int | None:
        """The schema version the database records, ``None`` when it has none."""
        if not conn.dialect.has_table(conn, meta_table.name):
            return None
        version = conn.execute(
            select(meta_table.c.value).where(meta_table.c.key == "schema_version")
        ).scalar()
        return None if version is None else int(version)

    @staticmethod
    def _refuse(version: int) -> SchemaError:
        if version > SCHEMA_VERSION:
            return SchemaError(
                f"The chat database has schema version {version}, written by a newer "
                f"release of flask-chatroom; this one uses {SCHEMA_VERSION}. Upgrade "
                "flask-chatroom (see the storage docs)."
            )
        return SchemaError(
            f"The chat database has schema version {version}; this version of "
            f"flask-chatroom uses {SCHEMA_VERSION}. Run flask chatroom migrate to "
            "bring it up to date (see the storage docs)."
        )

    def init_schema(self) -> None:
        """Create the tables and record the schema version (idempotent).

        :raises SchemaError: the database has a newer or older schema (an older
            one is left untouched: :meth:`migrate` brings it up to date).
        """
        with self.engine.connect() as conn:
            version = self._version(conn)
        if version is not None and version != SCHEMA_VERSION:
            raise self._refuse(version)
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            version = self._version(conn)
            if version is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(meta_table).values(
                                key="schema_version", value=str(SCHEMA_VERSION)
                            )
                        )
                except IntegrityError:  # another process did it just now
                    pass
            elif version != SCHEMA_VERSION:
                raise self._refuse(version)
            fulltext.create(conn, self._index)
        self._ready = True

    def migrate(self) -> int | None:
        """Bring the database to :data:`SCHEMA_VERSION`, one version at a time,
        each step in one transaction that holds the ``schema_version`` row (a
        second process doing the same waits, then finds nothing to do). A
        database without the chat's tables gets them, as :meth:`init_schema`.

        :returns: the version the database had, ``None`` when it had none.
        :raises SchemaError: the database was written by a newer release.
        """
        with self.engine.connect() as conn:
            found = self._version(conn)
        if found is None:
            self.init_schema()
            return None
        if found > SCHEMA_VERSION:
            raise self._refuse(found)
        while True:
            with self.engine.begin() as conn:
                version = int(
                    conn.execute(
                        select(meta_table.c.value)
                        .where(meta_table.c.key == "schema_version")
                        .with_for_update()
                    ).scalar_one()
                )
                if version >= SCHEMA_VERSION:
                    break
                _MIGRATIONS[version](conn)
                conn.execute(
                    update(meta_table)
                    .where(meta_table.c.key == "schema_version")
                    .values(value=str(version + 1))
                )
        self.init_schema()
        return found

    def _ensure_schema(self) -> None:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self.init_schema()

    # -- writes ------------------------------------------------------------------

    def _next_seq(self, conn: Any, room: str) -> int:
        """The room's next ``seq`` inside *conn*'s transaction (the portable path:
        SQLite and PostgreSQL take the upsert in :data:`_DIRECT_SQL`). Updating
        the room's row locks it until commit, so writers to one room take turns;
        two first writers to a new room race to create its row, and the loser
        updates the winner's."""
        bump = (
            update(rooms_table)
            .where(rooms_table.c.room == room)
            .values(last_seq=rooms_table.c.last_seq + 1)
        )
        if conn.execute(bump).rowcount == 0:
            try:
                with conn.begin_nested():
                    conn.execute(insert(rooms_table).values(room=room, last_seq=1))
                return 1
            except IntegrityError:  # another writer created it just now
                conn.execute(bump)
        return int(
            conn.execute(
                select(rooms_table.c.last_seq).where(rooms_table.c.room == room)
            ).scalar_one()
        )

    def _by_client_id(self, conn: Any, message: Message) -> Message | None:
        row = conn.execute(
            select(messages_table).where(
                messages_table.c.sender_id == message.sender_id,
                messages_table.c.client_id == message.client_id,
            )
        ).first()
        if row is None:
            return None
        return _with_mentions(conn, row.room, [_row_to_message(row)])[0]

    def add(self, message: Message) -> tuple[Message, bool]:
        return self.add_many([message])[0]

    def add_many(self, messages: list[Message]) -> list[tuple[Message, bool]]:
        self._ensure_schema()
        dialect = self.engine.dialect.name
        if dialect == "sqlite" and dialect in self.direct_dialects:
            # SQLite takes one writer at a time anyway: one connection (and
            # cursor) writes, instead of a pool checkout per message.
            with self._lock:
                if self._writer is None:
                    self._writer = self.engine.raw_connection()
                    self._writer_cursor = self._writer.driver_connection.cursor()
                return self._add_direct(
                    self._writer.driver_connection, self._writer_cursor, messages
                )
        if dialect in self.direct_dialects:
            raw = self.engine.raw_connection()
            driver: Any = raw.driver_connection
            cursor = driver.cursor()
            try:
                return self._add_direct(driver, cursor, messages)
            finally:
                cursor.close()
                raw.close()  # back to the pool
        return [self._add_core(message) for message in messages]

    def _add_core(self, message: Message) -> tuple[Message, bool]:
        """:meth:`add` through SQLAlchemy Core (databases other than SQLite and
        PostgreSQL)."""
        try:
            with self.engine.begin() as conn:
                if message.client_id:
                    existing = self._by_client_id(conn, message)
                    if existing is not None:
                        return existing, False
                stored = with_seq(message, self._next_seq(conn, message.room))
                for attachment in stored.attachments:
                    claimed = conn.execute(
                        update(attachments_table)
                        .where(
                            attachments_table.c.id == attachment.id,
                            attachments_table.c.uploader_id == stored.sender_id,
                            attachments_table.c.room == stored.room,
                            attachments_table.c.message_id.is_(None),
                            attachments_table.c.removed.is_(False),
                        )
                        .values(message_id=stored.id)
                    )
                    if claimed.rowcount != 1:
                        raise AttachmentClaimError(attachment.id)
                conn.execute(
                    _INSERT_MESSAGE,
                    {
                        "id": stored.id,
                        "room": stored.room,
                        "seq": stored.seq,
                        "sender_id": stored.sender_id,
                        "sender_name": stored.client,
                        "user_id": stored.user_id,
                        "text": stored.text,
                        "ts": stored.ts,
                        "client_id": stored.client_id,
                        "deleted": False,
                        "reply_to": stored.reply_to,
                        "attachments": attachments_json(stored.attachments),
                    },
                )
                self._index.added(conn, stored.id, stored.text)
                if stored.mentions:
                    conn.execute(
                        insert(mentions_table),
                        [
                            {
                                "room": stored.room,
                                "seq": stored.seq,
                                "user_id": user_id,
                                "message_id": stored.id,
                            }
                            for user_id in stored.mentions
                        ],
                    )
            return stored, True
        except IntegrityError:
            # A concurrent retry with the same client_id committed first.
            if not message.client_id:
                raise
            with self.engine.connect() as conn:
                existing = self._by_client_id(conn, message)
            if existing is None:
                raise
            return existing, False

    def _add_direct(
        self, raw: Any, cursor: Any, messages: list[Message]
    ) -> list[tuple[Message, bool]]:
        """:meth:`add_many` on SQLite and PostgreSQL: the same statements as the
        SQLAlchemy Core path, sent through the driver's connection *raw* and
        *cursor* directly, all messages in one transaction. It is the one write
        on every message's path, and SQLAlchemy's work per statement cost twice
        the database's own here."""
        dialect = self.engine.dialect
        sql = _DIRECT_SQL[dialect.name]
        integrity_error = dialect.loaded_dbapi.IntegrityError
        try:
            if dialect.name == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            index = self._index
            batch = index.batch(cursor, sql["mark"])
            results = [
                _insert_direct(cursor, sql, message, index, batch)
                for message in messages
            ]
            batch.flush()
            raw.commit()
            return results
        except integrity_error:
            # A concurrent retry with the same client_id (from another process)
            # committed first.
            raw.rollback()
            if len(messages) > 1:
                return [self._add_direct(raw, cursor, [m])[0] for m in messages]
            [message] = messages
            if not message.client_id:
                raise
            cursor.execute(sql["by_client_id"], (message.sender_id, message.client_id))
            row = cursor.fetchone()
            existing = None if row is None else _stored_direct(cursor, sql, row)
            raw.rollback()
            if existing is None:
                raise
            return [(existing, False)]
        except BaseException:
            raw.rollback()
            raise

    # -- changes to messages ----------------------------------------------------

    def _locked(self, conn: Any, message_id: str) -> Any:
        """The row of *message_id* read after its room's row is locked (by
        taking the room's next change_seq), so changes to one room take turns
        and each sees the one before; ``None`` when there is no such message.
        Returns ``(row, change_seq)``."""
        room = conn.execute(
            select(messages_table.c.room).where(messages_table.c.id == message_id)
        ).scalar()
        if room is None:
            return None, 0
        conn.execute(
            update(rooms_table)
            .where(rooms_table.c.room == room)
            .values(last_change_seq=rooms_table.c.last_change_seq + 1)
        )
        change_seq = int(
            conn.execute(
                select(rooms_table.c.last_change_seq).where(rooms_table.c.room == room)
            ).scalar_one()
        )
        row = conn.execute(
            select(messages_table).where(messages_table.c.id == message_id)
        ).first()
        return row, change_seq

    @staticmethod
    def _append(
        conn: Any,
        row: Any,
        change_seq: int,
        kind: ChangeKind,
        user_id: str | None,
        data: dict[str, Any],
        ts: int,
    ) -> MessageChange:
        change = MessageChange(
            row.room, change_seq, row.id, kind, ts, user_id, data, row.seq
        )
        conn.execute(
            update(messages_table)
            .where(messages_table.c.id == row.id)
            .values(change_seq=change_seq)
        )
        conn.execute(
            insert(changes_table).values(
                room=row.room,
                change_seq=change_seq,
                message_id=row.id,
                kind=kind,
                ts=ts,
                user_id=user_id,
                data=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                seq=row.seq,
            )
        )
        return change

    def _change_direct(
        self,
        message_id: str,
        change: Callable[[Any, dict[str, str], _Row, int], Any],
    ) -> Any:
        """Run *change* (a function of the cursor, the statements, the
        message's row and the room's next ``change_seq``) in one transaction
        on the driver's connection, as :meth:`add_many` does: SQLite's one
        writing connection, or a pooled PostgreSQL one. The room's row is
        locked (its ``last_change_seq`` taken) before the message is read, so
        changes to a room take turns. ``None`` when there is no such message;
        *change* raises :class:`_NoChange` to roll back with an answer.
        A change costs about a tenth of what the SQLAlchemy Core path does."""
        dialect = self.engine.dialect.name
        sql = _DIRECT_SQL[dialect]

        def run(raw: Any, cursor: Any) -> Any:
            try:
                if dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(sql["room_of"], (message_id,))
                found = cursor.fetchone()
                if found is None:
                    raw.rollback()
                    return None
                cursor.execute(sql["next_change_seq"], (found[0],))
                change_seq = int(cursor.fetchone()[0])
                cursor.execute(sql["row"], (message_id,))
                answer = change(cursor, sql, _Row(*cursor.fetchone()), change_seq)
                raw.commit()
                return answer
            except BaseException:
                raw.rollback()
                raise

        with self._driver() as (raw, cursor):
            return run(raw, cursor)

    @contextlib.contextmanager
    def _driver(self) -> Iterator[tuple[Any, Any]]:
        """The driver's connection and a cursor, as :meth:`add_many` uses them:
        SQLite's one writing connection (held for the block), or a pooled
        PostgreSQL one."""
        if self.engine.dialect.name == "sqlite":
            with self._lock:
                if self._writer is None:
                    self._writer = self.engine.raw_connection()
                    self._writer_cursor = self._writer.driver_connection.cursor()
                yield self._writer.driver_connection, self._writer_cursor
            return
        pooled = self.engine.raw_connection()
        driver: Any = pooled.driver_connection
        cursor = driver.cursor()
        try:
            yield driver, cursor
        finally:
            cursor.close()
            pooled.close()

    def _get_direct(self, message_id: str) -> Message | None:
        """:meth:`get` through the driver (SQLite and PostgreSQL): what every
        change and reply asks first, at a tenth of the Core path's cost."""
        sql = _DIRECT_SQL[self.engine.dialect.name]
        with self._driver() as (raw, cursor):
            try:
                cursor.execute(sql["row"], (message_id,))
                found = cursor.fetchone()
                if found is None:
                    return None
                row = _Row(*found)
                message = _row_to_message(row)
                if not message.deleted:
                    cursor.execute(sql["mentions_of"], (row.room, row.seq))
                    mentions = tuple(sorted(user for (user,) in cursor.fetchall()))
                    reactions = self._reactions_direct(cursor, sql, message_id)
                    message = replace(message, mentions=mentions, reactions=reactions)
                if row.reply_to is not None:
                    cursor.execute(sql["reply_of"], (row.reply_to,))
                    other = cursor.fetchone()
                    reply = (
                        Reply(row.reply_to, deleted=True)
                        if other is None
                        else reply_of(other[0], other[1], other[2], bool(other[3]))
                    )
                    message = replace(message, reply=reply)
                return message
            finally:
                raw.rollback()

    @staticmethod
    def _append_direct(
        cursor: Any,
        sql: dict[str, str],
        row: _Row,
        change_seq: int,
        kind: ChangeKind,
        user_id: str | None,
        data: dict[str, Any],
        ts: int,
    ) -> MessageChange:
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        cursor.execute(
            sql["append"],
            (row.room, change_seq, row.id, kind, ts, user_id, encoded, row.seq),
        )
        return MessageChange(
            row.room, change_seq, row.id, kind, ts, user_id, data, row.seq
        )

    @staticmethod
    def _reactions_direct(
        cursor: Any, sql: dict[str, str], message_id: str
    ) -> tuple[Reaction, ...]:
        cursor.execute(sql["reactions_of"], (message_id,))
        return group_reactions((e, u) for e, u in cursor.fetchall())

    def _edit_direct(
        self, message_id: str, text: str, editor_id: str | None
    ) -> tuple[Message, MessageChange]:
        def change(
            cursor: Any, sql: dict[str, str], row: _Row, change_seq: int
        ) -> tuple[Message, MessageChange]:
            if row.deleted:
                raise _NoChange(None)
            ts = now_ms()
            cursor.execute(sql["edits_count"], (message_id,))
            n = int(cursor.fetchone()[0]) + 1
            cursor.execute(sql["insert_edit"], (message_id, n, row.text, ts, editor_id))
            cursor.execute(sql["set_text"], (text, ts, change_seq, message_id))
            self._index.edited_direct(cursor, sql["mark"], message_id, row.text, text)
            data = {"message": text, "edited_ts": ts}
            done = self._append_direct(
                cursor, sql, row, change_seq, "edit", editor_id, data, ts
            )
            cursor.execute(sql["mentions_of"], (row.room, row.seq))
            mentions = tuple(sorted(user for (user,) in cursor.fetchall()))
            edited = replace(
                _row_to_message(row),
                mentions=mentions,
                text=text,
                edited_ts=ts,
                change_seq=change_seq,
                reactions=self._reactions_direct(cursor, sql, message_id),
            )
            return edited, done

        try:
            answer = self._change_direct(message_id, change)
        except _NoChange:
            answer = None
        if answer is None:
            raise KeyError(message_id)
        edited, done = answer
        return edited, done

    def _delete_direct(
        self, message_id: str, user_id: str | None
    ) -> tuple[Message, MessageChange | None] | None:
        def change(
            cursor: Any, sql: dict[str, str], row: _Row, change_seq: int
        ) -> tuple[Message, MessageChange]:
            if row.deleted:
                raise _NoChange((_row_to_message(row), None))
            cursor.execute(sql["set_deleted"], (True, change_seq, message_id))
            self._index.deleted_direct(cursor, sql["mark"], message_id, row.text)
            cursor.execute(sql["drop_mentions"], (row.room, row.seq))
            cursor.execute(sql["drop_reactions"], (message_id,))
            done = self._append_direct(
                cursor, sql, row, change_seq, "delete", user_id, {}, now_ms()
            )
            deleted = replace(
                _row_to_message(row),
                deleted=True,
                text="",
                attachments=(),
                change_seq=change_seq,
            )
            return deleted, done

        try:
            answer: tuple[Message, MessageChange | None] | None = self._change_direct(
                message_id, change
            )
        except _NoChange as nothing:
            answer = nothing.answer
        return answer

    def _react_direct(
        self, message_id: str, emoji: str, user_id: str, on: bool
    ) -> tuple[tuple[Reaction, ...], MessageChange | None]:
        def change(
            cursor: Any, sql: dict[str, str], row: _Row, change_seq: int
        ) -> tuple[tuple[Reaction, ...], MessageChange]:
            if row.deleted:
                raise _NoChange(None)
            before = self._reactions_direct(cursor, sql, message_id)
            there = any(r.emoji == emoji and user_id in r.user_ids for r in before)
            if there == on:
                raise _NoChange(before)
            ts = now_ms()
            if on:
                cursor.execute(sql["add_reaction"], (message_id, emoji, user_id, ts))
            else:
                cursor.execute(sql["drop_reaction"], (message_id, emoji, user_id))
            cursor.execute(sql["set_change_seq"], (change_seq, message_id))
            reactions = self._reactions_direct(cursor, sql, message_id)
            done = self._append_direct(
                cursor,
                sql,
                row,
                change_seq,
                "reactions",
                user_id,
                reactions_data(reactions, emoji, on),
                ts,
            )
            return reactions, done

        try:
            answer = self._change_direct(message_id, change)
        except _NoChange as nothing:
            if nothing.answer is None:
                raise KeyError(message_id) from None
            return nothing.answer, None
        if answer is None:
            raise KeyError(message_id)
        reactions, done = answer
        return reactions, done

    def edit(
        self, message_id: str, text: str, editor_id: str | None
    ) -> tuple[Message, MessageChange]:
        self._ensure_schema()
        if self.engine.dialect.name in self.direct_dialects:
            return self._edit_direct(message_id, text, editor_id)
        try:
            with self.engine.begin() as conn:
                row, change_seq = self._locked(conn, message_id)
                if row is None or row.deleted:
                    raise _NoChange(None)
                ts = now_ms()
                n = conn.execute(
                    select(func.coalesce(func.max(edits_table.c.n), 0)).where(
                        edits_table.c.message_id == message_id
                    )
                ).scalar_one()
                conn.execute(
                    insert(edits_table).values(
                        message_id=message_id,
                        n=int(n) + 1,
                        text=row.text,
                        ts=ts,
                        editor_id=editor_id,
                    )
                )
                conn.execute(
                    update(messages_table)
                    .where(messages_table.c.id == message_id)
                    .values(text=text, edited_ts=ts)
                )
                self._index.edited(conn, message_id, row.text, text)
                data = {"message": text, "edited_ts": ts}
                change = self._append(
                    conn, row, change_seq, "edit", editor_id, data, ts
                )
                edited = replace(
                    _row_to_message(row), text=text, edited_ts=ts, change_seq=change_seq
                )
                page = _complete(conn, row.room, [edited])
        except _NoChange:
            raise KeyError(message_id) from None
        return page[0], change

    def delete(
        self, message_id: str, user_id: str | None
    ) -> tuple[Message, MessageChange | None] | None:
        self._ensure_schema()
        if self.engine.dialect.name in self.direct_dialects:
            return self._delete_direct(message_id, user_id)
        try:
            with self.engine.begin() as conn:
                row, change_seq = self._locked(conn, message_id)
                if row is None:
                    raise _NoChange(None)
                if row.deleted:
                    raise _NoChange((_row_to_message(row), None))
                conn.execute(
                    update(messages_table)
                    .where(messages_table.c.id == message_id)
                    .values(deleted=True, text="", attachments=None)
                )
                self._index.deleted(conn, message_id, row.text)
                conn.execute(
                    delete(mentions_table).where(
                        mentions_table.c.room == row.room,
                        mentions_table.c.seq == row.seq,
                    )
                )
                conn.execute(
                    delete(reactions_table).where(
                        reactions_table.c.message_id == message_id
                    )
                )
                change = self._append(
                    conn, row, change_seq, "delete", user_id, {}, now_ms()
                )
        except _NoChange as nothing:
            answer: tuple[Message, MessageChange | None] | None = nothing.answer
            return answer
        deleted = replace(
            _row_to_message(row),
            deleted=True,
            text="",
            attachments=(),
            change_seq=change.change_seq,
        )
        return deleted, change

    def react(
        self, message_id: str, emoji: str, user_id: str, on: bool
    ) -> tuple[tuple[Reaction, ...], MessageChange | None]:
        self._ensure_schema()
        if self.engine.dialect.name in self.direct_dialects:
            return self._react_direct(message_id, emoji, user_id, on)
        mine = (
            reactions_table.c.message_id == message_id,
            reactions_table.c.emoji == emoji,
            reactions_table.c.user_id == user_id,
        )
        of_message = select(reactions_table.c.emoji, reactions_table.c.user_id).where(
            reactions_table.c.message_id == message_id
        )
        try:
            with self.engine.begin() as conn:
                row, change_seq = self._locked(conn, message_id)
                if row is None or row.deleted:
                    raise _NoChange(None)
                there = conn.execute(select(reactions_table.c.ts).where(*mine)).first()
                if (there is not None) == on:
                    pairs = [(e, u) for e, u in conn.execute(of_message)]
                    raise _NoChange(group_reactions(pairs))
                ts = now_ms()
                if on:
                    conn.execute(
                        insert(reactions_table).values(
                            message_id=message_id, emoji=emoji, user_id=user_id, ts=ts
                        )
                    )
                else:
                    conn.execute(delete(reactions_table).where(*mine))
                pairs = [(e, u) for e, u in conn.execute(of_message)]
                reactions = group_reactions(pairs)
                change = self._append(
                    conn,
                    row,
                    change_seq,
                    "reactions",
                    user_id,
                    reactions_data(reactions, emoji, on),
                    ts,
                )
        except _NoChange as nothing:
            if nothing.answer is None:
                raise KeyError(message_id) from None
            current: tuple[Reaction, ...] = nothing.answer
            return current, None
        return reactions, change

    def changes_since(
        self, room: str, change_seq: int, *, limit: int = 500
    ) -> list[MessageChange]:
        self._ensure_schema()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(changes_table)
                .where(
                    changes_table.c.room == room,
                    changes_table.c.change_seq > change_seq,
                )
                .order_by(changes_table.c.change_seq)
                .limit(max(limit, 0))
            ).all()
        return [_change_row(row) for row in rows]

    def last_change_seq(self, room: str) -> int:
        self._ensure_schema()
        with self.engine.connect() as conn:
            last = conn.execute(
                select(rooms_table.c.last_change_seq).where(rooms_table.c.room == room)
            ).scalar()
        return int(last or 0)

    def edit_history(self, message_id: str) -> list[Edit]:
        self._ensure_schema()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(edits_table)
                .where(edits_table.c.message_id == message_id)
                .order_by(edits_table.c.n)
            ).all()
        return [
            Edit(row.message_id, int(row.n), row.text, int(row.ts), row.editor_id)
            for row in rows
        ]

    def purge(self, older_than_ts: int) -> int:
        self._ensure_schema()
        purged = select(messages_table.c.id).where(messages_table.c.ts < older_than_ts)
        with self.engine.begin() as conn:
            self._index.purging(conn, older_than_ts)
            for table in (mentions_table, edits_table, reactions_table, changes_table):
                conn.execute(delete(table).where(table.c.message_id.in_(purged)))
            result = conn.execute(
                delete(messages_table).where(messages_table.c.ts < older_than_ts)
            )
        return int(result.rowcount or 0)

    # -- reads -------------------------------------------------------------------

    def search(
        self,
        query: Query,
        rooms: Collection[str],
        *,
        before: str | None = None,
        limit: int = 20,
    ) -> tuple[list[Message], str | None]:
        """See :meth:`MessageStore.search`; through the index of
        :mod:`~flask_chatroom.backends.fulltext`. The cursor is SQLite's
        ``search_rowid``, or ``"ts:id"`` on other databases.

        :raises ValueError: *before* is not a cursor this store gave.
        """
        self._ensure_schema()
        wanted = sorted(set(rooms))
        if query.room is not None:
            wanted = [query.room] if query.room in wanted else []
        if query.empty or not wanted or limit < 1:
            return [], None
        index = self._index
        if isinstance(index, fulltext.SQLiteIndex):
            self._catch_up(index)
        with self.engine.connect() as conn:
            rows, cursor = index.search(
                conn, messages_table, query, wanted, before, limit
            )
            page = _with_replies(
                conn,
                _with_reactions(
                    conn, _with_mentions_of(conn, [_row_to_message(r) for r in rows])
                ),
            )
        return page, cursor

    def _catch_up(self, index: fulltext.SQLiteIndex) -> None:
        """Index SQLite's messages written since its index's watermark (fewer
        than :data:`~flask_chatroom.backends.fulltext.SQLITE_PENDING`), so a
        search finds everything committed before it."""
        if self.engine.dialect.name not in self.direct_dialects:
            with self.engine.begin() as conn:
                index.catch_up(conn)
            return
        with self._driver() as (raw, cursor):
            try:
                cursor.execute("BEGIN IMMEDIATE")
                index.catch_up_direct(cursor, "?")
                raw.commit()
            except BaseException:
                raw.rollback()
                raise

    def history(
        self, room: str, *, before: int | None = None, limit: int = 50
    ) -> tuple[list[Message], bool]:
        self._ensure_schema()
        query = select(messages_table).where(messages_table.c.room == room)
        if before is not None:
            query = query.where(messages_table.c.seq < before)
        query = query.order_by(messages_table.c.seq.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            page = [_row_to_message(row) for row in rows[:limit]]
            page.reverse()
            page = _complete(conn, room, page)
        return page, len(rows) > limit

    def since(
        self, room: str, seq: int, *, limit: int = 500
    ) -> tuple[list[Message], bool]:
        self._ensure_schema()
        query = (
            select(messages_table)
            .where(messages_table.c.room == room, messages_table.c.seq > seq)
            .order_by(messages_table.c.seq)
            .limit(limit + 1)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            page = [_row_to_message(row) for row in rows[:limit]]
            page = _complete(conn, room, page)
        return page, len(rows) > limit

    def get(self, message_id: str) -> Message | None:
        self._ensure_schema()
        if self.engine.dialect.name in self.direct_dialects:
            return self._get_direct(message_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(messages_table).where(messages_table.c.id == message_id)
            ).first()
            if row is None:
                return None
            return _complete(conn, row.room, [_row_to_message(row)])[0]

    def messages(self, room: str) -> Iterator[Message]:
        self._ensure_schema()
        last = 0
        while True:
            page, more = self.since(room, last, limit=1000)
            yield from page
            if not more or not page:
                return
            last = page[-1].seq or last

    def rooms(self) -> list[str]:
        self._ensure_schema()
        with self.engine.connect() as conn:
            return list(conn.execute(select(rooms_table.c.room)).scalars())

    def count(self) -> int:
        """How many messages are stored (all rooms)."""
        self._ensure_schema()
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(messages_table)
                ).scalar_one()
            )

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer_cursor.close()
                self._writer.close()
                self._writer = self._writer_cursor = None
        if self._engine is not None:
            self._engine.dispose()


def _rooms_of_query() -> Any:
    return (
        select(room_info_table)
        .join(members_table, members_table.c.room == room_info_table.c.room)
        .where(members_table.c.user_id == bindparam("user_id"))
    )


def _unread_query() -> Any:
    """Each asked-for room's last ``seq``, the user's read marker in it and the
    mentions of the user after the marker, in one statement."""
    markers = read_markers_table
    read = func.coalesce(markers.c.seq, 0)
    mentions = (
        select(func.count())
        .select_from(mentions_table)
        .where(
            mentions_table.c.user_id == bindparam("user_id"),
            mentions_table.c.room == rooms_table.c.room,
            mentions_table.c.seq > read,
        )
        .scalar_subquery()
    )
    return (
        select(rooms_table.c.room, rooms_table.c.last_seq, read, mentions)
        .select_from(
            rooms_table.outerjoin(
                markers,
                and_(
                    markers.c.room == rooms_table.c.room,
                    markers.c.user_id == bindparam("user_id"),
                ),
            )
        )
        .where(rooms_table.c.room.in_(bindparam("rooms", expanding=True)))
    )


# Built once: the room list asks both at every connect, and building a statement
# cost SQLAlchemy several times what SQLite takes to answer it (the compiled form
# is cached per statement object and its parameters' shape).
_ROOMS_OF = _rooms_of_query()
_UNREAD = _unread_query()


def _room_info(row: Any) -> RoomInfo:
    return RoomInfo(
        room=row.room,
        kind=row.kind,
        title=row.title,
        created_by=row.created_by,
        created_ts=row.created_ts,
        dm_members=tuple(json.loads(row.dm_members)) if row.dm_members else (),
    )


def _insert_new(conn: Any, table: Table, row: dict[str, Any]) -> bool:
    """Insert *row* unless a row with its primary key exists (also when another
    transaction inserts it at the same moment); returns whether it did."""
    key = [column == row[column.name] for column in table.primary_key.columns]
    if conn.execute(select(*table.primary_key.columns).where(*key)).first():
        return False
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**row))
    except IntegrityError:  # another writer inserted it just now
        return False
    return True


class SQLConversations(Conversations):
    """Rooms, members, read markers and blocks in the database of *store*,
    through its engine; the store's ``add`` and ``add_many`` write the mentions.

    :param store: the message store whose database (and schema) it shares.
    """

    #: The dialects whose ``INSERT ... ON CONFLICT DO UPDATE`` moves a read
    #: marker in one statement; other databases take a conditional ``UPDATE``.
    upsert_dialects: frozenset[str] = frozenset({"sqlite", "postgresql"})

    def __init__(self, store: SQLStore) -> None:
        self._store = store

    @property
    def engine(self) -> Engine:
        """The store's engine (its schema checked on first use)."""
        self._store._ensure_schema()
        return self._store.engine

    # -- rooms -------------------------------------------------------------------

    @staticmethod
    def _info(conn: Any, room: str) -> RoomInfo | None:
        row = conn.execute(
            select(room_info_table).where(room_info_table.c.room == room)
        ).first()
        return _room_info(row) if row is not None else None

    def create_room(
        self,
        room: str,
        kind: str,
        created_by: str | None = None,
        title: str | None = None,
    ) -> RoomInfo:
        check_new_room(room, kind)
        with self.engine.begin() as conn:
            row = {
                "room": room,
                "kind": kind,
                "title": title,
                "created_by": created_by,
                "created_ts": now_ms(),
            }
            _insert_new(conn, room_info_table, row)
            info = self._info(conn, room)
        assert info is not None
        return info

    def room_info(self, room: str) -> RoomInfo | None:
        with self.engine.connect() as conn:
            return self._info(conn, room)

    def dm_room(
        self, user_ids: Collection[str], *, created_by: str | None = None
    ) -> str:
        members = dm_members(user_ids)
        key = dm_key(members)
        by_key = select(room_info_table.c.room).where(room_info_table.c.dm_key == key)
        with self.engine.begin() as conn:
            room: str | None = conn.execute(by_key).scalar()
            if room is not None:
                return room
            room = DM_PREFIX + uuid.uuid4().hex
            ts = now_ms()
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(room_info_table).values(
                            room=room,
                            kind="dm",
                            created_by=created_by,
                            created_ts=ts,
                            dm_key=key,
                            dm_members=json.dumps(members, ensure_ascii=False),
                        )
                    )
                    conn.execute(
                        insert(members_table),
                        [{"room": room, "user_id": u, "ts": ts} for u in members],
                    )
            except IntegrityError:  # another process made it just now
                room = conn.execute(by_key).scalar_one()
        return room

    # -- members -----------------------------------------------------------------

    def add_member(self, room: str, user_id: str) -> bool:
        with self.engine.begin() as conn:
            if self._info(conn, room) is None:
                raise KeyError(room)
            return _insert_new(
                conn, members_table, {"room": room, "user_id": user_id, "ts": now_ms()}
            )

    def remove_member(self, room: str, user_id: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(members_table).where(
                    members_table.c.room == room, members_table.c.user_id == user_id
                )
            )
        return bool(result.rowcount)

    def is_member(self, room: str, user_id: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(members_table.c.room).where(
                    members_table.c.room == room, members_table.c.user_id == user_id
                )
            ).first()
        return row is not None

    def members(self, room: str) -> list[str]:
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(members_table.c.user_id).where(members_table.c.room == room)
            ).scalars()
            return sorted(ids)

    def rooms_of(self, user_id: str) -> list[RoomInfo]:
        with self.engine.connect() as conn:
            rooms = [
                _room_info(row) for row in conn.execute(_ROOMS_OF, {"user_id": user_id})
            ]
        return sorted(rooms, key=lambda info: info.room)

    # -- read state --------------------------------------------------------------

    def mark_read(self, user_id: str, room: str, seq: int) -> int:
        if seq < 0:
            raise ValueError("a read marker is a seq, 0 or more")
        markers = read_markers_table
        mine = (markers.c.user_id == user_id, markers.c.room == room)
        with self.engine.begin() as conn:
            last = conn.execute(
                select(rooms_table.c.last_seq).where(rooms_table.c.room == room)
            ).scalar()
            seq = min(seq, int(last or 0))
            dialect = conn.dialect.name
            if dialect in self.upsert_dialects:
                upsert = (postgresql if dialect == "postgresql" else sqlite).insert
                newest = func.greatest if dialect == "postgresql" else func.max
                statement = upsert(markers).values(user_id=user_id, room=room, seq=seq)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[markers.c.user_id, markers.c.room],
                        set_={"seq": newest(markers.c.seq, statement.excluded.seq)},
                    )
                )
            else:
                # Forward only: the WHERE clause is what keeps it from going back.
                forward = update(markers).where(*mine, markers.c.seq < seq)
                forward = forward.values(seq=seq)
                row = {"user_id": user_id, "room": room, "seq": seq}
                moved = conn.execute(forward).rowcount
                if not moved and not _insert_new(conn, markers, row):
                    conn.execute(forward)  # the row exists, or was made just now
            return int(conn.execute(select(markers.c.seq).where(*mine)).scalar_one())

    def read_markers(self, user_id: str) -> dict[str, int]:
        markers = read_markers_table
        with self.engine.connect() as conn:
            query = select(markers.c.room, markers.c.seq)
            rows = conn.execute(query.where(markers.c.user_id == user_id)).all()
        return {room: int(seq) for room, seq in rows}

    def unread(self, user_id: str, rooms: Iterable[str]) -> dict[str, Unread]:
        wanted = list(dict.fromkeys(rooms))
        answer = {room: Unread(room, 0, 0, 0) for room in wanted}
        if not wanted:
            return answer
        with self.engine.connect() as conn:
            rows = conn.execute(_UNREAD, {"user_id": user_id, "rooms": wanted})
            for room, last, seq, count in rows:
                last, seq = int(last), int(seq)
                answer[room] = Unread(room, max(last - seq, 0), int(count), last)
        return answer

    # -- blocks ------------------------------------------------------------------

    def block(self, user_id: str, other_id: str) -> bool:
        if user_id == other_id:
            raise ValueError("a user cannot block themselves")
        row = {"user_id": user_id, "blocked_id": other_id, "ts": now_ms()}
        with self.engine.begin() as conn:
            return _insert_new(conn, blocks_table, row)

    def unblock(self, user_id: str, other_id: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(blocks_table).where(
                    blocks_table.c.user_id == user_id,
                    blocks_table.c.blocked_id == other_id,
                )
            )
        return bool(result.rowcount)

    def blocked(self, user_id: str) -> set[str]:
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    select(blocks_table.c.blocked_id).where(
                        blocks_table.c.user_id == user_id
                    )
                ).scalars()
            )


#: How long a removed upload's row stays for the daily quota (ms).
REMOVED_KEPT_MS = 2 * 24 * 3600 * 1000


def _upload(row: Any) -> Upload:
    return Upload(
        attachment=Attachment.from_wire(json.loads(row.data)),
        room=row.room,
        uploader_id=row.uploader_id,
        ts=row.ts,
        inline=bool(row.served_inline),
        thumbnail=bool(row.thumbnail),
        message_id=row.message_id,
    )


class SQLUploads(Uploads):
    """Uploads in ``chatroom_attachments``, beside the messages that claim
    them (:meth:`SQLStore.add` claims them in the message's transaction)."""

    def __init__(self, store: SQLStore) -> None:
        self._store = store

    @property
    def engine(self) -> Engine:
        """The store's engine (schema made on first use)."""
        self._store._ensure_schema()
        return self._store.engine

    def add(self, upload: Upload) -> None:
        attachment = upload.attachment
        with self.engine.begin() as conn:
            conn.execute(
                insert(attachments_table).values(
                    id=upload.id,
                    room=upload.room,
                    uploader_id=upload.uploader_id,
                    ts=upload.ts,
                    size=attachment.size,
                    data=json.dumps(attachment.to_wire(), ensure_ascii=False),
                    served_inline=upload.inline,
                    thumbnail=upload.thumbnail,
                    message_id=upload.message_id,
                    removed=False,
                )
            )

    def get(self, upload_id: str) -> Upload | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(attachments_table).where(
                    attachments_table.c.id == upload_id,
                    attachments_table.c.removed.is_(False),
                )
            ).first()
        return None if row is None else _upload(row)

    def uploaded_since(self, uploader_id: str, ts: int) -> int:
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(attachments_table.c.size), 0)).where(
                    attachments_table.c.uploader_id == uploader_id,
                    attachments_table.c.ts >= ts,
                )
            ).scalar_one()
        return int(total)

    def expired(self, unsent_before: int, limit: int = 500) -> list[Upload]:
        carrier = messages_table.alias("carrier")
        kept = (
            select(carrier.c.id)
            .where(
                carrier.c.id == attachments_table.c.message_id,
                carrier.c.deleted.is_(False),
            )
            .exists()
        )
        query = (
            select(attachments_table)
            .where(
                attachments_table.c.removed.is_(False),
                (
                    attachments_table.c.message_id.is_(None)
                    & (attachments_table.c.ts < unsent_before)
                )
                | (attachments_table.c.message_id.is_not(None) & ~kept),
            )
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_upload(row) for row in conn.execute(query)]

    def remove(self, upload_ids: Collection[str]) -> None:
        ids = list(upload_ids)
        with self.engine.begin() as conn:
            if ids:
                conn.execute(
                    update(attachments_table)
                    .where(attachments_table.c.id.in_(ids))
                    .values(removed=True)
                )
            conn.execute(
                delete(attachments_table).where(
                    attachments_table.c.removed.is_(True),
                    attachments_table.c.ts < now_ms() - REMOVED_KEPT_MS,
                )
            )


class SQLFileStorage(FileStorage):
    """Files in ``chatroom_files``, in the chat's database: every process and
    machine that shares the database shares them (the default)."""

    def __init__(self, store: SQLStore) -> None:
        self._store = store

    @property
    def engine(self) -> Engine:
        """The store's engine (schema made on first use)."""
        self._store._ensure_schema()
        return self._store.engine

    def save(self, key: str, data: bytes) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(files_table).values(key=key, data=data))

    def load(self, key: str) -> bytes | None:
        with self.engine.connect() as conn:
            data = conn.execute(
                select(files_table.c.data).where(files_table.c.key == key)
            ).scalar()
        return None if data is None else bytes(data)

    def delete(self, keys: Collection[str]) -> None:
        if keys:
            with self.engine.begin() as conn:
                conn.execute(
                    delete(files_table).where(files_table.c.key.in_(list(keys)))
                )
