"""Search in the message store (issue 16, the storage half): which messages a
search finds, newest first, page by page, as edits, deletions and purges leave
them, within the filters; and the migration that indexes the messages of a
version 4 database.

The same suite runs on the in-memory store, SQLite (FTS5) and PostgreSQL
(``tsvector``) on the driver path and on the SQLAlchemy Core path, and on the
``LIKE`` index of every other database (on SQLite)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from flask_chatroom import Message
from flask_chatroom.backends import fulltext
from flask_chatroom.backends import sql as sql_backend
from flask_chatroom.search import Query, parse_query
from flask_chatroom.store import (
    SCHEMA_VERSION,
    MemoryStore,
    MessageStore,
    SQLStore,
    sqlite_engine,
)

from . import test_conversations_store as shared
from .test_changes_store import make_version_3_database
from .test_conversations_store import (
    PortableSQLStore,
    engine_for,
    message,
    race,
    version_of,
)

database_url = shared.database_url

ROOMS = ["lobby", "dev", "random"]


class LikeSQLStore(PortableSQLStore):
    """The index of databases other than SQLite and PostgreSQL: a folded copy
    of each text, searched with ``LIKE``."""

    search_dialects = frozenset()


STORES = ["memory", "sqlite", "postgresql", "sqlite-core", "postgresql-core", "like"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    kind = {"core": PortableSQLStore, "like": LikeSQLStore}.get(
        request.param.rpartition("-")[2], SQLStore
    )
    made: SQLStore
    if request.param.startswith("postgresql"):
        made = kind(create_engine(request.getfixturevalue("postgres_url")))
    else:
        made = kind(sqlite_engine(f"sqlite:///{tmp_path / 'chat.sqlite3'}"))
    made.init_schema()
    yield made
    made.close()


class Clock:
    """Messages' ``ts``: one millisecond apart, in the order they are posted."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


def post(store: MessageStore, clock: Clock, text: str, **fields: Any) -> Message:
    fields.setdefault("ts", clock())
    stored, _ = store.add(message(text=text, **fields))
    return stored


def found(
    store: MessageStore, search: str, rooms: list[str] | None = None, **kwargs: Any
) -> list[str]:
    page, _ = store.search(
        parse_query(search), ROOMS if rooms is None else rooms, **kwargs
    )
    return [m.text for m in page]


def every_page(
    store: MessageStore, query: Query, limit: int, rooms: list[str] = ROOMS
) -> list[list[Message]]:
    pages = []
    cursor: str | None = None
    while True:
        page, cursor = store.search(query, rooms, before=cursor, limit=limit)
        pages.append(page)
        if cursor is None:
            return pages
        assert len(page) == limit


CORPUS = [
    "Café au lait this morning",
    "The cafeteria is closed",
    "CAFE QUIET",
    "東京都に行く",
    "京都の夏",
    "한국어를 배워요",
    "new york pizza is great",
    "york has new things",
    "naïve résumé",
    "snake_case and e-mail",
    "🎉 party 🎉",
    "nothing here",
]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        (
            "cafe",
            ["CAFE QUIET", "The cafeteria is closed", "Café au lait this morning"],
        ),
        (
            "CAFÉ",
            ["CAFE QUIET", "The cafeteria is closed", "Café au lait this morning"],
        ),
        ("cafe lait", ["Café au lait this morning"]),
        ("caf morn", ["Café au lait this morning"]),
        ("cafe zebra", []),
        ('"cafe"', ["CAFE QUIET", "Café au lait this morning"]),
        ("new york", ["york has new things", "new york pizza is great"]),
        ('"new york"', ["new york pizza is great"]),
        ('"york new"', []),
        ("東京", ["東京都に行く"]),
        ("京都", ["京都の夏", "東京都に行く"]),
        ("東都", []),
        ("京", ["京都の夏", "東京都に行く"]),
        ("한국", ["한국어를 배워요"]),
        ("국어를", ["한국어를 배워요"]),
        ("naive resume", ["naïve résumé"]),
        ("snake case", ["snake_case and e-mail"]),
        ("mail", ["snake_case and e-mail"]),
        ("party", ["🎉 party 🎉"]),
        ("pizz*", ["new york pizza is great"]),
        ("pizza* (york) -new +great:^", ["new york pizza is great"]),
        ('pizza OR "x', []),  # "or" and "x" are words too
        ("here's", ["nothing here"]),  # "s": one letter, dropped
        ("a", []),
        ("🎉", []),
        ("zzz", []),
    ],
)
def test_a_search_finds_exactly_the_matching_messages(
    store: MessageStore, search: str, expected: list[str]
) -> None:
    clock = Clock()
    for i, each in enumerate(CORPUS):
        post(store, clock, each, room=ROOMS[i % 2])
    assert found(store, search) == expected


def test_newest_first_page_by_page_none_twice_none_missed(store: MessageStore) -> None:
    clock = Clock()
    posted = [
        post(store, clock, f"ping number {i}", room=ROOMS[i % 3]) for i in range(23)
    ]
    post(store, clock, "pong")
    query = parse_query("ping")
    pages = every_page(store, query, limit=5)
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [m.id for page in pages for m in page] == [m.id for m in reversed(posted)]
    # A message posted between two pages is not in the later ones.
    first, cursor = store.search(query, ROOMS, limit=10)
    newer = post(store, clock, "ping again")
    rest, _ = store.search(query, ROOMS, before=cursor, limit=100)
    seen = [m.id for m in first + rest]
    assert len(seen) == len(set(seen)) == 23
    assert newer.id not in seen
    assert store.search(query, ROOMS, limit=1)[0][0].id == newer.id


def test_only_the_given_rooms(store: MessageStore) -> None:
    clock = Clock()
    for room in ["lobby", "dev", "secret"]:
        post(store, clock, f"hello from {room}", room=room)
    assert found(store, "hello", ["lobby", "secret"]) == [
        "hello from secret",
        "hello from lobby",
    ]
    assert found(store, "hello", []) == []
    assert found(store, "hello in:dev", ["lobby", "dev"]) == ["hello from dev"]
    # in: a room the user may not read finds nothing.
    assert found(store, "hello in:secret", ["lobby", "dev"]) == []


def test_many_readable_rooms(store: MessageStore) -> None:
    clock = Clock()
    rooms = [f"room-{i}" for i in range(400)]
    for room in rooms[::40]:
        post(store, clock, f"hello {room}", room=room)
    assert len(found(store, "hello", rooms)) == 10
    assert found(store, "hello", rooms[:41]) == ["hello room-40", "hello room-0"]


def test_deleted_messages_are_never_found(store: MessageStore) -> None:
    clock = Clock()
    kept = post(store, clock, "secret plans kept")
    gone = post(store, clock, "secret plans gone")
    assert store.delete(gone.id, "mod") is not None
    assert found(store, "secret") == [kept.text]
    assert found(store, '"plans gone"') == []
    # Deleting twice changes nothing.
    store.delete(gone.id, "mod")
    assert found(store, "secret") == [kept.text]


def test_an_edited_message_is_found_by_its_new_text_only(store: MessageStore) -> None:
    clock = Clock()
    first = post(store, clock, "meet at the café")
    post(store, clock, "the café is open")
    store.edit(first.id, "meet at the library", "ada")
    assert found(store, "library") == ["meet at the library"]
    assert found(store, "meet cafe") == []
    assert found(store, "cafe") == ["the café is open"]
    store.edit(first.id, "back to the café, Tokyo 東京", "ada")
    assert found(store, "library") == []
    assert found(store, "cafe") == ["the café is open", "back to the café, Tokyo 東京"]
    assert found(store, "東京 tokyo") == ["back to the café, Tokyo 東京"]
    # An edited then deleted message is gone too.
    store.delete(first.id, "ada")
    assert found(store, "cafe") == ["the café is open"]


def test_purged_messages_leave_the_index(store: MessageStore) -> None:
    clock = Clock(1000)
    old = [post(store, clock, f"ancient word {i}") for i in range(3)]
    store.edit(old[0].id, "ancient word edited", "ada")
    store.delete(old[1].id, "ada")
    clock.now = 10_000
    recent = post(store, clock, "recent word")
    assert store.purge(5000) == 3
    assert found(store, "ancient") == []
    assert found(store, "word") == [recent.text]
    # Messages go on being indexed after a purge.
    post(store, clock, "newest word")
    assert found(store, "word") == ["newest word", "recent word"]


def test_filters(store: MessageStore) -> None:
    clock = Clock()
    day = 86_400_000
    base = parse_query("during:2026-12-02 x").after
    assert base is not None
    post(store, clock, "lunch plans", ts=base - 1, user_id="ada", client="Ada")
    post(store, clock, "lunch today", ts=base, user_id="bob", client="Bob Smith")
    post(store, clock, "lunch later", ts=base + day - 1, user_id=None, client="guest7")
    post(store, clock, "lunch tomorrow", ts=base + day, user_id="ada", client="Ada")
    assert found(store, "lunch from:bob") == ["lunch today"]
    assert found(store, 'lunch from:"bob smith"') == ["lunch today"]
    assert found(store, "lunch from:BOB") == []  # an id is not a name
    assert found(store, "lunch from:Guest7") == ["lunch later"]
    assert found(store, "lunch from:ada") == ["lunch tomorrow", "lunch plans"]
    assert found(store, "lunch from:nobody") == []
    assert found(store, "lunch during:2026-12-02") == ["lunch later", "lunch today"]
    assert found(store, "lunch after:2026-12-02") == [
        "lunch tomorrow",
        "lunch later",
        "lunch today",
    ]
    assert found(store, "lunch before:2026-12-02") == ["lunch plans"]
    assert found(store, "lunch from:ada after:2026-12-02") == ["lunch tomorrow"]


def test_results_are_whole_messages(store: MessageStore) -> None:
    clock = Clock()
    original = post(store, clock, "the original question")
    answer = post(
        store,
        clock,
        "an answer for @bob",
        room="dev",
        mentions=("bob",),
        reply_to=None,
    )
    reply = post(store, clock, "a reply answer", reply_to=original.id)
    store.react(answer.id, "👍", "bob", True)
    page, _ = store.search(parse_query("answer"), ROOMS)
    assert [m.id for m in page] == [reply.id, answer.id]
    assert page[0].reply is not None and page[0].reply.id == original.id
    assert page[1].mentions == ("bob",)
    assert [(r.emoji, r.count) for r in page[1].reactions] == [("👍", 1)]
    assert page[1] == store.get(answer.id)


def test_a_cursor_of_another_kind_is_refused(store: MessageStore) -> None:
    clock = Clock()
    post(store, clock, "some words")
    with pytest.raises(ValueError, match="not a search cursor"):
        store.search(parse_query("words"), ROOMS, before="nonsense:")


def test_an_empty_search_finds_nothing(store: MessageStore) -> None:
    clock = Clock()
    post(store, clock, "anything")
    assert store.search(Query(sender="ada"), ROOMS) == ([], None)
    assert store.search(parse_query("anything"), ROOMS, limit=0) == ([], None)


# -- SQL only ------------------------------------------------------------------------


def sqlite_store(tmp_path: Path) -> SQLStore:
    made = SQLStore(sqlite_engine(f"sqlite:///{tmp_path / 'chat.sqlite3'}"))
    made.init_schema()
    return made


def test_sqlite_reads_matches_newest_first_without_sorting(tmp_path: Path) -> None:
    made = sqlite_store(tmp_path)
    made.add(message(text="warm up"))
    statements: list[str] = []
    with made.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.set_trace_callback(statements.append)
        fulltext.NATIVE["sqlite"].search(
            conn, sql_backend.messages_table, parse_query("warm"), ["lobby"], "9", 20
        )
        raw.set_trace_callback(None)
        [searched] = [each for each in statements if "MATCH" in each]
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {searched}").all()
    details = " / ".join(row[-1] for row in plan)
    assert "VIRTUAL TABLE INDEX" in details
    assert "search_rowid" in details
    assert "TEMP B-TREE" not in details, details
    made.close()


def test_core_writes_and_driver_reads_share_one_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    core = PortableSQLStore(sqlite_engine(url))
    core.init_schema()
    direct = SQLStore(sqlite_engine(url))
    clock = Clock()
    one = post(core, clock, "shared index one")
    post(direct, clock, "shared index two")
    core.edit(one.id, "shared index first", "ada")
    assert found(direct, "shared") == ["shared index two", "shared index first"]
    assert found(core, "one") == []
    direct.delete(one.id, "ada")
    assert found(core, "shared") == ["shared index two"]
    core.close()
    direct.close()


def test_sqlite_indexes_in_batches_and_searches_find_everything(
    tmp_path: Path,
) -> None:
    """SQLite's index lags at most SQLITE_PENDING messages behind the writes
    (each batch indexed in one go: one message at a time costs FTS5 a segment
    each); edits and deletions of messages on both sides of the watermark,
    a purge and a restart keep it exact, and a search catches up first."""
    made = sqlite_store(tmp_path)
    clock = Clock()
    pending = fulltext.SQLITE_PENDING
    posted = [post(made, clock, f"batch word{n % 7} n{n:03d}x") for n in range(150)]

    def watermark() -> int:
        with made.engine.connect() as conn:
            value = conn.exec_driver_sql(
                "SELECT value FROM chatroom_meta WHERE key = 'search_indexed'"
            ).scalar_one()
        return int(value)

    lag = 150 - watermark()
    assert 0 < lag < pending  # indexed in batches, the last one still waiting
    indexed, waiting = posted[10], posted[-1]
    made.edit(indexed.id, "batch renamed alpha", "ada")
    made.edit(waiting.id, "batch renamed omega", "ada")
    made.delete(posted[20].id, "ada")
    made.delete(posted[-2].id, "ada")
    assert found(made, "renamed") == ["batch renamed omega", "batch renamed alpha"]
    assert watermark() == 150  # the search caught up first
    assert found(made, "n010x") == found(made, "n149x") == []
    assert found(made, "n020x") == found(made, "n148x") == []
    assert found(made, "n011x") == ["batch word4 n011x"]
    assert len(found(made, "batch", limit=500)) == 148
    # Every word finds exactly the messages that hold it: nothing left over
    # from a deletion that missed, nothing missing.
    for n in range(7):
        expected = sorted(
            m.text
            for m in made.messages("lobby")
            if not m.deleted and f"word{n}" in m.text.split()
        )
        assert sorted(found(made, f"word{n}", limit=500)) == expected
    more = [post(made, clock, f"after restart {n}") for n in range(pending // 2)]
    made.close()
    again = sqlite_store(tmp_path)  # startup indexes what was waiting
    with again.engine.connect() as conn:
        value = conn.exec_driver_sql(
            "SELECT value FROM chatroom_meta WHERE key = 'search_indexed'"
        ).scalar_one()
    assert int(value) == 150 + len(more)
    assert len(found(again, "restart", limit=500)) == len(more)
    assert again.purge(clock.now + 1) == 150 + len(more)
    assert found(again, "batch") == found(again, "restart") == []
    again.close()


# -- the migration to schema version 5 -----------------------------------------------


def make_version_4_database(engine: Engine) -> None:
    """Version 3's database brought to version 4 by that release's own step."""
    make_version_3_database(engine)
    with engine.begin() as conn:
        sql_backend._migrate_3_to_4(conn)
        conn.execute(text("UPDATE chatroom_meta SET value = '4'"))


def test_migrating_to_version_5_indexes_the_messages(database_url: str) -> None:
    engine = engine_for(database_url)
    make_version_4_database(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("chatroom_messages")}
    assert not columns & {"search_rowid", "search_vector"}
    # Two processes' worth (two engines) migrate at the same moment.
    stores = [SQLStore(engine_for(database_url)) for _ in range(2)]
    assert 4 in race([each.migrate for each in stores])
    assert version_of(engine) == str(SCHEMA_VERSION)
    store = stores[0]
    everywhere = ["lobby", "dev"]
    # lobby1 "first", lobby2 deleted, lobby3 "third"; dev "dev one", "dev two".
    assert found(store, "dev", everywhere) == ["dev two", "dev one"]
    assert found(store, "first", everywhere) == ["first"]
    assert found(store, "third OR first", everywhere) == []
    page, _ = store.search(parse_query("third"), everywhere)
    assert [(m.id, m.seq, m.mentions) for m in page] == [("lobby3", 3, ("bob",))]
    # New messages come first; old ones can be edited and deleted.
    store.add(message(room="dev", text="dev three"))
    assert found(store, "dev", everywhere) == ["dev three", "dev two", "dev one"]
    store.edit("dev1", "renamed", "ada")
    store.delete("dev2", "ada")
    assert found(store, "dev", everywhere) == ["dev three"]
    assert found(stores[1], "renamed", everywhere) == ["renamed"]
    # Running it again does nothing (and indexes nothing twice).
    assert store.migrate() == SCHEMA_VERSION
    assert found(store, "dev", everywhere) == ["dev three"]
    for each in stores:
        each.close()
    engine.dispose()


# -- what reaches the databases -------------------------------------------------------


def test_the_index_texts_and_queries_are_built_from_folded_words() -> None:
    assert fulltext.tsvector("Café au lait, CAFÉ!") == "'cafe':1,4 'au':2 'lait':3"
    assert fulltext.tsvector("x" * 3000 + " ok") == "'ok':2"  # too long for PostgreSQL
    query = parse_query('caf* "new york" 東京')
    assert fulltext.tsquery(query) == "'caf':* & 'new' <-> 'york' & '東' <-> '京'"
    assert fulltext.fts5_query(query) == '"caf"* AND "new york" AND "東 京"'


def test_postgresql_finds_cjk_and_accents_in_a_sql_ascii_database(
    postgres_server: str,
) -> None:
    """PostgreSQL's own parser (``to_tsvector``) drops every non-ASCII word in
    a SQL_ASCII database (read as UTF-8 by the client): the index does not
    use it."""
    name = f"chat_ascii_{os.getpid()}"
    admin = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0 "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        )
    made = SQLStore(
        create_engine(
            f"{postgres_server}/{name}", connect_args={"client_encoding": "utf8"}
        )
    )
    try:
        made.init_schema()
        clock = Clock()
        post(made, clock, "東京都に行く")
        post(made, clock, "Ça va très bien")
        assert found(made, "東京") == ["東京都に行く"]
        assert found(made, "ca tres") == ["Ça va très bien"]
    finally:
        made.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
