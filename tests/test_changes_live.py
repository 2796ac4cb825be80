"""Changes to messages (edits, deletions, reactions) on real servers, followed by
clients that keep the client rule of docs/protocol.rst ("Changes to messages"):

- two server processes sharing PostgreSQL and Redis, users on both changing the
  same messages at once, an observer on each process, a client that leaves and
  comes back to the other process: everyone ends with the store's view, every
  ``change_seq`` applied once;
- a server killed with SIGKILL right after it acknowledged changes: a client
  coming back to the restarted process gets exactly those changes;
- a change made on one process to a message posted
  on another reaches that process's clients before the message itself, when
  the message queue is slower than the user.
"""

from __future__ import annotations

import contextlib
import queue
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from flask_chatroom.store import SQLStore, sqlite_engine

from .changeview import View
from .conftest import ChatClient, LiveServer, free_port

ROOM = "lobby"
NS = "/chat"
SECRET = "one-secret-for-every-process"
#: rule 2: a change held back this long (seconds) makes the client ask ``changes``
GAP_WAIT = 1.0
#: the longest any one step may take before the test fails, in seconds
STEP = 60.0
CHANGE_EVENTS = ("message edited", "message deleted", "reactions")

Connect = Callable[..., ChatClient]


def call(client: ChatClient, event: str, payload: Any) -> dict[str, Any]:
    """Emit *event* on the chat namespace; the acknowledgement."""
    ack = client.client.call(event, payload, namespace=NS, timeout=15)
    assert isinstance(ack, dict), (event, payload, ack)
    return ack


def connect(clients: Connect, url: str, **kwargs: Any) -> ChatClient:
    """A websocket client (from the ``clients`` fixture) recording change events."""
    return clients(url, transports=["websocket"], events=list(CHANGE_EVENTS), **kwargs)


def without_me(reactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "me"} for r in reactions]


def store_view(store: SQLStore, last_change_seq: int) -> View:
    """The room as the database holds it, read by the test itself."""
    messages, more = store.history(ROOM, limit=1000)
    assert not more
    history = {"change_seq": last_change_seq, "messages": []}
    view = View(history, "store")
    view.load([m.to_wire() for m in messages])
    return view


class Follower:
    """A client following the room by the documented rule: it keeps the
    messages it was sent (dropping one it has already, by ``id``), offers every
    change to its :class:`View` (live events, a catch-up's ``changes``), and
    asks ``changes`` from its cursor when a later change has been held back for
    :data:`GAP_WAIT`. Coming back, it sends ``since`` and ``changes_since``.

    ``live`` counts the change events that reached it live, by ``change_seq``.
    A follower made with *lose* throws those change events away as they come
    (as if they had never arrived): only asking ``changes`` fills the gaps.
    """

    def __init__(
        self,
        name: str,
        clients: Connect,
        url: str,
        lose: Callable[[int], bool] = lambda change_seq: False,
    ) -> None:
        self.name = name
        self.lose = lose
        self.lost = 0
        #: set to make :meth:`pump` return at once (the test failed elsewhere)
        self.abort = threading.Event()
        self._clients = clients
        self.client = connect(clients, url)
        self.welcome = self.client.next("welcome")
        self.view: View | None = None
        self.live: Counter[int] = Counter()
        self.repeated_messages = 0
        self.gap_fills = 0
        self.catch_ups: list[dict[str, Any]] = []
        self._early: list[tuple[str, Any]] = []  # what came before the first history
        self._gap_since: float | None = None

    @property
    def me(self) -> str:
        return str(self.welcome["id"])

    # -- what comes in ----------------------------------------------------------

    def handle(self, name: str, data: Any) -> None:
        if name == "chat error":
            raise AssertionError(f"{self.name} got a chat error: {data}")
        if name == "history":
            self._history(data)
            return
        if self.view is None:  # before the join's history: after it, by the rule
            self._early.append((name, data))
            return
        if data.get("room") != ROOM:
            return
        if name == "message receive":
            self._message(data)
        elif name in CHANGE_EVENTS:
            self.live[data["change_seq"]] += 1
            if self.lose(data["change_seq"]):
                self.lost += 1
                return
            self.view.offer(data)

    def _message(self, message: dict[str, Any]) -> None:
        assert self.view is not None
        if message["id"] in self.view.messages:
            self.repeated_messages += 1  # another process's, sent twice: dropped
        else:
            self.view.load([message])

    def _history(self, history: dict[str, Any]) -> None:
        assert history["room"] == ROOM, history
        if self.view is None:
            assert "changes" not in history, history
            self.view = View(history, self.me)
        else:  # back with since and changes_since (rule 4)
            self.catch_ups.append(history)
            for message in history["messages"]:
                self._message(message)
            for change in history["changes"]:
                self.view.offer(change)
            if history["changes_more"]:
                self.ask_changes()
            more = history["has_more"]
            while more:
                ack = call(
                    self.client, "history", {"room": ROOM, "after": self.last_seq}
                )
                assert ack["ok"] is True, ack
                for message in ack["messages"]:
                    self._message(message)
                more = ack["has_more"]
        early, self._early = self._early, []
        for name, data in early:
            self.handle(name, data)

    def ask_changes(self) -> None:
        """``changes`` from the cursor, page after page."""
        assert self.view is not None
        more = True
        while more:
            ack = call(
                self.client, "changes", {"room": ROOM, "since": self.view.cursor}
            )
            assert ack["ok"] is True, ack
            for change in ack["changes"]:
                self.view.offer(change)
            more = ack["has_more"]

    def _fill_gaps(self) -> None:
        if self.view is None or not self.view.held:
            self._gap_since = None
            return
        now = time.monotonic()
        if self._gap_since is None:
            self._gap_since = now
        elif now - self._gap_since >= GAP_WAIT:
            self.gap_fills += 1
            self.ask_changes()
            self._gap_since = None

    # -- driving it ---------------------------------------------------------------

    def pump(self, done: Callable[[], bool], timeout: float = STEP) -> None:
        """Handle what arrives, in order, until *done()* (at most *timeout*)."""
        deadline = time.monotonic() + timeout
        while not done() and not self.abort.is_set():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} waited {timeout} s: {self.status()}")
            try:
                name, data = self.client.inbox.get(timeout=0.05)
            except queue.Empty:
                pass
            else:
                self.handle(name, data)
            self._fill_gaps()

    def drain(self) -> None:
        """Handle what has arrived already (the connection is gone)."""
        while True:
            try:
                name, data = self.client.inbox.get_nowait()
            except queue.Empty:
                return
            self.handle(name, data)

    def come_back(self, url: str, **auth: Any) -> None:
        """Connect again (to *url*) as the same guest, with ``since`` and
        ``changes_since``; the catch-up is handled as it arrives."""
        assert self.view is not None
        self.client = connect(
            self._clients,
            url,
            auth={
                "guest_token": self.welcome["guest_token"],
                "since": {ROOM: self.last_seq},
                "changes_since": {ROOM: self.view.cursor},
                **auth,
            },
        )
        welcome = self.client.next("welcome")
        assert welcome["id"] == self.me, (welcome, self.welcome)

    @property
    def last_seq(self) -> int:
        assert self.view is not None
        return max((m["seq"] for m in self.view.messages.values()), default=0)

    def status(self) -> str:
        view = self.view
        if view is None:
            return "no history yet"
        return (
            f"cursor {view.cursor}, held {sorted(view.held)}, "
            f"{len(view.messages)} messages, live {sorted(self.live)[-5:]}..."
        )


def pumping(
    pool: ThreadPoolExecutor, follower: Follower, done: Callable[[], bool]
) -> Future[None]:
    return pool.submit(follower.pump, done, STEP * 3)


# -- two processes, one PostgreSQL, one Redis --------------------------------------


@dataclass
class Actor:
    """One connection of a guest who acts: the guest has one on each process."""

    guest: str
    side: str
    client: ChatClient
    id: str

    @property
    def name(self) -> str:
        return f"{self.guest}@{self.side}"


Op = tuple[Any, ...]


@dataclass
class Ledger:
    """What the servers acknowledged, written by the actors' threads."""

    texts: dict[str, str] = field(default_factory=dict)  # id -> posted text
    edits: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    reactions: dict[int, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    refused: list[tuple[str, Op, str]] = field(default_factory=list)
    acks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_change(self, table: dict[int, Any], change_seq: int, entry: Any) -> None:
        with self.lock:
            assert change_seq not in self.edits and change_seq not in self.reactions, (
                f"change_seq {change_seq} acknowledged twice"
            )
            table[change_seq] = entry


def run(actor: Actor, ops: list[Op], ledger: Ledger, started: threading.Event) -> None:
    """Do *ops* one after the other, each acknowledged before the next."""
    for n, op in enumerate(ops):
        if n == 3:
            started.set()
        kind = op[0]
        if kind == "post":
            ack = actor.client.send({"message": op[1]})
            assert ack["ok"] is True, (actor.name, op, ack)
            with ledger.lock:
                ledger.texts[ack["id"]] = op[1]
                ledger.acks += 1
            continue
        if kind == "edit":
            ack = call(actor.client, "edit message", {"id": op[1], "message": op[2]})
        elif kind == "react":
            payload = {"id": op[1], "emoji": op[2], "on": op[3]}
            ack = call(actor.client, "react", payload)
        else:
            ack = call(actor.client, "delete message", {"id": op[1]})
        with ledger.lock:
            ledger.acks += 1
        if not ack["ok"]:
            with ledger.lock:
                ledger.refused.append((actor.name, op, ack["error"]["code"]))
            continue
        assert ack["id"] == op[1], ack
        if kind == "edit":
            ledger.add_change(
                ledger.edits, ack["change_seq"], (op[1], op[2], ack["edited_ts"])
            )
        elif kind == "react" and "change_seq" in ack:
            ledger.add_change(
                ledger.reactions,
                ack["change_seq"],
                (op[1], without_me(ack["reactions"])),
            )
        elif kind == "delete":
            with ledger.lock:
                ledger.deletes.append(op[1])
    started.set()


def plan(
    phase: int,
    actors: list[Actor],
    own: dict[str, list[str]],
    every: list[str],
    emojis: list[str],
    deletes: dict[str, list[str]],
    posts: bool = False,
) -> dict[str, list[Op]]:
    """Each actor's operations in *phase*, shuffled (the same each run): both
    connections of a guest edit the same messages of theirs, everyone reacts
    to everyone's messages (often the same emoji on the same message, from
    both processes), *deletes* names who deletes what."""
    rng = random.Random(1500 + phase)
    plans: dict[str, list[Op]] = {}
    for actor in actors:
        ops: list[Op] = []
        for n, message_id in enumerate(own[actor.guest]):
            markup = " **bold**" if (n + phase) % 2 else ""
            ops.append(("edit", message_id, f"{actor.name} {phase}.{n}{markup}"))
        for _ in range(8):
            ops.append(
                ("react", rng.choice(every), rng.choice(emojis), rng.random() < 0.7)
            )
        for message_id in deletes.get(actor.name, ()):
            ops.append(("delete", message_id))
        rng.shuffle(ops)
        if posts:
            ops.insert(rng.randrange(len(ops)), ("post", f"{actor.name} new"))
        plans[actor.name] = ops
    return plans


def act(
    pool: ThreadPoolExecutor,
    actors: list[Actor],
    plans: dict[str, list[Op]],
    ledger: Ledger,
) -> tuple[list[Future[None]], threading.Event]:
    """Start every actor's plan at once; the event is set once the first
    actor is a few operations in."""
    started = threading.Event()
    futures = [pool.submit(run, a, plans[a.name], ledger, started) for a in actors]
    return futures, started


@pytest.fixture
def two_processes(
    live_server_factory: Callable[..., LiveServer], redis_url: str, postgres_url: str
) -> tuple[LiveServer, LiveServer, str]:
    config = {
        "SECRET_KEY": SECRET,
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "CHATROOM_DATABASE_URL": postgres_url,
        "CHATROOM_RATE_LIMITS": None,
    }
    return (
        live_server_factory("gevent", config),
        live_server_factory("gevent", config),
        postgres_url,
    )


@pytest.mark.server
@pytest.mark.slow
def test_changes_from_two_processes_reach_everyone_once(
    two_processes: tuple[LiveServer, LiveServer, str],
    clients: Callable[..., ChatClient],
) -> None:
    a, b, database_url = two_processes
    urls = {"A": a.url, "B": b.url}
    pool = ThreadPoolExecutor(max_workers=12)
    followers: list[Follower] = []
    try:
        observers = [
            Follower("observer@A", clients, a.url),
            Follower("observer@B", clients, b.url),
            # Loses some early changes (later ones always follow them).
            Follower("lossy@B", clients, b.url, lose=lambda c: c % 7 == 3 and c < 40),
        ]
        away = Follower("away", clients, a.url)  # leaves, comes back to B
        followers += [*observers, away]

        # Three guests, each with a connection on both processes (the second
        # one comes as the same guest with the first one's guest token).
        actors: list[Actor] = []
        for guest in ("g1", "g2", "g3"):
            first = connect(clients, a.url)
            welcome = first.next("welcome")
            second = connect(
                clients, b.url, auth={"guest_token": welcome["guest_token"]}
            )
            assert second.next("welcome")["id"] == welcome["id"]
            actors += [
                Actor(guest, "A", first, welcome["id"]),
                Actor(guest, "B", second, welcome["id"]),
            ]
        emojis = list(observers[0].welcome["reactions"][:3])
        assert len(emojis) == 3, observers[0].welcome

        finish = threading.Event()
        target = {"change_seq": -1, "ends": frozenset()}

        def finished(follower: Follower) -> Callable[[], bool]:
            def done() -> bool:
                view = follower.view
                return (
                    finish.is_set()
                    and view is not None
                    and view.cursor >= target["change_seq"]
                    and target["ends"] <= set(view.messages)
                )

            return done

        watching = [pumping(pool, o, finished(o)) for o in observers]
        away_until = threading.Event()
        away_watch = pumping(pool, away, away_until.is_set)

        # Four messages from each guest, posted through both processes.
        ledger = Ledger()
        own: dict[str, list[str]] = {}
        for n in range(12):
            actor = actors[n % 6]
            ack = actor.client.send({"message": f"{actor.name} says {n}"})
            assert ack["ok"] is True, ack
            ledger.texts[ack["id"]] = f"{actor.name} says {n}"
            own.setdefault(actor.guest, []).append(ack["id"])
        every = [m for ids in own.values() for m in ids]

        def check(futures: list[Future[None]]) -> None:
            for future in futures:
                future.result(timeout=STEP)

        # Phase 1: everyone at once; g1 deletes a message from both processes.
        editable = {guest: ids[:3] for guest, ids in own.items()}
        deletes = {"g1@A": [own["g1"][3]], "g1@B": [own["g1"][3]]}
        futures, _ = act(
            pool, actors, plan(1, actors, editable, every, emojis, deletes), ledger
        )
        check(futures)

        # The away client goes, with what it has seen so far.
        away_until.set()
        away_watch.result(timeout=STEP)
        away.client.client.disconnect()
        away.drain()
        assert away.view is not None
        left_at = away.view.cursor

        # Phase 2, while it is away: g2 deletes one, everyone posts a message.
        deletes = {"g2@A": [own["g2"][3]], "g2@B": [own["g2"][3]]}
        before = set(ledger.texts)
        futures, _ = act(
            pool,
            actors,
            plan(2, actors, editable, every, emojis, deletes, posts=True),
            ledger,
        )
        check(futures)
        new = [m for m in ledger.texts if m not in before]
        for guest in own:  # their new messages: edited by their author too
            mine = [m for m in new if ledger.texts[m].startswith(f"{guest}@")]
            editable[guest] = [*own[guest][:3], *mine]
        every = list(ledger.texts)

        # Phase 3: everyone again; it comes back, to the other process, while
        # the changes go on. g3 deletes one; g1 deletes one its other
        # connection is editing.
        deletes = {"g3@A": [own["g3"][3]], "g1@B": [own["g1"][2]]}
        futures, started = act(
            pool, actors, plan(3, actors, editable, every, emojis, deletes), ledger
        )
        assert started.wait(STEP), "phase 3 did not start"
        away.come_back(b.url)
        back_watch = pumping(pool, away, finished(away))
        check(futures)

        # Everything is acknowledged: the change log must be exactly that.
        store = SQLStore(create_engine(database_url))
        log = store.changes_since(ROOM, 0, limit=100_000)
        last = len(log)
        assert [c.change_seq for c in log] == list(range(1, last + 1))
        assert store.last_change_seq(ROOM) == last
        deleted = {c.message_id: c.change_seq for c in log if c.kind == "delete"}
        assert sorted(deleted) == sorted(set(ledger.deletes)), "deletions vs acks"
        assert [c.message_id for c in log if c.kind == "delete"] == list(deleted), (
            "a message was deleted twice"
        )
        acked = sorted([*ledger.edits, *ledger.reactions, *deleted.values()])
        assert acked == list(range(1, last + 1)), "the log is not what was acked"
        for change in log:
            wire = change.to_wire()
            if change.kind == "edit":
                assert ledger.edits[change.change_seq] == (
                    wire["id"],
                    wire["message"],
                    wire["edited_ts"],
                )
            elif change.kind == "reactions":
                assert ledger.reactions[change.change_seq] == (
                    wire["id"],
                    wire["reactions"],
                )
        # Refusals only for messages deleted by then, and only for an edit or
        # a reaction (not_found): deleting a deleted message again is an "ok"
        # that changes nothing.
        for who, op, code in ledger.refused:
            assert op[1] in deleted, (who, op, code)
            assert op[0] != "delete" and code == "not_found", (who, op, code)

        # Two last messages, one through each process: every follower has
        # seen all the rest live once it has these.
        ends = []
        for actor in actors[:2]:
            ack = actor.client.send({"message": f"the end, from {actor.side}"})
            assert ack["ok"] is True, ack
            ledger.texts[ack["id"]] = f"the end, from {actor.side}"
            ends.append(ack["id"])
        target.update(change_seq=last, ends=frozenset(ends))
        finish.set()
        for future in [*watching, back_watch]:
            future.result(timeout=STEP * 3)

        # What the store says, by the acknowledgements alone: each message's
        # last acknowledged edit, its last reaction change, its deletion.
        expected: dict[str, tuple[str, bool, list[dict[str, Any]]]] = {}
        for message_id, text in ledger.texts.items():
            if message_id in deleted:
                expected[message_id] = ("", True, [])
                continue
            edits = sorted(
                (seq, e[1]) for seq, e in ledger.edits.items() if e[0] == message_id
            )
            reacted = sorted(
                (seq, r[1]) for seq, r in ledger.reactions.items() if r[0] == message_id
            )
            expected[message_id] = (
                edits[-1][1] if edits else text,
                False,
                reacted[-1][1] if reacted else [],
            )
        truth = store_view(store, last)
        store.engine.dispose()
        assert {
            m["id"]: (m["message"], bool(m.get("deleted")), m.get("reactions", []))
            for m in truth.messages.values()
        } == expected

        # Everyone shows that, each change applied once.
        fresh = {}
        for side, url in urls.items():
            newcomer = Follower(f"newcomer@{side}", clients, url)
            newcomer.pump(lambda f=newcomer: f.view is not None)
            assert newcomer.view is not None
            assert newcomer.view.cursor == last
            fresh[side] = newcomer.view.state()
        assert fresh["A"] == fresh["B"] == truth.state()
        for follower in followers:
            view = follower.view
            assert view is not None
            assert view.state() == truth.state(), follower.name
            assert view.consumed == list(range(1, last + 1)), follower.name
            assert not view.held, follower.name
        for observer in observers:
            assert observer.live == Counter(range(1, last + 1)), (
                f"{observer.name} did not get each change live exactly once"
            )
        lossy = observers[-1]
        assert lossy.lost == 6 and lossy.gap_fills >= 1, (lossy.lost, lossy.gap_fills)
        # The one that was away got what it missed in its catch-up.
        (catch_up,) = away.catch_ups
        assert catch_up["since"] is not None
        assert catch_up["changes"], catch_up
        assert catch_up["changes"][0]["change_seq"] == left_at + 1
        assert {m["id"] for m in catch_up["messages"]} >= (
            set(ledger.texts) - before - set(ends)
        )

        print(
            f"\n{last} changes from {ledger.acks} acknowledged actions, "
            f"{len(ledger.refused)} refused; away left at {left_at}, caught up "
            f"{len(catch_up['changes'])}; "
            + "; ".join(
                f"{f.name}: {f.view.out_of_order if f.view else 0} out of order, "
                f"{f.view.repeats if f.view else 0} repeats, {f.gap_fills} gap fills, "
                f"{f.lost} lost, "
                f"{f.repeated_messages} repeated messages"
                for f in followers
            )
        )
    finally:
        for follower in followers:
            follower.abort.set()
        pool.shutdown(wait=False, cancel_futures=True)


# -- a change that overtakes its message ----------------------------------------


class HoldingRedisProxy:
    """A TCP proxy in front of Redis for one server process: while :attr:`hold`
    is set, what Redis sends to that process's subscriber connection (the
    message queue's listener: other processes' emits) waits in the proxy, as it
    would behind a slow network or a busy listener. Everything else passes."""

    def __init__(self, redis_url: str) -> None:
        address = redis_url.split("://", 1)[1].split("/", 1)[0]
        host, port = address.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.hold = threading.Event()
        self._released = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = [self._listener]
        self._closed = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        with self._released:
            self.hold.clear()
            self._released.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        self.release()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    downstream.close()
                    return
                upstream = socket.create_connection(self.upstream)
                self._sockets += [downstream, upstream]
            subscriber = threading.Event()
            for args in (
                (downstream, upstream, subscriber, False),
                (upstream, downstream, subscriber, True),
            ):
                threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def _pipe(
        self,
        source: socket.socket,
        sink: socket.socket,
        subscriber: threading.Event,
        from_redis: bool,
    ) -> None:
        try:
            while data := source.recv(65536):
                if not from_redis and b"SUBSCRIBE" in data.upper():
                    subscriber.set()
                if from_redis and subscriber.is_set():
                    with self._released:
                        while self.hold.is_set():
                            self._released.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.mark.server
@pytest.mark.slow
def test_a_change_never_overtakes_the_message_it_changes(
    live_server_factory: Callable[..., LiveServer],
    redis_url: str,
    postgres_url: str,
    clients: Connect,
) -> None:
    proxy = HoldingRedisProxy(redis_url)
    try:
        config = {
            "SECRET_KEY": SECRET,
            "CHATROOM_DATABASE_URL": postgres_url,
            "CHATROOM_RATE_LIMITS": None,
        }
        a = live_server_factory(
            "gevent", {**config, "SOCKETIO_MESSAGE_QUEUE": redis_url}
        )
        b = live_server_factory(
            "gevent", {**config, "SOCKETIO_MESSAGE_QUEUE": proxy.url}
        )
        # One guest with a tab on each process; an observer on process B.
        tab_a = connect(clients, a.url)
        token = tab_a.next("welcome")["guest_token"]
        tab_b = connect(clients, b.url, auth={"guest_token": token})
        tab_b.next("welcome")
        observer = Follower("observer@B", clients, b.url)
        observer.pump(lambda: observer.view is not None)
        # The message queue works both ways before the hold.
        hello = tab_b.send({"message": "hello from B"})
        assert hello["ok"] is True, hello
        assert tab_a.next("message receive")["id"] == hello["id"]
        observer.pump(lambda: hello["id"] in observer.view.messages)

        # The guest posts through A and, at once, fixes a typo through B,
        # while A's emit is still on its way to B.
        proxy.hold.set()
        sent = tab_a.send({"message": "teh plan"})
        assert sent["ok"] is True, sent
        edit = call(tab_b, "edit message", {"id": sent["id"], "message": "the plan"})
        assert edit["ok"] is True and edit["change_seq"] == 1, edit
        observer.pump(lambda: 1 in observer.live)
        proxy.release()
        observer.pump(lambda: sent["id"] in observer.view.messages)
        assert observer.view is not None

        newcomer = Follower("newcomer@B", clients, b.url)
        newcomer.pump(lambda: newcomer.view is not None)
        assert newcomer.view is not None
        assert newcomer.view.messages[sent["id"]]["message"] == "the plan"
        # The edit came before the message (a process sends its own emits to
        # its clients at once, other processes' only when they come out of
        # Redis): the observer kept it until the message came (rule 3, by the
        # change's seq), and shows what a newcomer does.
        assert observer.view.cursor == 1
        assert observer.view.messages[sent["id"]]["message"] == "the plan", (
            "the edit reached process B's clients before the message it edits"
        )
        assert observer.view.state() == newcomer.view.state()
    finally:
        proxy.close()


# -- kill -9 -----------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_acknowledged_changes_survive_kill_9(
    database: str,
    live_server_factory: Callable[..., LiveServer],
    clients: Callable[..., ChatClient],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
        engine = sqlite_engine(url)
    else:
        url = request.getfixturevalue("postgres_url")
        engine = create_engine(url)
    config = {
        "SECRET_KEY": SECRET,
        "CHATROOM_DATABASE_URL": url,
        "CHATROOM_RATE_LIMITS": None,
    }
    first = live_server_factory("gevent", config)
    author = connect(clients, first.url)
    author_welcome = author.next("welcome")
    reactor = connect(clients, first.url)
    reactor_id = reactor.next("welcome")["id"]
    watcher = Follower("watcher", clients, first.url)  # stays until the kill
    posted = [author.send({"message": f"message {n}"}) for n in range(3)]
    assert [ack["seq"] for ack in posted] == [1, 2, 3], posted
    ids = [ack["id"] for ack in posted]
    away = Follower("away", clients, first.url)
    away.pump(lambda: away.view is not None and len(away.view.messages) == 3)
    away.client.client.disconnect()
    assert away.view is not None and away.view.cursor == 0

    # An edit, two reactions and a deletion, each acknowledged: then SIGKILL.
    edit = call(author, "edit message", {"id": ids[0], "message": "**edited** once"})
    thumbs = call(reactor, "react", {"id": ids[1], "emoji": "👍"})
    party = call(author, "react", {"id": ids[0], "emoji": "🎉"})
    deletion = call(author, "delete message", {"id": ids[2]})
    first.process.kill()
    first.process.wait(timeout=10)
    acks = [edit, thumbs, party, deletion]
    assert all(ack["ok"] is True for ack in acks), acks
    assert [edit["change_seq"], thumbs["change_seq"], party["change_seq"]] == [1, 2, 3]
    watcher.drain()  # whatever reached it before the kill

    second = live_server_factory("gevent", config)  # the same database
    away.come_back(second.url)
    away.pump(lambda: bool(away.catch_ups))
    (catch_up,) = away.catch_ups
    assert catch_up["since"] == 3 and catch_up["messages"] == []
    assert catch_up["change_seq"] == 4 and catch_up["changes_more"] is False
    changes = [dict(c) for c in catch_up["changes"]]
    for change in changes:
        if "reactions" in change:
            change["reactions"] = without_me(change["reactions"])
    assert changes == [
        {
            "kind": "edit",
            "id": ids[0],
            "room": ROOM,
            "change_seq": 1,
            "seq": posted[0]["seq"],
            "message": "**edited** once",
            "edited_ts": edit["edited_ts"],
            "html": "<p><strong>edited</strong> once</p>",
        },
        {
            "kind": "reactions",
            "id": ids[1],
            "room": ROOM,
            "change_seq": 2,
            "seq": posted[1]["seq"],
            "reactions": without_me(thumbs["reactions"]),
            "user_id": reactor_id,
            "emoji": "👍",
            "on": True,
        },
        {
            "kind": "reactions",
            "id": ids[0],
            "room": ROOM,
            "change_seq": 3,
            "seq": posted[0]["seq"],
            "reactions": without_me(party["reactions"]),
            "user_id": author_welcome["id"],
            "emoji": "🎉",
            "on": True,
        },
        {
            "kind": "delete",
            "id": ids[2],
            "room": ROOM,
            "change_seq": 4,
            "seq": posted[2]["seq"],
        },
    ]
    assert without_me(thumbs["reactions"]) == [
        {"emoji": "👍", "count": 1, "user_ids": [reactor_id]}
    ]

    # The watcher comes back too, from wherever the kill left it.
    watcher.come_back(second.url)
    watcher.pump(lambda: bool(watcher.catch_ups) and watcher.view.cursor == 4)

    # The log goes on from there, gapless, on the new process.
    author = connect(
        clients, second.url, auth={"guest_token": author_welcome["guest_token"]}
    )
    assert author.next("welcome")["id"] == author_welcome["id"]
    after = call(author, "edit message", {"id": ids[1], "message": "after the crash"})
    assert after["ok"] is True and after["change_seq"] == 5, after
    for follower in (away, watcher):
        follower.pump(lambda f=follower: f.view.cursor == 5)
        assert follower.view.consumed == [1, 2, 3, 4, 5], follower.name

    newcomer = Follower("newcomer", clients, second.url)
    newcomer.pump(lambda: newcomer.view is not None)
    assert newcomer.view is not None and newcomer.view.cursor == 5
    truth = store_view(SQLStore(engine), 5)
    engine.dispose()
    assert newcomer.view.state() == away.view.state() == watcher.view.state()
    assert newcomer.view.state() == truth.state()
    shown = {m["id"]: m for m in newcomer.view.messages.values()}
    assert shown[ids[0]]["message"] == "**edited** once"
    assert shown[ids[0]]["edited_ts"] == edit["edited_ts"]
    assert [r["emoji"] for r in shown[ids[0]]["reactions"]] == ["🎉"]
    assert shown[ids[1]]["message"] == "after the crash"
    assert shown[ids[1]]["reactions"] == [
        {"emoji": "👍", "count": 1, "user_ids": [reactor_id]}
    ]
    assert shown[ids[2]]["deleted"] is True and shown[ids[2]]["message"] == ""


# -- the client rule itself --------------------------------------------------------


def test_the_rule_holds_later_changes_and_drops_repeats() -> None:
    history = {
        "change_seq": 1,
        "messages": [{"id": "m", "seq": 1, "message": "a", "change_seq": 1}],
    }
    view = View(history, "me")

    def edit(change_seq: int) -> dict[str, Any]:
        text = f"v{change_seq}"
        return {"kind": "edit", "id": "m", "change_seq": change_seq, "message": text}

    for change_seq in (3, 1, 4, 3, 2, 2, 5):
        view.offer({**edit(change_seq), "edited_ts": change_seq})
    assert view.consumed == [2, 3, 4, 5] and view.cursor == 5 and not view.held
    assert view.messages["m"]["message"] == "v5"
    assert (view.repeats, view.out_of_order) == (3, 2)
