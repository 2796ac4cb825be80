"""Changes to messages in the store (issue 15, the storage half): edits with
their history, deletions, reactions, and each room's change log with its
gapless ``change_seq``; the migration to schema version 3. The in-memory
store, SQLite and PostgreSQL run the same suite, on both SQL write paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)

from flask_chatroom import Message
from flask_chatroom.backends import sql as sql_backend
from flask_chatroom.backends.interfaces import Edit, MessageChange
from flask_chatroom.protocol import Reaction, Reply
from flask_chatroom.store import SCHEMA_VERSION, MessageStore, SQLStore, sqlite_engine

from . import test_conversations_store as shared
from .test_conversations_store import (
    Backend,
    engine_for,
    make_version_1_database,
    message,
    race,
    version_1_schema,
    version_of,
)

# The fixtures of the conversations store's suite: every backend, and the
# databases the migration runs on.
backend = shared.backend
database_url = shared.database_url


def post(store: MessageStore, room: str = "lobby", text: str = "hi") -> Message:
    return store.add(message(room, text))[0]


def seqs(changes: list[MessageChange]) -> list[int]:
    return [change.change_seq for change in changes]


def test_change_seq_is_gapless_per_room_and_apart_from_seq(backend: Backend) -> None:
    store = backend.store
    one, two = post(store), post(store)
    dev = post(store, "dev")
    assert store.last_change_seq("lobby") == 0
    assert store.last_change_seq("nowhere") == 0
    _, first = store.edit(one.id, "hi!", "ada")
    reactions, second = store.react(two.id, "👍", "bob", True)
    _, on_dev = store.edit(dev.id, "dev!", "ada")
    deleted = store.delete(one.id, "mod")
    assert deleted is not None and deleted[1] is not None
    assert (first.change_seq, second and second.change_seq) == (1, 2)
    assert deleted[1].change_seq == 3
    assert on_dev.change_seq == 1
    assert store.last_change_seq("lobby") == 3
    assert store.last_change_seq("dev") == 1
    # Messages keep their own seq: unread counts stay message arithmetic.
    three = post(store)
    assert three.seq == 3
    assert backend.conversations.unread("bob", ["lobby"])["lobby"].unread == 3
    changes = store.changes_since("lobby", 0)
    assert seqs(changes) == [1, 2, 3]
    assert [(c.kind, c.message_id, c.user_id) for c in changes] == [
        ("edit", one.id, "ada"),
        ("reactions", two.id, "bob"),
        ("delete", one.id, "mod"),
    ]
    assert changes[0].data == {"message": "hi!", "edited_ts": changes[0].ts}
    assert changes[1].data == {
        "reactions": [{"emoji": "👍", "count": 1, "user_ids": ["bob"]}],
        "emoji": "👍",
        "on": True,
    }
    assert changes[2].data == {}
    assert reactions == (Reaction("👍", 1, ("bob",)),)
    assert all(c.room == "lobby" for c in changes)


def test_an_edit_keeps_the_history_and_shows_everywhere(backend: Backend) -> None:
    store = backend.store
    original = store.add(message(text="helo", client_id="c1"))[0]
    edited, change = store.edit(original.id, "hello", "ada")
    assert (edited.text, edited.seq, edited.id) == ("hello", 1, original.id)
    assert edited.edited_ts == change.ts and change.kind == "edit"
    again, _ = store.edit(original.id, "hello!", "mod")
    assert store.get(original.id) == again
    assert [(m.text, m.edited_ts) for m in store.history("lobby")[0]] == [
        ("hello!", again.edited_ts)
    ]
    assert store.since("lobby", 0)[0] == [again]
    assert list(store.messages("lobby")) == [again]
    history = store.edit_history(original.id)
    assert [(e.n, e.text, e.editor_id) for e in history] == [
        (1, "helo", "ada"),
        (2, "hello", "mod"),
    ]
    assert all(isinstance(e, Edit) and e.message_id == original.id for e in history)
    assert store.edit_history("nope") == []
    with pytest.raises(KeyError):
        store.edit("nope", "x", "ada")
    store.mark_deleted(original.id)
    with pytest.raises(KeyError):
        store.edit(original.id, "x", "ada")
    # A failed edit takes no change_seq.
    assert store.last_change_seq("lobby") == 3


def test_reactions_on_off_and_no_ops(backend: Backend) -> None:
    store = backend.store
    target = post(store)
    other = post(store)
    assert store.react(target.id, "👍", "ada", True)[1] is not None
    reactions, change = store.react(target.id, "👍", "bob", True)
    assert reactions == (Reaction("👍", 2, ("ada", "bob")),)
    assert change is not None and change.change_seq == 2
    store.react(target.id, "🎉", "bob", True)
    # Already on, already off: nothing changes, no change is logged.
    same, none = store.react(target.id, "👍", "bob", True)
    assert none is None and same[1] == Reaction("👍", 2, ("ada", "bob"))
    assert store.react(target.id, "❤", "cy", False)[1] is None
    assert store.last_change_seq("lobby") == 3
    reactions, change = store.react(target.id, "👍", "ada", False)
    assert reactions == (Reaction("🎉", 1, ("bob",)), Reaction("👍", 1, ("bob",)))
    assert change is not None and change.data["reactions"] == [
        r.to_wire() for r in reactions
    ]
    assert store.get(target.id) == store.history("lobby")[0][0]
    got = store.get(target.id)
    assert got is not None and got.reactions == reactions
    assert store.since("lobby", 0)[0][1] == other  # no reactions on it
    assert got.to_wire()["reactions"] == [
        {"emoji": "🎉", "count": 1, "user_ids": ["bob"]},
        {"emoji": "👍", "count": 1, "user_ids": ["bob"]},
    ]
    assert "reactions" not in other.to_wire() and "edited_ts" not in other.to_wire()
    with pytest.raises(KeyError):
        store.react("nope", "👍", "ada", True)


def test_a_deletion_drops_reactions_and_logs_a_change(backend: Backend) -> None:
    store = backend.store
    target = post(store)
    store.react(target.id, "👍", "ada", True)
    done = store.delete(target.id, "mod")
    assert done is not None
    deleted, change = done
    assert deleted.deleted and deleted.text == "" and deleted.reactions == ()
    assert change is not None and (change.kind, change.change_seq) == ("delete", 2)
    got = store.get(target.id)
    assert got is not None and got.deleted and got.reactions == ()
    # Deleting again changes nothing; mark_deleted still answers as before.
    assert store.delete(target.id, "mod") == (got, None)
    assert store.mark_deleted(target.id) == got
    assert store.delete("nope", "mod") is None and store.mark_deleted("nope") is None
    with pytest.raises(KeyError):
        store.react(target.id, "👍", "bob", True)
    # mark_deleted (today's callers) logs the change too.
    second = post(store)
    store.mark_deleted(second.id)
    assert [c.kind for c in store.changes_since("lobby", 0)] == [
        "reactions",
        "delete",
        "delete",
    ]


def test_changes_since_is_in_order_and_limited(backend: Backend) -> None:
    store = backend.store
    target = post(store)
    for i in range(7):
        store.edit(target.id, f"text {i}", "ada")
    assert seqs(store.changes_since("lobby", 0)) == list(range(1, 8))
    assert seqs(store.changes_since("lobby", 2, limit=3)) == [3, 4, 5]
    assert seqs(store.changes_since("lobby", 7)) == []
    assert store.changes_since("dev", 0) == []
    last = store.changes_since("lobby", 6)[0]
    assert last.data == {"message": "text 6", "edited_ts": last.ts}
    # Replaying a change is applying a state: twice is the same as once.
    view = {"message": "x"}
    for change in store.changes_since("lobby", 0) * 2:
        view.update(change.data)
    assert view["message"] == "text 6"


def test_concurrent_changes_from_two_engines_get_distinct_gapless_seqs(
    backend: Backend,
) -> None:
    store = backend.store
    second = backend.reopen()[0]
    target = post(store)
    per_worker = 8

    def work(each: MessageStore, user: str) -> list[int]:
        got = []
        for i in range(per_worker):
            if i % 2:
                change = each.react(target.id, f"e{i}", user, True)[1]
                assert change is not None
            else:
                change = each.edit(target.id, f"{user} {i}", user)[1]
            got.append(change.change_seq)
        return got

    results = race(
        [
            lambda: work(store, "ada"),
            lambda: work(second, "bob"),
            lambda: work(store, "cy"),
            lambda: work(second, "dee"),
        ]
    )
    every = sorted(seq for result in results for seq in result)
    assert every == list(range(1, 4 * per_worker + 1))
    assert seqs(store.changes_since("lobby", 0, limit=1000)) == every
    assert len(store.edit_history(target.id)) == 4 * per_worker // 2
    got = store.get(target.id)
    assert got is not None and sum(r.count for r in got.reactions) == 16
    # The last reactions change holds the final state.
    last = [c for c in store.changes_since("lobby", 0) if c.kind == "reactions"][-1]
    assert last.data["reactions"] == [r.to_wire() for r in got.reactions]


def test_purge_removes_everything_of_purged_messages(backend: Backend) -> None:
    store = backend.store
    old = store.add(message(text="old", ts=1000))[0]
    new = post(store)
    store.edit(old.id, "old!", "ada")
    store.react(old.id, "👍", "bob", True)
    store.edit(new.id, "new!", "ada")
    store.react(new.id, "👍", "bob", True)
    assert store.purge(2000) == 1
    assert store.get(old.id) is None
    assert store.edit_history(old.id) == []
    assert [c.message_id for c in store.changes_since("lobby", 0)] == [new.id] * 2
    assert seqs(store.changes_since("lobby", 0)) == [3, 4]
    got = store.get(new.id)
    assert got is not None and got.text == "new!" and len(got.reactions) == 1
    assert len(store.edit_history(new.id)) == 1
    # change_seq numbers are never reused.
    assert store.edit(new.id, "again", "ada")[1].change_seq == 5


def test_a_plain_message_costs_no_extra_statement(tmp_path: Path) -> None:
    engine = sqlite_engine(f"sqlite:///{tmp_path / 'chat.sqlite3'}")
    traced: list[str] = []

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(traced.append)

    store = SQLStore(engine)
    store.init_schema()
    traced.clear()
    store.add(message(text="plain"))
    # The room's seq, the last search_rowid (with the search index's
    # watermark), the message; its words wait for the index's next batch
    # (FTS5's own statements, traced as "-- ...", left out).
    ours = [sql for sql in traced if not sql.startswith("--")]
    assert [sql.split()[0] for sql in ours] == [
        "BEGIN",
        "INSERT",
        "SELECT",
        "INSERT",
        "COMMIT",
    ]
    assert "search_rowid" in ours[2] and "search_indexed" in ours[2]
    assert not any("chatroom_search" in sql for sql in ours)
    assert not any(
        name in sql
        for sql in traced
        for name in ("chatroom_changes", "chatroom_reactions", "chatroom_edits")
    )
    store.close()


# -- the migration to schema version 4 ---------------------------------------------


def version_2_schema() -> MetaData:
    """The tables of schema version 2 as that release defined them (frozen: do
    not follow later changes)."""
    old = version_1_schema()
    Table(
        "chatroom_room_info",
        old,
        Column("room", String(64), primary_key=True),
        Column("kind", String(16), nullable=False),
        Column("title", String(255), nullable=True),
        Column("created_by", String(255), nullable=True),
        Column("created_ts", BigInteger, nullable=False),
        Column("dm_key", String(64), nullable=True),
        Column("dm_members", Text, nullable=True),
        UniqueConstraint("dm_key", name="uq_chatroom_room_info_dm_key"),
    )
    Table(
        "chatroom_members",
        old,
        Column("room", String(64), primary_key=True),
        Column("user_id", String(255), primary_key=True),
        Column("ts", BigInteger, nullable=False),
        Index("ix_chatroom_members_user_id", "user_id"),
    )
    Table(
        "chatroom_read_markers",
        old,
        Column("user_id", String(255), primary_key=True),
        Column("room", String(64), primary_key=True),
        Column("seq", BigInteger, nullable=False),
    )
    Table(
        "chatroom_mentions",
        old,
        Column("room", String(64), primary_key=True),
        Column("seq", BigInteger, primary_key=True),
        Column("user_id", String(255), primary_key=True),
        Column("message_id", String(32), nullable=False),
        Index("ix_chatroom_mentions_user_id_room_seq", "user_id", "room", "seq"),
    )
    Table(
        "chatroom_blocks",
        old,
        Column("user_id", String(255), primary_key=True),
        Column("blocked_id", String(255), primary_key=True),
        Column("ts", BigInteger, nullable=False),
    )
    return old


NEW_TABLES = {"chatroom_changes", "chatroom_edits", "chatroom_reactions"}


def make_version_2_database(engine: Engine) -> None:
    """Version 1's messages (lobby 3, the second deleted; dev 2), with version
    2's read marker, mention and member on top."""
    make_version_1_database(engine)
    old = version_2_schema()
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            old.tables["chatroom_meta"].update().values(value="2"),
        )
        conn.execute(
            old.tables["chatroom_room_info"].insert(),
            [{"room": "lobby", "kind": "public", "created_ts": 1}],
        )
        conn.execute(
            old.tables["chatroom_members"].insert(),
            [{"room": "lobby", "user_id": "bob", "ts": 1}],
        )
        conn.execute(
            old.tables["chatroom_read_markers"].insert(),
            [{"user_id": "bob", "room": "lobby", "seq": 1}],
        )
        conn.execute(
            old.tables["chatroom_mentions"].insert(),
            [{"room": "lobby", "seq": 3, "user_id": "bob", "message_id": "lobby3"}],
        )


def make_version_3_database(engine: Engine) -> None:
    """Version 2's database brought to version 3 by that release's own step
    (whose tables later versions leave alone), with one edit logged: lobby1's,
    change_seq 1 of the lobby."""
    make_version_2_database(engine)
    with engine.begin() as conn:
        sql_backend._migrate_2_to_3(conn)
        conn.execute(text("UPDATE chatroom_meta SET value = '3'"))
        conn.execute(
            text(
                "INSERT INTO chatroom_changes "
                "(room, change_seq, message_id, kind, ts, user_id, data) "
                "VALUES ('lobby', 1, 'lobby1', 'edit', 5, 'ada', "
                '\'{"message": "first", "edited_ts": 5}\')'
            )
        )
        conn.execute(
            text("UPDATE chatroom_rooms SET last_change_seq = 1 WHERE room = 'lobby'")
        )


@pytest.mark.parametrize("start", [1, 2, 3])
def test_migrating_to_version_4_keeps_the_data(database_url: str, start: int) -> None:
    engine = engine_for(database_url)
    {
        1: make_version_1_database,
        2: make_version_2_database,
        3: make_version_3_database,
    }[start](engine)
    if start < 3:
        assert NEW_TABLES.isdisjoint(inspect(engine).get_table_names())
    # Two processes' worth (two engines) migrate at the same moment.
    stores = [SQLStore(engine_for(database_url)) for _ in range(2)]
    found = race([store.migrate for store in stores])
    assert start in found and set(found) <= set(range(start, SCHEMA_VERSION + 1))
    assert version_of(engine) == str(SCHEMA_VERSION)
    assert set(inspect(engine).get_table_names()) >= NEW_TABLES
    store = stores[1]
    assert store.schema_status() == "ok"
    page, _ = store.history("lobby")
    assert [(m.id, m.seq, m.text, m.deleted, m.reply_to) for m in page] == [
        ("lobby1", 1, "first", False, None),
        ("lobby2", 2, "", True, None),
        ("lobby3", 3, "third", False, None),
    ]
    # Version 4 fills each message's change_seq in from the change log.
    assert [m.change_seq for m in page] == [1 if start == 3 else None, None, None]
    before = store.last_change_seq("lobby")
    assert before == (1 if start == 3 else 0)
    # ... and each logged change's message seq.
    assert [c.seq for c in store.changes_since("lobby", 0)] == [1] * before
    assert [m.text for m in store.messages("dev")] == ["dev one", "dev two"]
    if start >= 2:
        assert page[2].mentions == ("bob",)
        conv = store.conversations
        assert conv.members("lobby") == ["bob"]
        assert conv.read_markers("bob") == {"lobby": 1}
    # The change log goes on from where it was; messages carry on.
    assert store.edit("lobby1", "first!", "ada")[1].change_seq == before + 1
    replied, _ = store.add(message(text="re", reply_to="lobby1"))
    assert store.get(replied.id).reply == Reply("lobby1", "Ada", "first!")
    assert store.react("dev1", "👍", "bob", True)[1] is not None
    assert store.last_change_seq("dev") == 1
    assert store.delete("lobby2", "mod") == (page[1], None)  # deleted in the old
    assert store.add(message(text="new"))[0].seq == 5
    assert stores[0].get("lobby1") is not None
    # Running it again does nothing.
    assert store.migrate() == SCHEMA_VERSION
    assert seqs(store.changes_since("lobby", 0)) == list(range(1, before + 2))
    for each in stores:
        each.close()
    engine.dispose()


def test_a_new_room_made_by_the_driver_path_starts_its_change_log(
    database_url: str,
) -> None:
    """The driver's upsert of a room's row leaves ``last_change_seq`` at 0."""
    store = SQLStore(engine_for(database_url))
    store.migrate()
    target = post(store, "fresh")
    assert store.last_change_seq("fresh") == 0
    assert store.react(target.id, "👍", "ada", True)[1] is not None
    assert store.last_change_seq("fresh") == 1
    store.close()
