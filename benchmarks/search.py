"""Search benchmark: ingest with and without the full-text index, then the
latency of 200 searches over a large message store.

    python3 -m benchmarks.search --messages 1000000 --db sqlite
    python3 -m benchmarks.search --messages 1000000 --db postgresql [--url URL]

It fills a database through ``SQLStore.add_many`` in batches of 500 (the
driver path), with messages drawn from a Zipf-distributed vocabulary (30,000
words: English function words first, then made-up words, some accented; 2% of
the messages in Japanese), in 50 rooms of Zipf-distributed sizes, from 500
senders. It fills a second database with the same messages through a store
that keeps no index (the schema without the index's columns and tables) and
compares the rates (wall clock, and CPU time of this process and of the
PostgreSQL server: on a busy machine compare those), then adds 5,000 more
messages one transaction each, as a chat server does. Then it runs 200
searches (common words, rare words, two words, prefixes, quoted phrases,
``in:room``) over the 40 rooms the searching user may read, and prints p50/p99
in milliseconds.

Without ``--url``, PostgreSQL runs as a throwaway server (``initdb`` as the
postgres user, default settings) in a temporary folder. Results go to
``benchmarks/results/<date>-search-<db>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from flask_chatroom.backends import fulltext
from flask_chatroom.protocol import Message
from flask_chatroom.search import parse_query
from flask_chatroom.store import SQLStore, sqlite_engine

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500
ROOMS = [f"room-{i:02d}" for i in range(50)]
#: The rooms the searching user may read: all but ten of the smaller ones.
READABLE = ROOMS[:30] + ROOMS[40:]
START_TS = 1_767_225_600_000  # 2026-01-01


def _split(words: str) -> list[str]:
    return words.split()


FUNCTION_WORDS = _split(
    "the to and a i you it of is in that for on me this my be have we with so"
    " not are just do at but was what if can your all get like no lol up about"
    " out know one how good will there yes now they when from think or time go"
    " he she see make did then new got too day people want need back ok well"
    " going really would been right here could more some still thanks today"
)
SYLLABLES = _split(
    "ba be bi bo bu da de di do du fa fe fi fo ka ke ki ko ku la le li lo lu ma me"
    " mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti"
    " to tu va ve vi vo za ze zi zo an en in on ar er or ur st tr pl gr"
)
JAPANESE = list("東京都大阪行く来るにのはをがでと会議明日今日予定確認資料送ります")


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """*size* distinct words, most frequent first."""
    words = list(dict.fromkeys(FUNCTION_WORDS))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.03:
            word = word.replace("e", "é", 1).replace("a", "à", 1)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Corpus:
    """The messages, the same for every run with the same seed."""

    def __init__(self, seed: int = 16) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(30_000, self.rng)
        self.cumulative = list(
            itertools.accumulate(1 / (rank + 1) for rank in range(len(self.words)))
        )
        self.room_weights = list(
            itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(len(ROOMS)))
        )
        self.senders = [f"user{i}" for i in range(500)]

    def text(self, rng: random.Random) -> str:
        if rng.random() < 0.02:
            return "".join(rng.choices(JAPANESE, k=rng.randint(6, 20)))
        count = min(40, max(1, int(rng.expovariate(1 / 10))))
        words = rng.choices(self.words, cum_weights=self.cumulative, k=count)
        words[0] = words[0].capitalize()
        return " ".join(words) + rng.choice([".", "!", "?", "", "", " :)"])

    def batches(self, total: int) -> Iterator[list[Message]]:
        rng = random.Random(1)
        for start in range(0, total, BATCH):
            batch = []
            for i in range(start, min(total, start + BATCH)):
                sender = rng.choice(self.senders)
                batch.append(
                    Message(
                        room=rng.choices(ROOMS, cum_weights=self.room_weights)[0],
                        client=sender.capitalize(),
                        text=self.text(rng),
                        user_id=sender,
                        sender_id=sender,
                        ts=START_TS + i * 30_000,
                    )
                )
            yield batch


class UnindexedStore(SQLStore):
    """The store without the full-text index (for the comparison only)."""

    @property
    def _index(self) -> fulltext.Index:
        return fulltext.Index()


def fill(
    store: SQLStore, corpus: Corpus, total: int, server: Postgres | None = None
) -> dict[str, float]:
    """Add *total* messages: the time spent in ``add_many`` only (wall clock),
    and the CPU time of this process and of the PostgreSQL server in it (on a
    busy machine the CPU time is what to compare)."""
    store.init_schema()
    spent = cpu = server_cpu = 0.0
    for batch in corpus.batches(total):
        began, began_cpu = time.perf_counter(), time.process_time()
        began_server = server.cpu() if server is not None else 0.0
        store.add_many(batch)
        spent += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        if server is not None:
            server_cpu += server.cpu() - began_server
    return {
        "messages": total,
        "seconds": round(spent, 2),
        "per_s": round(total / spent),
        "cpu_us_per_message": round((cpu + server_cpu) / total * 1e6, 1),
        "client_cpu_us": round(cpu / total * 1e6, 1),
        "server_cpu_us": round(server_cpu / total * 1e6, 1),
    }


def one_by_one(
    store: SQLStore, corpus: Corpus, count: int, server: Postgres | None = None
) -> dict[str, float]:
    """Add *count* more messages one transaction each (``add``, as a chat
    server does), after the fill."""
    rng = random.Random(3)
    messages = [
        Message(
            room=rng.choice(ROOMS),
            client="Late",
            text=corpus.text(rng),
            user_id="late",
            sender_id="late",
            ts=START_TS + (10**7 + i) * 30_000,
        )
        for i in range(count)
    ]
    began, began_cpu = time.perf_counter(), time.process_time()
    began_server = server.cpu() if server is not None else 0.0
    for message in messages:
        store.add(message)
    spent = time.perf_counter() - began
    cpu = time.process_time() - began_cpu
    server_cpu = server.cpu() - began_server if server is not None else 0.0
    return {
        "messages": count,
        "per_s": round(count / spent),
        "cpu_us_per_message": round((cpu + server_cpu) / count * 1e6, 1),
    }


def queries(corpus: Corpus, count: int = 200) -> list[tuple[str, str]]:
    """(kind, search text) pairs."""
    rng = random.Random(7)
    words = corpus.words
    long_words = [w for w in words if len(w) > 1]

    def pick(low: int, high: int) -> str:
        return rng.choice([w for w in words[low:high] if len(w) > 1])

    made: list[tuple[str, str]] = []
    mix = [
        ("common", 0.25),
        ("rare", 0.20),
        ("two words", 0.20),
        ("prefix", 0.15),
        ("phrase", 0.10),
        ("in:room", 0.10),
    ]
    for kind, share in mix:
        for _ in range(round(count * share)):
            if kind == "common":
                search = pick(0, 100)
            elif kind == "rare":
                search = pick(5_000, 30_000)
            elif kind == "two words":
                search = f"{pick(20, 500)} {pick(500, 5_000)}"
            elif kind == "prefix":
                search = rng.choice(long_words[100:3_000])[:3]
            elif kind == "phrase":
                sample = corpus.text(rng).rstrip(".!?:) ").split()
                while len(sample) < 2:
                    sample = corpus.text(rng).rstrip(".!?:) ").split()
                at = rng.randrange(len(sample) - 1)
                search = f'"{sample[at]} {sample[at + 1]}"'
            else:
                search = f"in:{rng.choice(READABLE)} {pick(50, 2_000)}"
            made.append((kind, search))
    return made


def measure(store: SQLStore, corpus: Corpus) -> dict[str, Any]:
    """Time each search (the first page of 20, completed messages), and show
    the database's plan of the slowest ones."""
    planned = queries(corpus)
    for _, search in planned[:: len(planned) // 20]:  # warm up
        store.search(parse_query(search), READABLE)
    statements: dict[str, tuple[str, Any]] = {}
    searching = [""]

    @event.listens_for(store.engine, "before_cursor_execute")
    def _keep(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if "MATCH" in sql or "@@" in sql:
            statements[searching[0]] = (sql, params)

    timings: list[tuple[float, str, str, int]] = []
    for kind, search in planned:
        searching[0] = search
        began = time.perf_counter()
        page, _ = store.search(parse_query(search), READABLE, limit=20)
        timings.append(((time.perf_counter() - began) * 1000, kind, search, len(page)))
    event.remove(store.engine, "before_cursor_execute", _keep)
    all_ms = sorted(t[0] for t in timings)

    def pct(values: list[float], p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))], 2)

    by_kind = {}
    for kind in dict.fromkeys(k for _, k, _, _ in timings):
        mine = sorted(t[0] for t in timings if t[1] == kind)
        by_kind[kind] = {
            "n": len(mine),
            "p50_ms": pct(mine, 0.5),
            "max_ms": round(mine[-1], 2),
        }
    slowest = sorted(timings, reverse=True)[:5]
    return {
        "queries": len(timings),
        "p50_ms": pct(all_ms, 0.50),
        "p90_ms": pct(all_ms, 0.90),
        "p99_ms": pct(all_ms, 0.99),
        "max_ms": round(all_ms[-1], 2),
        "mean_ms": round(statistics.fmean(all_ms), 2),
        "empty_results": sum(1 for t in timings if t[3] == 0),
        "by_kind": by_kind,
        "slowest": [
            {
                "ms": round(ms, 2),
                "kind": kind,
                "query": search,
                "results": n,
                "plan": plan(store, *statements[search]),
            }
            for ms, kind, search, n in slowest
        ],
    }


def plan(store: SQLStore, sql: str, params: Any) -> list[str]:
    """The database's plan for *sql* (PostgreSQL: run, with timings)."""
    postgres = store.engine.dialect.name == "postgresql"
    explain = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + sql, params).all()
    return [str(row[0] if postgres else row[-1]) for row in rows]


# -- databases ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Postgres:
    """A throwaway PostgreSQL server, run as the postgres user."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not found:
            raise SystemExit(
                "PostgreSQL is not installed: apt-get install -y postgresql"
            )
        self.bin = found[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="chatroom-bench-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*self.as_pg, self.bin / "initdb", "-D", self.dir / "db", "-E", "UTF8",
             "--auth=trust", "-U", "postgres"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.port = free_port()
        subprocess.run(
            [*self.as_pg, self.bin / "pg_ctl", "-D", self.dir / "db", "-o",
             f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir}",
             "-l", self.dir / "log", "-w", "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def cpu(self) -> float:
        """The CPU seconds the server's processes have used (/proc)."""
        tick = os.sysconf("SC_CLK_TCK")
        postmaster = (self.dir / "db" / "postmaster.pid").read_text().split()[0]
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat.parent.name == postmaster or fields[1] == postmaster:
                total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def database(self, name: str) -> str:
        admin = create_engine(f"{self.url}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return f"{self.url}/{name}"

    def stop(self) -> None:
        subprocess.run(
            [
                *self.as_pg,
                self.bin / "pg_ctl",
                "-D",
                self.dir / "db",
                "-m",
                "fast",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def open_store(kind: type[SQLStore], db: str, where: Any, name: str) -> SQLStore:
    if db == "sqlite":
        return kind(sqlite_engine(f"sqlite:///{where / name}.sqlite3"))
    url = where.database(name) if isinstance(where, Postgres) else f"{where}_{name}"
    return kind(create_engine(url))


def size_of(store: SQLStore, db: str, where: Any, name: str) -> int:
    if db == "sqlite":
        return sum(p.stat().st_size for p in Path(where).glob(f"{name}.sqlite3*"))
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT pg_database_size(current_database())")
            ).scalar_one()
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--singles", type=int, default=5000, help="messages added one by one after"
    )
    parser.add_argument("--url", help="a PostgreSQL server URL without a database name")
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the ingest without the index"
    )
    args = parser.parse_args()

    corpus = Corpus()
    server = None
    if args.db == "sqlite":
        where: Any = Path(tempfile.mkdtemp(prefix="chatroom-bench-"))
    elif args.url:
        where = args.url
    else:
        where = server = Postgres()
    result: dict[str, Any] = {
        "benchmark": "search",
        "date": datetime.date.today().isoformat(),
        "db": args.db,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "messages": args.messages,
        "rooms": len(ROOMS),
        "readable_rooms": len(READABLE),
    }
    try:
        if not args.no_compare:
            plain = open_store(UnindexedStore, args.db, where, "plain")
            result["ingest_without_index"] = fill(plain, corpus, args.messages, server)
            result["size_without_index"] = size_of(plain, args.db, where, "plain")
            result["one_by_one_without_index"] = one_by_one(
                plain, corpus, args.singles, server
            )
            plain.close()
            print(
                json.dumps({"ingest_without_index": result["ingest_without_index"]}),
                flush=True,
            )
        store = open_store(SQLStore, args.db, where, "indexed")
        result["ingest_with_index"] = fill(store, corpus, args.messages, server)
        result["size_with_index"] = size_of(store, args.db, where, "indexed")
        result["one_by_one_with_index"] = one_by_one(
            store, corpus, args.singles, server
        )
        print(
            json.dumps({"ingest_with_index": result["ingest_with_index"]}), flush=True
        )
        if not args.no_compare:
            plain_rate = result["ingest_without_index"]
            rate = result["ingest_with_index"]
            result["ingest_ratio"] = round(rate["per_s"] / plain_rate["per_s"], 3)
            result["ingest_ratio_cpu"] = round(
                plain_rate["cpu_us_per_message"] / rate["cpu_us_per_message"], 3
            )
        if args.db == "postgresql":
            with store.engine.begin() as conn:
                conn.execute(text("ANALYZE chatroom_messages"))
        result["search"] = measure(store, corpus)
        store.close()
    finally:
        if server is not None:
            server.stop()
        if args.db == "sqlite":
            shutil.rmtree(where, ignore_errors=True)
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / f"{result['date']}-search-{args.db}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
