"""The full-text index of :class:`~flask_chatroom.backends.sql.SQLStore`: every
dialect-specific statement of search, so the store calls into it at a few
places (schema, insert, edit, delete, purge, search).

Each message's current text is indexed as
:func:`~flask_chatroom.search.index_text` computes it (folded in Python: case,
accents, CJK split into characters), and searches look up
:func:`~flask_chatroom.search.parse_query`'s folded words, so every database
finds the same messages as the in-memory store.

**SQLite** (:class:`SQLiteIndex`): the FTS5 table ``chatroom_search``, with
external content (``content='chatroom_messages'``) keyed by
``chatroom_messages.search_rowid`` (given at insert, one more than the largest;
SQLite's own rowid of a table without an ``INTEGER PRIMARY KEY`` may change on
``VACUUM``). The store's own statements keep it in step (no triggers: the
indexed value is computed in Python): an insert adds the folded text, an edit
deletes the old folded text and adds the new, a deletion or a purge deletes it.

.. warning::
   Never run FTS5's ``'rebuild'`` (nor ``'integrity-check'``) on
   ``chatroom_search``: they read the raw ``text`` of ``chatroom_messages``,
   while the index holds the folded text. A release that changes
   :func:`~flask_chatroom.search.fold` must bring a schema step that drops the
   index and indexes every message again (``'delete'`` needs the exact folded
   text that was added).

**PostgreSQL** (:class:`PostgresIndex`): ``chatroom_messages.search_vector``
(``tsvector``, null for a deleted message) with the GIN index
``ix_chatroom_messages_search``, written in the message's own ``INSERT`` or
``UPDATE``. The vector and the query are built in Python from the folded words
(``'word':1 'other':2``, ``'word':* & 'a' <-> 'b'``) and cast, not made by
``to_tsvector``/``to_tsquery``: PostgreSQL's parser depends on the database's
encoding and locale (a ``SQL_ASCII`` database drops every non-ASCII word), and
the words are already what search compares. Only letters and digits reach a
query, each quoted.

**Other databases** (:class:`LikeIndex`): ``chatroom_messages.search_text``
holds the folded words between spaces (`` cafe au lait ``), searched with one
``LIKE`` per term (``'% caf%'``) or phrase (``'% au lait %'``). It reads every
candidate row: slow on large rooms, but the same results.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, ClassVar

from sqlalchemy import Table, bindparam, inspect, text

from ..search import Query, index_text, words

#: The longest word PostgreSQL keeps in a ``tsvector`` (bytes); longer words
#: are not indexed (and a search for one finds nothing).
PG_MAX_WORD_BYTES = 2046
#: PostgreSQL keeps word positions up to this; later words share it.
PG_MAX_POSITION = 16383

_ROWS_PER_BATCH = 1000
_TS_CURSOR = re.compile(r"(\d{1,18}):([0-9A-Za-z_.\-]{1,45})")


def _columns(table: Table) -> str:
    return ", ".join(f"m.{column.name}" for column in table.columns)


def _quoted(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector(message_text: str) -> str:
    """The ``tsvector`` literal of *message_text*: each folded word with its
    positions (1, 2, ...)."""
    positions: dict[str, list[str]] = {}
    for position, word in enumerate(words(message_text), 1):
        if len(word) * 4 > PG_MAX_WORD_BYTES and len(word.encode()) > PG_MAX_WORD_BYTES:
            continue
        positions.setdefault(word, []).append(str(min(position, PG_MAX_POSITION)))
    return " ".join(
        f"{_quoted(word)}:{','.join(places)}" for word, places in positions.items()
    )


def tsquery(query: Query) -> str:
    """The ``tsquery`` literal of *query*'s words: terms as prefixes
    (``'caf':*``), phrases word after word (``'new' <-> 'york'``), all of them
    (``&``)."""
    parts = [f"{_quoted(term)}:*" for term in query.terms]
    parts += [
        " <-> ".join(_quoted(word) for word in phrase) for phrase in query.phrases
    ]
    return " & ".join(parts)


def fts5_query(query: Query) -> str:
    """The FTS5 ``MATCH`` text of *query*'s words: ``"caf"* AND "new york"``."""
    parts = ['"' + term.replace('"', '""') + '"*' for term in query.terms]
    parts += [
        '"' + " ".join(phrase).replace('"', '""') + '"' for phrase in query.phrases
    ]
    return " AND ".join(parts)


def _filters(query: Query, bound: dict[str, Any]) -> list[str]:
    """The SQL conditions of *query*'s sender and time filters (on ``m``)."""
    where = []
    if query.sender is not None:
        where.append("(m.user_id = :sender OR lower(m.sender_name) = lower(:sender))")
        bound["sender"] = query.sender
    if query.after is not None:
        where.append("m.ts >= :after")
        bound["after"] = query.after
    if query.before is not None:
        where.append("m.ts < :before")
        bound["before"] = query.before
    return where


class Index:
    """How a dialect keeps and searches the full-text index (this base:
    :class:`LikeIndex`'s interface; the hooks do nothing).

    The *Core* hooks run in a SQLAlchemy connection's transaction, the
    *driver* hooks on a DB-API cursor with placeholder *mark* (the store's
    driver path, SQLite and PostgreSQL only).
    """

    #: The name of this index kind.
    kind: ClassVar[str] = "none"
    #: The column of ``chatroom_messages`` the message's INSERT also sets.
    column: ClassVar[str] = ""

    def create(self, conn: Any) -> None:
        """Create what the index needs and index the messages not indexed yet,
        in *conn*'s transaction (idempotent)."""

    # -- the driver path ------------------------------------------------------

    def insert_value(self, mark: str) -> str:
        """The SQL value of :attr:`column` in a message's INSERT."""
        return mark

    def batch(self, cursor: Any, mark: str) -> Batch:
        """The index's part of one transaction's new messages."""
        return Batch()

    def edited_direct(
        self, cursor: Any, mark: str, message_id: str, old: str, new: str
    ) -> None:
        """After a message's text changed from *old* to *new*."""

    def deleted_direct(self, cursor: Any, mark: str, message_id: str, old: str) -> None:
        """After a message with text *old* was marked deleted."""

    # -- the SQLAlchemy Core path ---------------------------------------------------

    def added(self, conn: Any, message_id: str, message_text: str) -> None:
        """After a message's INSERT (which did not set :attr:`column`)."""

    def edited(self, conn: Any, message_id: str, old: str, new: str) -> None:
        """After a message's text changed from *old* to *new*."""

    def deleted(self, conn: Any, message_id: str, old: str) -> None:
        """After a message with text *old* was marked deleted."""

    def purging(self, conn: Any, older_than_ts: int) -> None:
        """Before the messages older than *older_than_ts* are deleted."""

    # -- search -------------------------------------------------------------------

    def search(
        self,
        conn: Any,
        table: Table,
        query: Query,
        rooms: Collection[str],
        before: str | None,
        limit: int,
    ) -> tuple[list[Any], str | None]:
        """The rows of *table* (``chatroom_messages``) in *rooms* that match
        *query*, newest first, not deleted, after the cursor *before*: at most
        *limit*, and the cursor of the next page (``None`` at the end).

        :raises ValueError: *before* is not a cursor of this index.
        """
        raise NotImplementedError(self.kind)


class Batch:
    """The index's part of the messages one driver-path transaction adds
    (this base: nothing)."""

    def params(self, message_text: str) -> tuple[Any, ...]:
        """The parameters of :meth:`Index.insert_value` in the INSERT of a
        message with text *message_text*."""
        return ()

    def flush(self) -> None:
        """After the transaction's INSERTs, before it commits."""


class _Values(Batch):
    """Each message's :attr:`Index.column` computed from its text."""

    def __init__(self, value: Callable[[str], Any]) -> None:
        self.value = value

    def params(self, message_text: str) -> tuple[Any, ...]:
        return (self.value(message_text),)


#: How many messages SQLite's index may lag behind (see :class:`SQLiteIndex`).
SQLITE_PENDING = 64
#: The ``chatroom_meta`` key of the last ``search_rowid`` SQLite's index holds.
INDEXED_KEY = "search_indexed"
_WATERMARK = (
    f"(SELECT CAST(value AS INTEGER) FROM chatroom_meta WHERE key = '{INDEXED_KEY}')"
)


class _SQLiteBatch(Batch):
    """Gives each message the next ``search_rowid`` (read once, with the
    index's watermark: SQLite has one writer at a time) and, once
    :data:`SQLITE_PENDING` messages wait, indexes them in one go."""

    def __init__(self, cursor: Any, mark: str) -> None:
        self.cursor, self.mark = cursor, mark
        self.last: int | None = None
        self.indexed = 0
        #: This transaction's new messages: search_rowid -> text.
        self.added: dict[int, str] = {}

    def params(self, message_text: str) -> tuple[Any, ...]:
        if self.last is None:
            self.cursor.execute(
                "SELECT COALESCE(MAX(search_rowid), 0), "
                f"COALESCE({_WATERMARK}, 0) FROM chatroom_messages"
            )
            last, indexed = self.cursor.fetchone()
            self.last, self.indexed = int(last), int(indexed)
        self.last += 1
        self.added[self.last] = message_text
        return (self.last,)

    def flush(self) -> None:
        if self.last is not None and self.last - self.indexed >= SQLITE_PENDING:
            SQLiteIndex.catch_up_direct(self.cursor, self.mark, self.added)


def _missing(conn: Any, column: str) -> bool:
    return column not in {
        c["name"] for c in inspect(conn).get_columns("chatroom_messages")
    }


def _ts_cursor(before: str | None, bound: dict[str, Any]) -> list[str]:
    """The condition for rows after the ``ts:id`` cursor *before*."""
    if before is None:
        return []
    found = _TS_CURSOR.fullmatch(before)
    if found is None:
        raise ValueError(f"{before!r} is not a search cursor of this store.")
    bound["cursor_ts"], bound["cursor_id"] = int(found[1]), found[2]
    return ["(m.ts < :cursor_ts OR (m.ts = :cursor_ts AND m.id < :cursor_id))"]


def _newest_first(
    conn: Any,
    table: Table,
    where: list[str],
    bound: dict[str, Any],
    rooms: Collection[str],
    limit: int,
) -> tuple[list[Any], str | None]:
    """The rows that meet *where*, by ``ts`` and ``id``, newest first."""
    statement = text(
        f"SELECT {_columns(table)} FROM chatroom_messages m "
        f"WHERE {' AND '.join(where)} AND m.room IN :rooms AND m.deleted = :no "
        "ORDER BY m.ts DESC, m.id DESC LIMIT :limit"
    ).bindparams(bindparam("rooms", expanding=True))
    rows = conn.execute(
        statement, {**bound, "rooms": list(rooms), "no": False, "limit": limit + 1}
    ).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], f"{last.ts}:{last.id}"


class LikeIndex(Index):
    """``chatroom_messages.search_text``: the folded words between spaces,
    searched with ``LIKE`` (any database; it reads every candidate row)."""

    kind = "like"
    column = "search_text"

    @staticmethod
    def _value(message_text: str) -> str:
        return f" {index_text(message_text)} "

    def create(self, conn: Any) -> None:
        if not _missing(conn, "search_text"):
            return
        conn.execute(text("ALTER TABLE chatroom_messages ADD COLUMN search_text TEXT"))
        for rows in _unindexed(conn, "search_text IS NULL"):
            conn.execute(
                text(
                    "UPDATE chatroom_messages SET search_text = :value WHERE id = :id"
                ),
                [{"id": row.id, "value": self._value(row.text)} for row in rows],
            )

    def batch(self, cursor: Any, mark: str) -> Batch:
        return _Values(self._value)

    def edited_direct(
        self, cursor: Any, mark: str, message_id: str, old: str, new: str
    ) -> None:
        cursor.execute(
            f"UPDATE chatroom_messages SET search_text = {mark} WHERE id = {mark}",
            (self._value(new), message_id),
        )

    def deleted_direct(self, cursor: Any, mark: str, message_id: str, old: str) -> None:
        cursor.execute(
            f"UPDATE chatroom_messages SET search_text = NULL WHERE id = {mark}",
            (message_id,),
        )

    def added(self, conn: Any, message_id: str, message_text: str) -> None:
        self.edited(conn, message_id, "", message_text)

    def edited(self, conn: Any, message_id: str, old: str, new: str) -> None:
        conn.execute(
            text("UPDATE chatroom_messages SET search_text = :value WHERE id = :id"),
            {"value": self._value(new), "id": message_id},
        )

    def deleted(self, conn: Any, message_id: str, old: str) -> None:
        conn.execute(
            text("UPDATE chatroom_messages SET search_text = NULL WHERE id = :id"),
            {"id": message_id},
        )

    def search(
        self,
        conn: Any,
        table: Table,
        query: Query,
        rooms: Collection[str],
        before: str | None,
        limit: int,
    ) -> tuple[list[Any], str | None]:
        bound: dict[str, Any] = {}
        where = []
        # Words are letters and digits only: nothing in them is a LIKE wildcard.
        patterns = [f"% {term}%" for term in query.terms]
        patterns += [f"% {' '.join(phrase)} %" for phrase in query.phrases]
        for i, pattern in enumerate(patterns):
            where.append(f"m.search_text LIKE :like{i}")
            bound[f"like{i}"] = pattern
        where += _filters(query, bound) + _ts_cursor(before, bound)
        return _newest_first(conn, table, where, bound, rooms, limit)


class PostgresIndex(Index):
    """``chatroom_messages.search_vector`` (``tsvector``) with a GIN index."""

    kind = "postgresql"
    column = "search_vector"

    def create(self, conn: Any) -> None:
        if _missing(conn, "search_vector"):
            conn.execute(
                text(
                    "ALTER TABLE chatroom_messages "
                    "ADD COLUMN IF NOT EXISTS search_vector tsvector"
                )
            )
            for rows in _unindexed(conn, "search_vector IS NULL"):
                conn.execute(
                    text(
                        "UPDATE chatroom_messages SET search_vector = "
                        "CAST(:vector AS tsvector) WHERE id = :id"
                    ),
                    [{"id": row.id, "vector": tsvector(row.text)} for row in rows],
                )
        conn.execute(
            text(
                "CREATE INDEX IF NOT EXISTS ix_chatroom_messages_search "
                "ON chatroom_messages USING gin (search_vector)"
            )
        )

    def insert_value(self, mark: str) -> str:
        return f"CAST({mark} AS tsvector)"

    def batch(self, cursor: Any, mark: str) -> Batch:
        return _Values(tsvector)

    def edited_direct(
        self, cursor: Any, mark: str, message_id: str, old: str, new: str
    ) -> None:
        cursor.execute(
            "UPDATE chatroom_messages SET search_vector = "
            f"CAST({mark} AS tsvector) WHERE id = {mark}",
            (tsvector(new), message_id),
        )

    def deleted_direct(self, cursor: Any, mark: str, message_id: str, old: str) -> None:
        cursor.execute(
            f"UPDATE chatroom_messages SET search_vector = NULL WHERE id = {mark}",
            (message_id,),
        )

    def added(self, conn: Any, message_id: str, message_text: str) -> None:
        self.edited_direct(_CoreCursor(conn), "%s", message_id, "", message_text)

    def edited(self, conn: Any, message_id: str, old: str, new: str) -> None:
        self.edited_direct(_CoreCursor(conn), "%s", message_id, old, new)

    def deleted(self, conn: Any, message_id: str, old: str) -> None:
        self.deleted_direct(_CoreCursor(conn), "%s", message_id, old)

    def search(
        self,
        conn: Any,
        table: Table,
        query: Query,
        rooms: Collection[str],
        before: str | None,
        limit: int,
    ) -> tuple[list[Any], str | None]:
        bound: dict[str, Any] = {"match": tsquery(query)}
        where = ["m.search_vector @@ CAST(:match AS tsquery)"]
        where += _filters(query, bound) + _ts_cursor(before, bound)
        return _newest_first(conn, table, where, bound, rooms, limit)


def _unindexed(conn: Any, condition: str, key: str = "NULL") -> Iterator[Sequence[Any]]:
    """The not deleted messages that meet *condition*, a batch at a time, in
    ``ts`` order: ``id``, ``text``, ``ts`` and *key* as ``search_key``."""
    after: tuple[int, str] = (-(2**62), "")
    while True:
        rows = conn.execute(
            text(
                f"SELECT id, text, ts, {key} AS search_key FROM chatroom_messages "
                f"WHERE {condition} AND deleted = :no "
                "AND (ts > :ts OR (ts = :ts AND id > :id)) "
                "ORDER BY ts, id LIMIT :limit"
            ),
            {"no": False, "ts": after[0], "id": after[1], "limit": _ROWS_PER_BATCH},
        ).all()
        if not rows:
            return
        yield rows
        after = (rows[-1].ts, rows[-1].id)


class _CoreCursor:
    """A SQLAlchemy connection as a DB-API cursor, for the driver hooks' SQL."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.result: Any = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.result = self.conn.exec_driver_sql(sql, tuple(params))

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        if rows:
            self.conn.exec_driver_sql(sql, [tuple(row) for row in rows])

    def fetchone(self) -> Any:
        return self.result.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self.result.fetchall())


class SQLiteIndex(Index):
    """The FTS5 table ``chatroom_search`` over ``chatroom_messages``, keyed by
    ``chatroom_messages.search_rowid``."""

    kind = "sqlite"
    column = "search_rowid"

    #: What the Core path sets a new message's ``search_rowid`` to (SQLite has
    #: one writer at a time: the largest is the last one given).
    NEXT_ROWID = "(SELECT COALESCE(MAX(search_rowid), 0) + 1 FROM chatroom_messages)"

    def create(self, conn: Any) -> None:
        watermark = conn.execute(
            text("SELECT value FROM chatroom_meta WHERE key = :key"),
            {"key": INDEXED_KEY},
        ).first()
        if watermark is None:
            conn.execute(
                text("INSERT INTO chatroom_meta (key, value) VALUES (:key, '0')"),
                {"key": INDEXED_KEY},
            )
        if _missing(conn, "search_rowid"):
            conn.execute(
                text("ALTER TABLE chatroom_messages ADD COLUMN search_rowid INTEGER")
            )
        conn.execute(
            text(
                "CREATE UNIQUE INDEX IF NOT EXISTS ix_chatroom_messages_search_rowid "
                "ON chatroom_messages (search_rowid)"
            )
        )
        conn.execute(
            text(
                "CREATE VIRTUAL TABLE IF NOT EXISTS chatroom_search USING fts5("
                "text, content='chatroom_messages', content_rowid='search_rowid', "
                "tokenize='unicode61 remove_diacritics 0', columnsize=0)"
            )
        )
        # Messages without a search_rowid (from before version 5) get one in
        # the order they were written; then every message past the watermark
        # is indexed (all of them after a migration, at most a few otherwise).
        if (
            conn.execute(
                text(
                    "SELECT 1 FROM chatroom_messages WHERE search_rowid IS NULL LIMIT 1"
                )
            ).first()
            is None
        ):
            self.catch_up(conn)
            return
        conn.execute(
            text(
                "UPDATE chatroom_messages SET search_rowid = numbered.n "
                "FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY ts, room, seq) + "
                "(SELECT COALESCE(MAX(search_rowid), 0) FROM chatroom_messages) AS n "
                "FROM chatroom_messages WHERE search_rowid IS NULL) AS numbered "
                "WHERE chatroom_messages.id = numbered.id"
            )
        )
        self.catch_up(conn)

    @staticmethod
    def catch_up_direct(
        cursor: Any, mark: str, known: dict[int, str] | None = None
    ) -> int:
        """Index the messages written since the watermark (those not deleted,
        by their current text) and move the watermark to the last, inside
        the caller's transaction; returns how many were looked at.

        :param known: messages this transaction added (``search_rowid`` ->
            text), the last ones written: not read back.
        """
        cursor.execute(f"SELECT COALESCE({_WATERMARK}, 0)")
        indexed = int(cursor.fetchone()[0])
        seen = 0
        insert = f"INSERT INTO chatroom_search (rowid, text) VALUES ({mark}, {mark})"
        # The messages written before this transaction that still wait.
        before = f" AND search_rowid < {min(known):d}" if known else ""
        while True:
            cursor.execute(
                "SELECT search_rowid, text, deleted FROM chatroom_messages "
                f"WHERE search_rowid > {mark}{before} "
                f"ORDER BY search_rowid LIMIT {mark}",
                (indexed, _ROWS_PER_BATCH),
            )
            rows = cursor.fetchall()
            if not rows:
                break
            cursor.executemany(
                insert,
                [(key, index_text(body)) for key, body, deleted in rows if not deleted],
            )
            indexed = int(rows[-1][0])
            seen += len(rows)
        if known:
            cursor.executemany(
                insert, [(key, index_text(body)) for key, body in known.items()]
            )
            indexed = max(known)
            seen += len(known)
        if seen:
            cursor.execute(
                f"UPDATE chatroom_meta SET value = {mark} WHERE key = {mark}",
                (str(indexed), INDEXED_KEY),
            )
        return seen

    def catch_up(self, conn: Any) -> int:
        """:meth:`catch_up_direct` in a SQLAlchemy connection's transaction."""
        return self.catch_up_direct(_CoreCursor(conn), "?")

    @staticmethod
    @functools.cache
    def _statements(mark: str) -> dict[str, str]:
        # VALUES with scalar subqueries: INSERT ... SELECT into an FTS5 table
        # costs five times as much.
        # Only a message the index holds (at or below the watermark) is in
        # it; a later one is indexed as it is at the next catch-up.
        rowid_of = (
            f"(SELECT search_rowid FROM chatroom_messages WHERE id = {mark} "
            f"AND search_rowid <= {_WATERMARK})"
        )
        return {
            "remove": "INSERT INTO chatroom_search (chatroom_search, rowid, text) "
            f"SELECT 'delete', {rowid_of}, {mark} WHERE {rowid_of} IS NOT NULL",
            "readd": "INSERT INTO chatroom_search (rowid, text) "
            f"SELECT {rowid_of}, {mark} WHERE {rowid_of} IS NOT NULL",
        }

    def batch(self, cursor: Any, mark: str) -> Batch:
        return _SQLiteBatch(cursor, mark)

    def edited_direct(
        self, cursor: Any, mark: str, message_id: str, old: str, new: str
    ) -> None:
        sql = self._statements(mark)
        cursor.execute(sql["remove"], (message_id, index_text(old), message_id))
        cursor.execute(sql["readd"], (message_id, index_text(new), message_id))

    def deleted_direct(self, cursor: Any, mark: str, message_id: str, old: str) -> None:
        cursor.execute(
            self._statements(mark)["remove"], (message_id, index_text(old), message_id)
        )

    def added(self, conn: Any, message_id: str, message_text: str) -> None:
        conn.execute(
            text(
                f"UPDATE chatroom_messages SET search_rowid = {self.NEXT_ROWID} "
                "WHERE id = :id"
            ),
            {"id": message_id},
        )
        # Indexed by the next catch-up, as on the driver path.
        row = conn.execute(
            text(
                f"SELECT MAX(search_rowid) - COALESCE({_WATERMARK}, 0) "
                "FROM chatroom_messages"
            )
        ).scalar()
        if int(row or 0) >= SQLITE_PENDING:
            self.catch_up(conn)

    def edited(self, conn: Any, message_id: str, old: str, new: str) -> None:
        self.edited_direct(_CoreCursor(conn), "?", message_id, old, new)

    def deleted(self, conn: Any, message_id: str, old: str) -> None:
        self.deleted_direct(_CoreCursor(conn), "?", message_id, old)

    def purging(self, conn: Any, older_than_ts: int) -> None:
        after = 0
        while True:
            rows = conn.execute(
                text(
                    "SELECT search_rowid, text FROM chatroom_messages "
                    "WHERE ts < :ts AND deleted = :no AND search_rowid > :after "
                    f"AND search_rowid <= {_WATERMARK} "
                    "ORDER BY search_rowid LIMIT :limit"
                ),
                {
                    "ts": older_than_ts,
                    "no": False,
                    "after": after,
                    "limit": _ROWS_PER_BATCH,
                },
            ).all()
            if not rows:
                return
            conn.execute(
                text(
                    "INSERT INTO chatroom_search (chatroom_search, rowid, text) "
                    "VALUES ('delete', :key, :text)"
                ),
                [
                    {"key": row.search_rowid, "text": index_text(row.text)}
                    for row in rows
                ],
            )
            after = rows[-1].search_rowid

    def search(
        self,
        conn: Any,
        table: Table,
        query: Query,
        rooms: Collection[str],
        before: str | None,
        limit: int,
    ) -> tuple[list[Any], str | None]:
        bound: dict[str, Any] = {
            "match": fts5_query(query),
            "rooms": list(rooms),
            "no": False,
            "limit": limit + 1,
        }
        where = _filters(query, bound)
        if before is not None:
            if not before.isdigit() or len(before) > 18:
                raise ValueError(f"{before!r} is not a search cursor of this store.")
            where.append("s.rowid < :cursor")
            bound["cursor"] = int(before)
        # FTS5 hands its matches over newest (largest rowid) first, so LIMIT
        # stops the scan early; CROSS JOIN keeps that order as the outer loop.
        statement = text(
            f"SELECT {_columns(table)}, s.rowid AS search_key FROM chatroom_search s "
            "CROSS JOIN chatroom_messages m ON m.search_rowid = s.rowid "
            "WHERE chatroom_search MATCH :match AND m.room IN :rooms "
            f"AND m.deleted = :no {''.join(' AND ' + each for each in where)} "
            "ORDER BY s.rowid DESC LIMIT :limit"
        ).bindparams(bindparam("rooms", expanding=True))
        rows = conn.execute(statement, bound).all()
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], str(rows[limit - 1].search_key)


#: The index of each dialect that has one of its own.
NATIVE: dict[str, Index] = {"sqlite": SQLiteIndex(), "postgresql": PostgresIndex()}
#: The index of every other database.
LIKE = LikeIndex()


def index_for(dialect: str, native: bool = True) -> Index:
    """The index a database of *dialect* keeps: its own (:data:`NATIVE`) when
    it has one and *native*, else :data:`LIKE`."""
    return NATIVE.get(dialect, LIKE) if native else LIKE


def create(conn: Any, index: Index | None = None) -> None:
    """Create the full-text index of *conn*'s database (its dialect's own, or
    *index*) and index the messages not indexed yet, inside *conn*'s
    transaction; doing it again does nothing. Called by the store's
    ``init_schema`` (``metadata.create_all`` makes no FTS tables) and by the
    schema step 4 -> 5."""
    (index or index_for(conn.dialect.name)).create(conn)
