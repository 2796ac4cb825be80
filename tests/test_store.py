"""The message stores: the in-memory one, SQLite and PostgreSQL run the same suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from flask_chatroom import Message
from flask_chatroom.store import (
    SCHEMA_VERSION,
    MemoryStore,
    MessageStore,
    SchemaError,
    SQLStore,
    sqlite_engine,
)

from .conftest import ROOT


def message(room: str = "lobby", text: str = "hi", **kwargs: object) -> Message:
    fields: dict[str, object] = {"client": "Ada", "sender_id": "1", "user_id": "1"}
    fields.update(kwargs)
    return Message(room=room, text=text, **fields)  # type: ignore[arg-type]


class PortableSQLStore(SQLStore):
    """:class:`SQLStore` on the path every database other than SQLite and
    PostgreSQL takes: SQLAlchemy Core statements, no driver shortcuts."""

    direct_dialects = frozenset()


@pytest.fixture(
    params=["memory", "sqlite", "postgresql", "sqlite-portable", "postgresql-portable"]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageStore]:
    made: MessageStore
    kind = SQLStore if "portable" not in request.param else PortableSQLStore
    if request.param == "memory":
        made = MemoryStore()
    elif request.param.startswith("sqlite"):
        made = kind(sqlite_engine(f"sqlite:///{tmp_path / 'chat.sqlite3'}"))
    else:
        url = request.getfixturevalue("postgres_url")
        made = kind(create_engine(url))
    yield made
    made.close()


def test_seq_counts_per_room_from_one(store: MessageStore) -> None:
    seqs = [store.add(message(room))[0].seq for room in ["a", "a", "b", "a", "b"]]
    assert seqs == [1, 2, 1, 3, 2]


def test_a_stored_message_keeps_everything(store: MessageStore) -> None:
    original = message(text="héllo\nthere", client_id="c1", ts=1234)
    stored, created = store.add(original)
    assert created
    assert stored.seq == 1
    assert store.get(original.id) == stored
    assert stored.text == "héllo\nthere"
    assert (stored.client, stored.user_id, stored.ts) == ("Ada", "1", 1234)


def test_a_retry_with_the_same_client_id_is_stored_once(store: MessageStore) -> None:
    first, created = store.add(message(client_id="abc"))
    again, created_again = store.add(message(text="different", client_id="abc"))
    assert created and not created_again
    assert again == first
    other_sender, created_other = store.add(message(client_id="abc", sender_id="2"))
    assert created_other and other_sender.seq == 2
    assert [m.seq for m in store.messages("lobby")] == [1, 2]


def test_history_pages_newest_last_with_has_more(store: MessageStore) -> None:
    for i in range(7):
        store.add(message(text=f"m{i}"))
    page, more = store.history("lobby", limit=3)
    assert ([m.text for m in page], more) == (["m4", "m5", "m6"], True)
    page, more = store.history("lobby", before=page[0].seq, limit=3)
    assert ([m.text for m in page], more) == (["m1", "m2", "m3"], True)
    page, more = store.history("lobby", before=page[0].seq, limit=3)
    assert ([m.text for m in page], more) == (["m0"], False)
    assert store.history("empty-room") == ([], False)


def test_since_returns_what_came_after(store: MessageStore) -> None:
    for i in range(5):
        store.add(message(text=f"m{i}"))
    page, more = store.since("lobby", 2, limit=2)
    assert ([m.seq for m in page], more) == ([3, 4], True)
    page, more = store.since("lobby", 4)
    assert ([m.seq for m in page], more) == ([5], False)
    assert store.since("lobby", 5) == ([], False)


def test_a_deleted_message_keeps_its_place_but_not_its_text(
    store: MessageStore,
) -> None:
    kept, gone = store.add(message(text="keep"))[0], store.add(message(text="gone"))[0]
    deleted = store.mark_deleted(gone.id)
    assert deleted is not None and deleted.deleted
    page, _ = store.history("lobby")
    assert [(m.text, m.deleted) for m in page] == [("keep", False), ("", True)]
    assert page[1].to_wire()["deleted"] is True
    assert store.mark_deleted("no-such-id") is None
    assert store.get(kept.id) == kept


def test_purge_deletes_old_messages_and_never_reuses_seq(store: MessageStore) -> None:
    store.add(message(text="old", ts=1000))
    store.add(message(text="new", ts=5000))
    assert store.purge(older_than_ts=2000) == 1
    assert [m.text for m in store.messages("lobby")] == ["new"]
    assert store.add(message(text="newer"))[0].seq == 3


def test_messages_stored_together_get_their_seq_in_order(store: MessageStore) -> None:
    store.add(message(room="news"))
    results = store.add_many(
        [
            message(text="a", client_id="1"),
            message(room="news", text="b"),
            message(text="c", client_id="2"),
            message(text="a again", client_id="1"),  # a retry inside the batch
            message(text="d"),
        ]
    )
    assert [(m.room, m.text, m.seq, created) for m, created in results] == [
        ("lobby", "a", 1, True),
        ("news", "b", 2, True),
        ("lobby", "c", 2, True),
        ("lobby", "a", 1, False),
        ("lobby", "d", 3, True),
    ]
    assert results[3][0] == results[0][0]
    assert [m.text for m in store.messages("lobby")] == ["a", "c", "d"]
    # A retry of an already stored message in a later batch is not stored again.
    [(again, created)] = store.add_many([message(text="?", client_id="2")])
    assert (again.text, again.seq, created) == ("c", 2, False)


def test_concurrent_writers_get_gap_free_seq(store: MessageStore) -> None:
    def write(n: int) -> None:
        for i in range(25):
            store.add(message(text=f"{n}-{i}", client_id=f"{n}-{i}"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [m.seq for m in store.messages("lobby")] == list(range(1, 101))


def test_export_iterates_every_message_in_order(store: MessageStore) -> None:
    for i in range(1203):
        store.add(message(text=str(i)))
    texts = [m.text for m in store.messages("lobby")]
    assert texts == [str(i) for i in range(1203)]


class TestSchema:
    def test_created_on_first_use_and_versioned(self, tmp_path: Path) -> None:
        store = SQLStore(sqlite_engine(f"sqlite:///{tmp_path / 'sub' / 'chat.db'}"))
        assert store.schema_status() == "missing"
        store.add(message())
        assert store.schema_status() == "ok"
        store.init_schema()  # idempotent
        with store.engine.connect() as conn:
            version = conn.execute(
                text("SELECT value FROM chatroom_meta WHERE key = 'schema_version'")
            ).scalar()
        assert version == str(SCHEMA_VERSION)
        journal = store.engine.connect().exec_driver_sql("PRAGMA journal_mode")
        assert journal.scalar() == "wal"

    def test_another_schema_version_is_refused(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'chat.db'}"
        SQLStore(sqlite_engine(url)).init_schema()
        with sqlite_engine(url).begin() as conn:
            conn.execute(text("UPDATE chatroom_meta SET value = '99'"))
        store = SQLStore(sqlite_engine(url))
        assert store.schema_status() == "outdated"
        with pytest.raises(SchemaError, match="schema version 99"):
            store.add(message())

    def test_an_engine_given_as_a_function_is_resolved_on_first_use(
        self, tmp_path: Path
    ) -> None:
        calls: list[int] = []

        def engine() -> object:
            calls.append(1)
            return sqlite_engine(f"sqlite:///{tmp_path / 'chat.db'}")

        store = SQLStore(engine)  # type: ignore[arg-type]
        assert calls == []
        store.add(message())
        store.add(message())
        assert calls == [1]


def test_two_processes_writing_one_postgresql_room_get_gap_free_seq(
    postgres_url: str,
) -> None:
    SQLStore(create_engine(postgres_url)).init_schema()
    writer = textwrap.dedent(
        f"""
        import sys
        from sqlalchemy import create_engine
        from flask_chatroom import Message
        from flask_chatroom.store import SQLStore
        store = SQLStore(create_engine({postgres_url!r}))
        for i in range(150):
            store.add(Message(room="lobby", client="w", text=f"{{sys.argv[1]}}-{{i}}",
                              sender_id=sys.argv[1], client_id=str(i)))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", writer, name], cwd=ROOT)
        for name in ("one", "two")
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0]
    store = SQLStore(create_engine(postgres_url))
    stored = list(store.messages("lobby"))
    assert [m.seq for m in stored] == list(range(1, 301))
    assert sorted(m.text for m in stored) == sorted(
        f"{w}-{i}" for w in ("one", "two") for i in range(150)
    )
    store.close()
