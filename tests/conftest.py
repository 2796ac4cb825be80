"""Shared fixtures: a host app with the chat, Socket.IO test clients, and real
servers on loopback ports for python-socketio clients and the browser."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engineio
import pytest
import socketio as sio
from flask import Flask
from flask_socketio import SocketIO, SocketIOTestClient

from flask_chatroom import Chatroom, get_chat, register_chat

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ASYNC_MODES = ["threading", "gevent"]


def require(available: bool, component: str, install: str) -> None:
    """Fail in CI, or skip locally naming the install command, without *component*."""
    if available:
        return
    message = f"{component} is not available; install it with: {install}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _instance_folder_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps made in tests keep their instance folder (and the chat's default SQLite
    file) in the test's temporary directory, not in the source tree."""
    monkeypatch.setattr(
        Flask, "auto_find_instance_path", lambda self: str(tmp_path / "instance")
    )


def make_chat_app(
    async_mode: str = "threading", **config: Any
) -> tuple[Flask, Chatroom]:
    """A small host app with the chat registered, configured by CHATROOM_* keys,
    and its :class:`Chatroom` (to add hooks).

    Messages are kept in memory unless ``CHATROOM_DATABASE_URL`` says otherwise.
    """
    app = Flask("hostapp_under_test")
    config.setdefault("CHATROOM_DATABASE_URL", "memory://")
    app.config.update(SECRET_KEY="test-secret", TESTING=True, **config)
    socketio = SocketIO(app, async_mode=async_mode)
    return app, register_chat(app, socketio)


def make_app(async_mode: str = "threading", **config: Any) -> Flask:
    """:func:`make_chat_app` without the :class:`Chatroom`."""
    return make_chat_app(async_mode, **config)[0]


@pytest.fixture(params=ASYNC_MODES)
def async_mode(request: pytest.FixtureRequest) -> str:
    """Each Socket.IO async mode the tests cover."""
    return str(request.param)


@pytest.fixture
def app(async_mode: str, request: pytest.FixtureRequest) -> Flask:
    """A host app with the chat on its defaults (messages in an SQLite file in the
    instance folder), once per async mode. Tests marked ``no_rate_limits`` (they
    post faster than a person) get the chat without rate limits."""
    config: dict[str, Any] = {"CHATROOM_DATABASE_URL": None}
    if request.node.get_closest_marker("no_rate_limits"):
        config["CHATROOM_RATE_LIMITS"] = None
    return make_app(async_mode, **config)


@pytest.fixture
def socketio(app: Flask) -> SocketIO:
    """The host app's SocketIO object."""
    sio: SocketIO = app.extensions["socketio"]
    return sio


@pytest.fixture
def connect(
    app: Flask, socketio: SocketIO
) -> Iterator[Callable[..., SocketIOTestClient]]:
    """Connect a Socket.IO test client to the chat namespace; disconnected at the end.

    ``connect(flask_test_client=client)`` shares that HTTP client's session.
    """
    clients: list[SocketIOTestClient] = []

    def _connect(**kwargs: Any) -> SocketIOTestClient:
        namespace = get_chat(app).config.namespace
        client = socketio.test_client(app, namespace=namespace, **kwargs)
        assert client.is_connected(namespace)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        if client.is_connected(get_chat(app).config.namespace):
            client.disconnect(get_chat(app).config.namespace)


def send(client: SocketIOTestClient, text: str, **extra: Any) -> Any:
    """Post *text* (with more payload fields) on the chat's namespace; the ack."""
    return client.emit(
        "message broadcast",
        {"message": text, **extra},
        namespace="/chat",
        callback=True,
    )


def call(client: SocketIOTestClient, event: str, payload: Any) -> Any:
    """Emit *event* with *payload* on the chat's namespace; the ack."""
    return client.emit(event, payload, namespace="/chat", callback=True)


def events(
    client: SocketIOTestClient, name: str, namespace: str = "/chat"
) -> list[Any]:
    """The first argument of each received event called *name* (consumes the queue)."""
    return [e["args"][0] for e in client.get_received(namespace) if e["name"] == name]


# -- real servers ------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A chat host app served by a real server in a child process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    tmp_path: Path, async_mode: str = "gevent", config: dict[str, Any] | None = None
) -> LiveServer:
    """Start ``tests/serve.py`` on a free loopback port and wait until it answers."""
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    config = {
        "CHATROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'chat.sqlite3'}",
        **(config or {}),
    }
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        str(ROOT / "tests" / "serve.py"),
        "--port",
        str(port),
        "--async-mode",
        async_mode,
        "--config",
        json.dumps(config or {}),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/hello", process, log_path)
    return LiveServer(url, process, log_path)


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait up to 30 s for *url* to answer 200; kill *process* if it never does."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start:\n{log.read_text()}")
        time.sleep(0.1)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start example host apps on real servers: ``factory(async_mode, config)``."""
    servers: list[LiveServer] = []

    def _start(
        async_mode: str = "gevent", config: dict[str, Any] | None = None
    ) -> LiveServer:
        server = start_server(tmp_path, async_mode, config)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        stop_server(server)


@pytest.fixture
def live_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    """The example host app on gevent, with the chat on its defaults."""
    return live_server_factory()


class WireOrderEngineIOClient(engineio.Client):  # type: ignore[misc]
    """python-engineio's threaded client, handing every packet to python-socketio
    in the order it came off the wire.

    Upstream (python-engineio 4.15, ``Client._receive_packet``) triggers the
    ``message`` event with ``run_async=True``: each Socket.IO packet is handled in
    a thread of its own, so two frames that arrive back to back can reach the
    event handlers (and the tests' inbox) in either order. Here the read loop runs
    the handler itself, one packet after another, as upstream already does for
    ``connect`` and ``disconnect``. A handler must therefore not wait for another
    packet (``ChatClient``'s handlers only queue what they get); ``call()`` from
    another thread still works, its ack being just one more packet read here.
    Checked by ``test_the_test_clients_see_frames_in_wire_order`` (test_live.py).
    """

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)

    def disconnect(self, abort: bool = False, reason: Any = None) -> None:
        # A Socket.IO DISCONNECT packet from the server now ends the connection
        # on the read loop's own thread, which cannot join itself: do not wait
        # for it, as python-engineio does for an Engine.IO CLOSE packet.
        if threading.current_thread() is self.read_loop_task:
            abort = True
        super().disconnect(abort=abort, reason=reason)


class WireOrderClient(sio.Client):  # type: ignore[misc]
    """A python-socketio ``Client`` whose event handlers run in wire order."""

    def _engineio_client_class(self) -> type[engineio.Client]:
        # The hook python-socketio's own Client and AsyncClient use to pick
        # their Engine.IO client.
        return WireOrderEngineIOClient


class ChatClient:
    """A python-socketio client that records the chat events it receives, in the
    order the server sent them (see ``WireOrderClient``)."""

    def __init__(
        self,
        url: str,
        namespace: str = "/chat",
        transports: list[str] | None = None,
        auth: dict[str, Any] | None = None,
        events: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.namespace = namespace
        self.client = WireOrderClient(reconnection=False)
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        recorded = [
            "welcome",
            "message receive",
            "chat error",
            "history",
            *(events or []),
        ]
        for event in recorded:
            self.client.on(event, self._recorder(event), namespace=namespace)
        self.client.connect(
            url,
            namespaces=[namespace],
            transports=transports,
            auth=auth,
            headers=headers or {},
            wait_timeout=10,
        )

    def _recorder(self, event: str) -> Callable[[Any], None]:
        return lambda data: self.inbox.put((event, data))

    def next(self, event: str, timeout: float = 10) -> Any:
        while True:
            name, data = self.inbox.get(timeout=timeout)
            if name == event:
                return data

    def send(self, payload: Any) -> Any:
        return self.client.call(
            "message broadcast", payload, namespace=self.namespace, timeout=10
        )


@pytest.fixture
def clients() -> Iterator[Callable[..., ChatClient]]:
    """``clients(url, **ChatClient options)``: python-socketio clients that are
    all disconnected (at once) when the test ends."""
    made: list[ChatClient] = []

    def _make(url: str, **kwargs: Any) -> ChatClient:
        client = ChatClient(url, **kwargs)
        made.append(client)
        return client

    yield _make
    # Disconnecting a websocket client takes a while; do them all at once.
    threads = [threading.Thread(target=c.client.disconnect) for c in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)


# -- the browser --------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    require(Path(CHROMIUM).exists(), "Chromium", "apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        require(False, "Playwright", "pip install -e '.[test]'")
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


# -- PostgreSQL ----------------------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on a loopback port, run as the postgres user;
    yields its URL without a database name."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    require(
        initdb is not None and pg_ctl is not None,
        "PostgreSQL",
        "apt-get install -y postgresql",
    )
    assert initdb is not None and pg_ctl is not None
    import tempfile

    data = Path(tempfile.mkdtemp(prefix="chatroom-pg-"))
    shutil.chown(data, "postgres", "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [
            *as_postgres,
            initdb,
            "-D",
            str(data / "db"),
            "--auth=trust",
            "-U",
            "postgres",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off"
    subprocess.run(
        [
            *as_postgres,
            pg_ctl,
            "-D",
            str(data / "db"),
            "-o",
            options,
            "-l",
            str(data / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_postgres, pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    from sqlalchemy import create_engine, text

    name = f"chat_{os.getpid()}_{time.monotonic_ns()}"
    admin = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- Redis -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server on a loopback port; yields its URL."""
    binary = shutil.which("redis-server")
    require(binary is not None, "Redis", "apt-get install -y redis-server")
    assert binary is not None
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The Redis server, emptied for this test."""
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return redis_server
