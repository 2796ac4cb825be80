"""Messages in a SQL database through SQLAlchemy Core.

A store assigns each message its per-room sequence number ``seq`` (1, 2, 3, ... with
no gaps or repeats) in the same transaction that saves it, so a message is only
acknowledged once it is committed. A message that carries a ``client_id`` is
stored once per sender: a retry returns the message as first stored.

:class:`SQLStore` works with any SQLAlchemy engine and is tested on SQLite (one
process; WAL mode) and PostgreSQL (any number of processes).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ..protocol import Message
from .interfaces import SCHEMA_VERSION, MessageStore, SchemaError
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
    UniqueConstraint("room", "seq", name="uq_chatroom_messages_room_seq"),
    UniqueConstraint("sender_id", "client_id", name="uq_chatroom_messages_client_id"),
    Index("ix_chatroom_messages_ts", "ts"),
)

rooms_table = Table(
    "chatroom_rooms",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

meta_table = Table(
    "chatroom_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)


_INSERT_MESSAGE = insert(messages_table)

_COLUMNS = (
    "id, room, seq, sender_id, sender_name, user_id, text, ts, client_id, deleted"
)


def _direct_sql(mark: str) -> dict[str, str]:
    """The statements of :meth:`SQLStore.add` for a driver whose placeholder is
    *mark*; the same as the SQLAlchemy Core ones."""
    return {
        "by_client_id": f"SELECT {_COLUMNS} FROM chatroom_messages "
        f"WHERE sender_id = {mark} AND client_id = {mark}",
        "next_seq": f"INSERT INTO chatroom_rooms (room, last_seq) VALUES ({mark}, 1) "
        "ON CONFLICT (room) DO UPDATE SET last_seq = chatroom_rooms.last_seq + 1 "
        "RETURNING last_seq",
        "insert": f"INSERT INTO chatroom_messages ({_COLUMNS}) "
        f"VALUES ({', '.join([mark] * 10)})",
    }


_DIRECT_SQL = {"sqlite": _direct_sql("?"), "postgresql": _direct_sql("%s")}


def _insert_direct(
    cursor: Any, sql: dict[str, str], message: Message
) -> tuple[Message, bool]:
    """Store *message* inside the caller's transaction: the message already
    stored under its ``client_id`` (and ``False``), or *message* with its
    ``seq`` (and ``True``)."""
    if message.client_id:
        cursor.execute(sql["by_client_id"], (message.sender_id, message.client_id))
        row = cursor.fetchone()
        if row is not None:
            return _row_to_message(_Row(*row)), False
    cursor.execute(sql["next_seq"], (message.room,))
    seq_row: Any = cursor.fetchone()
    stored = with_seq(message, int(seq_row[0]))
    cursor.execute(
        sql["insert"],
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
        ),
    )
    return stored, True


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
    )


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
    """Messages in a SQL database through SQLAlchemy Core.

    :param engine: the engine to use, or a function that returns it on first use
        (``lambda: db.engine`` with Flask-SQLAlchemy, whose engine needs an app
        context). For SQLite files make it with :func:`sqlite_engine`.
    """

    #: The dialects whose driver :meth:`add_many` talks to directly; every other
    #: database goes through SQLAlchemy Core (the same statements, portable).
    direct_dialects: frozenset[str] = frozenset(_DIRECT_SQL)

    def __init__(self, engine: Engine | Callable[[], Engine]) -> None:
        self._engine_source = engine
        self._engine = engine if isinstance(engine, Engine) else None
        self._ready = False
        self._lock = threading.Lock()
        self._writer: Any = None  # SQLite: the one connection that writes
        self._writer_cursor: Any = None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (resolved on first use)."""
        if self._engine is None:
            assert callable(self._engine_source)
            self._engine = self._engine_source()
        return self._engine

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

    def init_schema(self) -> None:
        """Create the tables and record the schema version (idempotent).

        :raises SchemaError: the database has a newer or older schema.
        """
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            version = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar()
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
            elif int(version) != SCHEMA_VERSION:
                raise SchemaError(
                    f"The chat database has schema version {version}; this version of "
                    f"flask-chatroom uses {SCHEMA_VERSION}. Run the migration for "
                    "your upgrade (see the storage docs)."
                )
        self._ready = True

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
        return _row_to_message(row) if row is not None else None

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
                stored = replace(message, seq=self._next_seq(conn, message.room))
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
                    },
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
            results = [_insert_direct(cursor, sql, message) for message in messages]
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
            raw.rollback()
            if row is None:
                raise
            return [(_row_to_message(_Row(*row)), False)]
        except BaseException:
            raw.rollback()
            raise

    def mark_deleted(self, message_id: str) -> Message | None:
        self._ensure_schema()
        with self.engine.begin() as conn:
            conn.execute(
                update(messages_table)
                .where(messages_table.c.id == message_id)
                .values(deleted=True, text="")
            )
            row = conn.execute(
                select(messages_table).where(messages_table.c.id == message_id)
            ).first()
        return _row_to_message(row) if row is not None else None

    def purge(self, older_than_ts: int) -> int:
        self._ensure_schema()
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(messages_table).where(messages_table.c.ts < older_than_ts)
            )
        return int(result.rowcount or 0)

    # -- reads -------------------------------------------------------------------

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
        return [_row_to_message(row) for row in rows[:limit]], len(rows) > limit

    def get(self, message_id: str) -> Message | None:
        self._ensure_schema()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(messages_table).where(messages_table.c.id == message_id)
            ).first()
        return _row_to_message(row) if row is not None else None

    def messages(self, room: str) -> Iterator[Message]:
        self._ensure_schema()
        last = 0
        while True:
            page, more = self.since(room, last, limit=1000)
            yield from page
            if not more or not page:
                return
            last = page[-1].seq or last

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
