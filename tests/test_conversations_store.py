"""The conversations store (rooms with a kind, DMs, members, read markers, unread
counts, mentions, blocks) and the schema migration that brings it: the in-memory
store, SQLite and PostgreSQL run the same suite, on both SQL write paths."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
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
    event,
    inspect,
    text,
)

from flask_chatroom import Message
from flask_chatroom.backends.select import conversations_of, make_store
from flask_chatroom.config import resolve
from flask_chatroom.protocol import is_valid_room_name
from flask_chatroom.store import (
    SCHEMA_VERSION,
    Conversations,
    MemoryStore,
    MessageStore,
    RoomInfo,
    SchemaError,
    SQLConversations,
    SQLStore,
    Unread,
    sqlite_engine,
)

from .conftest import make_app


def message(room: str = "lobby", text: str = "hi", **kwargs: Any) -> Message:
    fields: dict[str, Any] = {"client": "Ada", "sender_id": "ada", "user_id": "ada"}
    fields.update(kwargs)
    return Message(room=room, text=text, **fields)


def post(store: MessageStore, room: str, count: int, **kwargs: Any) -> list[Message]:
    return [store.add(message(room, f"{room} {i}", **kwargs))[0] for i in range(count)]


class PortableSQLStore(SQLStore):
    """Messages through SQLAlchemy Core statements, no driver shortcuts (the path
    of every database other than SQLite and PostgreSQL)."""

    direct_dialects = frozenset()


class PortableConversations(SQLConversations):
    """Read markers through the portable conditional ``UPDATE``, no upsert."""

    upsert_dialects = frozenset()


@dataclass
class Backend:
    """A message store, its conversations, and a way to open the same database
    again through another engine (what a second process would have)."""

    store: MessageStore
    conversations: Conversations
    reopen: Callable[[], tuple[MessageStore, Conversations]]
    engine: Engine | None = None


PARAMS = ["memory", "sqlite", "postgresql", "sqlite-portable", "postgresql-portable"]


@pytest.fixture(params=PARAMS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[MessageStore] = []
    if request.param == "memory":
        memory = MemoryStore()
        made = Backend(
            memory, memory.conversations, lambda: (memory, memory.conversations)
        )
        yield made
        return
    portable = request.param.endswith("portable")
    if request.param.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'chat.sqlite3'}"

        def engine() -> Engine:
            return sqlite_engine(url)
    else:
        url = request.getfixturevalue("postgres_url")

        def engine() -> Engine:
            return create_engine(url)

    def open_store() -> tuple[MessageStore, Conversations]:
        store = (PortableSQLStore if portable else SQLStore)(engine())
        opened.append(store)
        conversations = (
            PortableConversations(store) if portable else store.conversations
        )
        return store, conversations

    store, conversations = open_store()
    assert isinstance(store, SQLStore)
    store.init_schema()
    yield Backend(store, conversations, open_store, store.engine)
    for each in opened:
        each.close()


def race(workers: list[Callable[[], Any]]) -> list[Any]:
    """Run *workers* in threads that start together; their results, in order
    (an exception in one is raised here)."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = workers[i]()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# -- rooms and direct conversations ----------------------------------------------------


def test_a_room_is_recorded_once_with_its_kind(backend: Backend) -> None:
    conv = backend.conversations
    assert conv.room_info("team") is None
    team = conv.create_room("team", "private", created_by="ada", title="The team")
    assert (team.room, team.kind, team.title, team.created_by) == (
        "team",
        "private",
        "The team",
        "ada",
    )
    assert team.created_ts > 0 and team.dm_members == ()
    # Idempotent: the room as first recorded, whatever the second call says.
    assert conv.create_room("team", "public", created_by="bob") == team
    assert conv.room_info("team") == team
    assert conv.create_room("lobby", "public").kind == "public"


@pytest.mark.parametrize(
    ("room", "kind"),
    [
        ("dm-mine", "public"),
        ("two words", "public"),
        ("x" * 65, "public"),
        ("team", "dm"),
        ("team", "secret"),
    ],
)
def test_create_room_refuses_bad_names_and_kinds(
    backend: Backend, room: str, kind: str
) -> None:
    with pytest.raises(ValueError, match=r"room name|kind|for DMs"):
        backend.conversations.create_room(room, kind)
    assert backend.conversations.room_info(room) is None


def test_the_same_users_always_get_the_same_dm_room(backend: Backend) -> None:
    conv = backend.conversations
    ab = conv.dm_room(["ada", "bob"], created_by="ada")
    assert conv.dm_room(["bob", "ada"]) == ab
    assert conv.dm_room(("bob", "ada", "bob")) == ab
    assert conv.dm_room({"ada", "bob"}) == ab
    others = {
        conv.dm_room(["ada", "cy"]),
        conv.dm_room(["ada", "bob", "cy"]),
        conv.dm_room(["ada"]),
        conv.dm_room(["ad", "abob"]),  # not the same ids run together
    }
    assert len(others) == 4 and ab not in others
    assert ab.startswith("dm-") and is_valid_room_name(ab)
    info = conv.room_info(ab)
    assert info == RoomInfo(
        ab, "dm", None, "ada", info.created_ts if info else 0, ("ada", "bob")
    )
    assert conv.members(ab) == ["ada", "bob"]
    assert conv.is_member(ab, "bob") and not conv.is_member(ab, "cy")


def test_dm_room_ids_are_any_strings_of_any_length(backend: Backend) -> None:
    long_ids = ["é" * 200, "user:" + "9" * 250, "a b\n,c"]
    room = backend.conversations.dm_room(long_ids)
    assert is_valid_room_name(room)
    assert backend.conversations.dm_room(list(reversed(long_ids))) == room
    assert backend.conversations.members(room) == sorted(long_ids)


@pytest.mark.parametrize("user_ids", [[], [""], ["ada", ""], "ada"])
def test_dm_room_needs_user_ids(backend: Backend, user_ids: Any) -> None:
    with pytest.raises(ValueError, match="user id"):
        backend.conversations.dm_room(user_ids)


def test_concurrent_dm_room_calls_make_one_room(backend: Backend) -> None:
    """Eight threads on two engines (two processes' worth) ask for the DM of the
    same users at the same moment, for ten sets of users: one room each."""
    second = backend.reopen()[1]
    for n in range(10):
        users = [f"u{n}", f"v{n}"]
        rooms = race(
            [
                lambda conv=conv, ids=users[:: 1 if i % 2 else -1]: conv.dm_room(ids)  # type: ignore[misc]
                for i, conv in enumerate([backend.conversations, second] * 4)
            ]
        )
        assert len(set(rooms)) == 1, rooms
        assert [info.room for info in second.rooms_of(f"u{n}")] == rooms[:1]
        assert backend.conversations.members(rooms[0]) == sorted(users)


# -- members ---------------------------------------------------------------------------


def test_membership_is_stored(backend: Backend) -> None:
    conv = backend.conversations
    conv.create_room("team", "private")
    conv.create_room("lobby", "public")
    assert conv.add_member("team", "bob") is True
    assert conv.add_member("team", "ada") is True
    assert conv.add_member("team", "ada") is False
    assert conv.add_member("lobby", "ada") is True
    dm = conv.dm_room(["ada", "cy"])
    assert conv.members("team") == ["ada", "bob"]
    assert conv.is_member("team", "ada") and not conv.is_member("team", "cy")
    assert [info.room for info in conv.rooms_of("ada")] == sorted([dm, "lobby", "team"])
    assert [info.kind for info in conv.rooms_of("cy")] == ["dm"]
    assert conv.rooms_of("nobody") == []
    assert conv.remove_member("team", "ada") is True
    assert conv.remove_member("team", "ada") is False
    assert conv.members("team") == ["bob"]
    assert not conv.is_member("team", "ada")
    assert [info.room for info in conv.rooms_of("ada")] == sorted([dm, "lobby"])
    assert conv.members("no-such-room") == []
    # Another engine on the same database sees the same (stored, not cached).
    assert backend.reopen()[1].members("team") == ["bob"]


def test_a_member_needs_a_recorded_room(backend: Backend) -> None:
    with pytest.raises(KeyError):
        backend.conversations.add_member("never-made", "ada")
    assert backend.conversations.rooms_of("ada") == []


# -- read markers ----------------------------------------------------------------------


def test_a_read_marker_only_moves_forward(backend: Backend) -> None:
    conv = backend.conversations
    post(backend.store, "lobby", 10)
    assert conv.read_markers("ada") == {}
    assert conv.mark_read("ada", "lobby", 5) == 5
    assert conv.mark_read("ada", "lobby", 3) == 5
    assert conv.mark_read("ada", "lobby", 0) == 5
    assert conv.mark_read("ada", "lobby", 8) == 8
    # Never past the room's last seq: later messages stay unread.
    assert conv.mark_read("ada", "lobby", 1_000_000) == 10
    assert conv.mark_read("ada", "empty", 4) == 0
    assert conv.mark_read("bob", "lobby", 2) == 2
    assert conv.read_markers("ada") == {"lobby": 10, "empty": 0}
    assert conv.read_markers("bob") == {"lobby": 2}
    with pytest.raises(ValueError, match="0 or more"):
        conv.mark_read("ada", "lobby", -1)


def test_concurrent_read_markers_never_move_back(backend: Backend) -> None:
    """Four writers on two engines mark shuffled seqs: each sees the marker only
    grow, and it ends at the largest."""
    post(backend.store, "lobby", 120)
    second = backend.reopen()[1]

    def writer(conv: Conversations, seed: int) -> list[int]:
        seqs = list(range(1, 121))
        random.Random(seed).shuffle(seqs)
        return [conv.mark_read("ada", "lobby", seq) for seq in seqs[:60]]

    seen = race(
        [
            lambda conv=conv, i=i: writer(conv, i)  # type: ignore[misc]
            for i, conv in enumerate([backend.conversations, second] * 2)
        ]
    )
    for values in seen:
        assert values == sorted(values), "a writer saw the marker move back"
    assert (
        max(max(values) for values in seen)
        == backend.conversations.read_markers("ada")["lobby"]
    )


# -- unread counts and mentions --------------------------------------------------------


def test_unread_counts_are_seq_arithmetic(backend: Backend) -> None:
    conv, store = backend.conversations, backend.store
    lobby = post(store, "lobby", 5)
    post(store, "dev", 3)
    assert conv.unread("ada", ["lobby", "dev", "quiet"]) == {
        "lobby": Unread("lobby", 5, 0, 5),
        "dev": Unread("dev", 3, 0, 3),
        "quiet": Unread("quiet", 0, 0, 0),
    }
    conv.mark_read("ada", "lobby", 2)
    assert conv.unread("ada", ["lobby"]) == {"lobby": Unread("lobby", 3, 0, 5)}
    # A deleted message keeps its seq, so it still counts (documented).
    store.mark_deleted(lobby[3].id)
    assert conv.unread("ada", ["lobby"])["lobby"] == Unread("lobby", 3, 0, 5)
    post(store, "lobby", 2)
    assert conv.unread("ada", ["lobby"])["lobby"] == Unread("lobby", 5, 0, 7)
    conv.mark_read("ada", "lobby", 7)
    assert conv.unread("ada", ["lobby"])["lobby"] == Unread("lobby", 0, 0, 7)
    # Someone else's marker is theirs; repeats and no rooms are fine.
    assert conv.unread("bob", ["lobby", "lobby"]) == {"lobby": Unread("lobby", 7, 0, 7)}
    assert conv.unread("ada", []) == {}


def test_mentions_count_only_after_the_read_marker(backend: Backend) -> None:
    conv, store = backend.conversations, backend.store
    post(store, "lobby", 2)
    first = store.add(message(text="@bob @cy", mentions=("bob", "cy")))[0]  # 3
    post(store, "lobby", 1)  # 4
    second = store.add(message(text="@bob again", mentions=("bob",)))[0]  # 5
    store.add(message(room="dev", text="@bob in dev", mentions=("bob",)))
    assert conv.unread("bob", ["lobby", "dev"]) == {
        "lobby": Unread("lobby", 5, 2, 5),
        "dev": Unread("dev", 1, 1, 1),
    }
    assert conv.unread("cy", ["lobby"])["lobby"].mentions == 1
    assert conv.unread("ada", ["lobby"])["lobby"].mentions == 0
    conv.mark_read("bob", "lobby", first.seq or 0)
    assert conv.unread("bob", ["lobby"])["lobby"] == Unread("lobby", 2, 1, 5)
    # A deleted message's mention no longer counts; its seq still does.
    store.mark_deleted(second.id)
    assert conv.unread("bob", ["lobby"])["lobby"] == Unread("lobby", 2, 0, 5)
    conv.mark_read("bob", "dev", 1)
    assert conv.unread("bob", ["dev"])["dev"] == Unread("dev", 0, 0, 1)
    # A purge takes the purged messages' mentions with them.
    store.add(message(room="news", text="old @cy", mentions=("cy",), ts=1000))
    assert conv.unread("cy", ["news"])["news"].mentions == 1
    store.purge(older_than_ts=2000)
    assert conv.unread("cy", ["news"])["news"] == Unread("news", 1, 0, 1)


def test_unread_for_many_rooms_is_one_query(backend: Backend) -> None:
    conv, store = backend.conversations, backend.store
    rooms = [f"room-{n}" for n in range(30)]
    for n, room in enumerate(rooms[:20]):
        post(store, room, n % 4 + 1)
        store.add(message(room=room, text="@bob", mentions=("bob",)))
        conv.mark_read("bob", room, n % 3)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    if backend.engine is not None:
        event.listen(backend.engine, "before_cursor_execute", count)
    try:
        answer = conv.unread("bob", rooms)
    finally:
        if backend.engine is not None:
            event.remove(backend.engine, "before_cursor_execute", count)
    # One query (SQLite's BEGIN IMMEDIATE, which every transaction of the
    # chat's SQLite engine starts with, is the other statement).
    assert len(statements) <= 2, statements
    assert sum(s.lstrip().upper().startswith("SELECT") for s in statements) <= 1
    for n, room in enumerate(rooms[:20]):
        last, read = n % 4 + 2, n % 3  # the mention is the last message
        assert answer[room] == Unread(room, last - read, int(read < last), last), room
    assert all(answer[room] == Unread(room, 0, 0, 0) for room in rooms[20:])


# -- mentions on messages --------------------------------------------------------------


def test_mentions_survive_every_write_and_read(backend: Backend) -> None:
    store = backend.store
    plain, _ = store.add(message(text="no one"))
    one, _ = store.add(message(text="@cy @bob", mentions=("cy", "bob", "cy")))
    assert one.mentions == ("bob", "cy"), "stored distinct and sorted"
    batch = store.add_many(
        [
            message(text="@ada", mentions=("ada",), client_id="c1"),
            message(text="plain"),
            message(room="dev", text="@bob", mentions=("bob",)),
            message(text="@ada retried", mentions=("zed",), client_id="c1"),
        ]
    )
    assert [(m.text, m.mentions, created) for m, created in batch] == [
        ("@ada", ("ada",), True),
        ("plain", (), True),
        ("@bob", ("bob",), True),
        ("@ada", ("ada",), False),  # the retry is the message as first stored
    ]
    lobby = [plain, one, batch[0][0], batch[1][0]]
    assert store.history("lobby")[0] == lobby
    assert store.since("lobby", 1)[0] == lobby[1:]
    assert store.since("dev", 0)[0] == [batch[2][0]]
    assert list(store.messages("lobby")) == lobby
    assert [store.get(m.id) for m in lobby] == lobby
    again, created = store.add(message(text="?", client_id="c1"))
    assert (again, created) == (batch[0][0], False)
    # Another engine (another process) reads the same from the database.
    other = backend.reopen()[0]
    assert other.history("lobby")[0] == lobby
    assert other.get(one.id) == one
    # On the wire only when there are some.
    assert one.to_wire()["mentions"] == ["bob", "cy"]
    assert "mentions" not in plain.to_wire()
    # A deleted message mentions nobody.
    deleted = store.mark_deleted(one.id)
    assert deleted is not None and deleted.mentions == ()
    assert store.get(one.id) == deleted
    assert [m.mentions for m in store.history("lobby")[0]] == [(), (), ("ada",), ()]


def test_a_message_without_mentions_costs_no_extra_statement(tmp_path: Path) -> None:
    """On the direct (driver) path, traced by SQLite itself: the mentions
    table is only written for a message that has mentions."""
    engine = sqlite_engine(f"sqlite:///{tmp_path / 'chat.sqlite3'}")
    traced: list[str] = []

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(traced.append)

    store = SQLStore(engine)
    store.init_schema()
    traced.clear()
    store.add(message(text="plain"))
    plain = list(traced)
    assert any("INSERT INTO chatroom_messages" in sql for sql in plain), plain
    assert not any("chatroom_mentions" in sql for sql in plain), plain
    traced.clear()
    store.add(message(text="@bob @cy", mentions=("bob", "cy")))
    mentioned = [sql for sql in traced if "chatroom_mentions" in sql]
    assert len(mentioned) == 2 and all(sql.startswith("INSERT") for sql in mentioned)
    assert len(traced) == len(plain) + 2
    store.close()


def test_a_retry_from_another_engine_gets_the_mentions(backend: Backend) -> None:
    """The retry that loses the race on the unique client_id (the other
    process's commit) answers with the stored message, mentions included."""
    second = backend.reopen()[0]
    results = race(
        [
            lambda store=store: store.add(  # type: ignore[misc]
                message(text="@bob", mentions=("bob",), client_id="same")
            )
            for store in [backend.store, second] * 3
        ]
    )
    assert sum(created for _, created in results) == 1
    assert {stored for stored, _ in results} == {results[0][0]}
    assert results[0][0].mentions == ("bob",)
    assert backend.conversations.unread("bob", ["lobby"])["lobby"].mentions == 1


# -- blocks ----------------------------------------------------------------------------


def test_blocks(backend: Backend) -> None:
    conv = backend.conversations
    assert conv.blocked("ada") == set()
    assert conv.block("ada", "bob") is True
    assert conv.block("ada", "bob") is False
    assert conv.block("ada", "cy") is True
    assert conv.blocked("ada") == {"bob", "cy"}
    assert conv.blocked("bob") == set(), "blocking is one way"
    assert conv.unblock("ada", "bob") is True
    assert conv.unblock("ada", "bob") is False
    assert conv.blocked("ada") == {"cy"}
    assert backend.reopen()[1].blocked("ada") == {"cy"}
    with pytest.raises(ValueError, match="themselves"):
        conv.block("ada", "ada")


# -- wiring ----------------------------------------------------------------------------


def test_each_store_has_its_conversations(tmp_path: Path) -> None:
    for url in ("memory://", f"sqlite:///{tmp_path / 'chat.db'}"):
        config = resolve({"CHATROOM_DATABASE_URL": url}, {})
        store = make_store(config, str(tmp_path))
        conversations = conversations_of(store)
        assert conversations is conversations_of(store)
        store.add(message(text="@bob", mentions=("bob",)))
        assert conversations.unread("bob", ["lobby"])["lobby"] == Unread(
            "lobby", 1, 1, 1
        )
        store.close()


# -- the migration from schema version 1 ----------------------------------------------


def version_1_schema() -> MetaData:
    """The tables of schema version 1 as that release defined them (frozen: do
    not follow later changes)."""
    old = MetaData()
    Table(
        "chatroom_messages",
        old,
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
        UniqueConstraint(
            "sender_id", "client_id", name="uq_chatroom_messages_client_id"
        ),
        Index("ix_chatroom_messages_ts", "ts"),
    )
    Table(
        "chatroom_rooms",
        old,
        Column("room", String(64), primary_key=True),
        Column("last_seq", BigInteger, nullable=False),
    )
    Table(
        "chatroom_meta",
        old,
        Column("key", String(64), primary_key=True),
        Column("value", String(255), nullable=False),
    )
    return old


NEW_TABLES = {
    "chatroom_room_info",
    "chatroom_members",
    "chatroom_read_markers",
    "chatroom_mentions",
    "chatroom_blocks",
}


def make_version_1_database(engine: Engine) -> None:
    """A database as version 1 left it: lobby with 3 messages (the second
    deleted), dev with 2."""
    old = version_1_schema()
    old.create_all(engine)
    rows = [
        ("lobby", 1, "first", False),
        ("lobby", 2, "", True),
        ("lobby", 3, "third", False),
        ("dev", 1, "dev one", False),
        ("dev", 2, "dev two", False),
    ]
    with engine.begin() as conn:
        conn.execute(
            old.tables["chatroom_meta"].insert(),
            [{"key": "schema_version", "value": "1"}],
        )
        conn.execute(
            old.tables["chatroom_messages"].insert(),
            [
                {
                    "id": f"{room}{seq}",
                    "room": room,
                    "seq": seq,
                    "sender_id": "ada",
                    "sender_name": "Ada",
                    "user_id": "ada",
                    "text": body,
                    "ts": 1000 + seq,
                    "client_id": f"{room}-{seq}",
                    "deleted": deleted,
                }
                for room, seq, body, deleted in rows
            ],
        )
        conn.execute(
            old.tables["chatroom_rooms"].insert(),
            [{"room": "lobby", "last_seq": 3}, {"room": "dev", "last_seq": 2}],
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def engine_for(url: str) -> Engine:
    return sqlite_engine(url) if url.startswith("sqlite") else create_engine(url)


def version_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        value: str | None = conn.execute(
            text("SELECT value FROM chatroom_meta WHERE key = 'schema_version'")
        ).scalar()
    return value


def test_version_1_is_refused_untouched_until_migrated(database_url: str) -> None:
    engine = engine_for(database_url)
    make_version_1_database(engine)
    store = SQLStore(engine_for(database_url))
    assert store.schema_status() == "outdated"
    with pytest.raises(SchemaError, match=r"version 1;.*flask chatroom migrate"):
        store.add(message())
    with pytest.raises(SchemaError, match="flask chatroom migrate"):
        store.conversations.dm_room(["ada", "bob"])
    assert NEW_TABLES.isdisjoint(inspect(engine).get_table_names())
    assert version_of(engine) == "1"
    store.close()
    engine.dispose()


def test_migrating_version_1_keeps_the_messages(database_url: str) -> None:
    engine = engine_for(database_url)
    make_version_1_database(engine)
    # Two processes' worth (two engines) migrate at the same moment.
    stores = [SQLStore(engine_for(database_url)) for _ in range(2)]
    found = race([store.migrate for store in stores])
    # Each says what it found: 1, or a later version when the other had
    # finished a step (or all of them) first.
    assert 1 in found and set(found) <= set(range(1, SCHEMA_VERSION + 1)), found
    assert version_of(engine) == str(SCHEMA_VERSION)
    assert set(inspect(engine).get_table_names()) >= NEW_TABLES
    store = stores[0]
    assert store.schema_status() == "ok"
    page, more = store.history("lobby")
    assert [(m.id, m.seq, m.text, m.deleted, m.mentions) for m in page] == [
        ("lobby1", 1, "first", False, ()),
        ("lobby2", 2, "", True, ()),
        ("lobby3", 3, "third", False, ()),
    ]
    assert not more
    assert [m.text for m in store.messages("dev")] == ["dev one", "dev two"]
    # A retry of a version-1 message is still recognized.
    assert store.add(message("dev", "again", client_id="dev-2")) == (
        store.get("dev2"),
        False,
    )
    # The counters carry on, and the new features work on the old rooms.
    new, _ = store.add(message(text="@bob", mentions=("bob",)))
    assert new.seq == 4 and store.get(new.id) == new
    conv = stores[1].conversations
    assert conv.unread("bob", ["lobby", "dev"]) == {
        "lobby": Unread("lobby", 4, 1, 4),
        "dev": Unread("dev", 2, 0, 2),
    }
    assert conv.mark_read("bob", "lobby", 3) == 3
    assert conv.unread("bob", ["lobby"])["lobby"] == Unread("lobby", 1, 1, 4)
    dm = conv.dm_room(["ada", "bob"])
    assert conv.rooms_of("bob")[0].room == dm
    # Running it again does nothing.
    assert store.migrate() == SCHEMA_VERSION
    assert [m.seq for m in store.messages("lobby")] == [1, 2, 3, 4]
    for each in stores:
        each.close()
    engine.dispose()


def test_migrate_creates_a_missing_schema_and_refuses_a_newer_one(
    database_url: str,
) -> None:
    store = SQLStore(engine_for(database_url))
    assert store.migrate() is None
    assert store.schema_status() == "ok"
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE chatroom_meta SET value = '{SCHEMA_VERSION + 1}'"))
    newer = SQLStore(engine_for(database_url))
    with pytest.raises(SchemaError, match="newer release"):
        newer.migrate()
    with pytest.raises(SchemaError, match="newer release"):
        newer.init_schema()
    store.close()
    newer.close()


def test_the_migrate_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    make_version_1_database(sqlite_engine(url))
    app = make_app(CHATROOM_DATABASE_URL=url)
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["chatroom", "init-db"])
    assert refused.exit_code == 1
    assert "schema version 1" in refused.output
    assert "flask chatroom migrate" in refused.output
    doctor = runner.invoke(args=["chatroom", "doctor"])
    assert "The chat schema is outdated" in doctor.output
    assert "fix: Run flask chatroom migrate" in doctor.output
    done = runner.invoke(args=["chatroom", "migrate"])
    assert done.exit_code == 0, done.output
    assert done.output == f"chat schema: migrated from version 1 to {SCHEMA_VERSION}\n"
    again = runner.invoke(args=["chatroom", "migrate"])
    assert again.output == f"chat schema: ok, already at version {SCHEMA_VERSION}\n"
    assert runner.invoke(args=["chatroom", "init-db"]).output == "chat schema: ok\n"
    fresh = make_app(CHATROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite3'}")
    created = fresh.test_cli_runner().invoke(args=["chatroom", "migrate"])
    assert created.output == f"chat schema: created at version {SCHEMA_VERSION}\n"
