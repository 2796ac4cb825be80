"""``flask chatroom doctor``: the checks a host runs before going live.

Each check looks at the app, its ``SocketIO`` and the chat's configuration and
reports a :class:`Finding` with a fix. ``error`` findings make the command exit
with status 1; ``warning`` findings do not.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from typing import Any

from flask import Flask

from ..config import shared_redis_url
from ..service import ChatService, get_service
from ..uploads import sniff
from ..vendor import SOCKETIO_CLIENT_VERSION

#: Words that mark a SECRET_KEY as an example value nobody replaced.
PLACEHOLDER_WORDS = (
    "change-me",
    "changeme",
    "change me",
    "dev-only",
    "example",
    "secret!",
)

#: socket.io-client major version -> the python-socketio major version that
#: speaks the same Socket.IO protocol (protocol 5: client 3.x/4.x, server 5.x).
COMPATIBLE_SERVER = {"3": "5", "4": "5"}


@dataclass(frozen=True)
class Finding:
    """One result of the self-check.

    :param level: ``"ok"``, ``"warning"`` or ``"error"``.
    :param check: what was checked.
    :param message: what was found.
    :param fix: what to change (empty for ``ok``).
    """

    level: str
    check: str
    message: str
    fix: str = ""


def _worker_count(workers: int | None) -> int:
    if workers is not None:
        return workers
    try:
        return int(os.environ.get("WEB_CONCURRENCY", "1"))
    except ValueError:
        return 1


def check_async_mode(socketio: Any) -> Finding:
    mode = socketio.async_mode
    if mode == "eventlet":
        return Finding(
            "error",
            "async mode",
            "Flask-SocketIO runs on eventlet, which is no longer maintained.",
            'Install gevent and pass async_mode="gevent"; serve with gunicorn -k '
            "gevent -w 1 (see docs/deployment).",
        )
    if mode == "threading":
        return Finding(
            "warning",
            "async mode",
            "Flask-SocketIO runs in threading mode: the Werkzeug development server "
            "or one thread per WebSocket, which falls behind at a few hundred users.",
            'Install gevent and pass async_mode="gevent"; serve with gunicorn -k '
            "gevent -w 1.",
        )
    return Finding("ok", "async mode", f"Flask-SocketIO runs on {mode}.")


def check_workers(socketio: Any, workers: int) -> Finding:
    queue = socketio.server_options.get("message_queue")
    if workers > 1 and not queue:
        return Finding(
            "error",
            "workers",
            f"{workers} worker processes and no message queue: users connected to "
            "different workers would not see each other's messages.",
            "Run one worker per process (gunicorn -w 1) or give SocketIO a "
            'message_queue="redis://..." and sticky sessions in the load balancer.',
        )
    return Finding("ok", "workers", f"{workers} worker process(es).")


def check_message_queue(state: ChatService, socketio: Any) -> Finding | None:
    queue = socketio.server_options.get("message_queue")
    url = shared_redis_url(state.config, queue)
    if url is None:
        return None
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:  # any failure means "cannot be reached"
        return Finding(
            "error",
            "message queue",
            f"Redis at {url} cannot be reached ({type(exc).__name__}).",
            "Start Redis or correct message_queue / CHATROOM_REDIS_URL.",
        )
    return Finding("ok", "message queue", f"Redis at {url} answers.")


def check_cors(socketio: Any) -> Finding:
    origins = socketio.server_options.get("cors_allowed_origins")
    if origins == "*" or (isinstance(origins, (list, tuple)) and "*" in origins):
        return Finding(
            "error",
            "allowed origins",
            'cors_allowed_origins="*" lets any web site open chat connections with '
            "your users' cookies (cross-site WebSocket hijacking).",
            "Leave cors_allowed_origins unset (same origin only) or list your own "
            "origins.",
        )
    if isinstance(origins, (list, tuple)) and not origins:
        return Finding(
            "error",
            "allowed origins",
            "cors_allowed_origins=[] turns Engine.IO's origin check off: any web site "
            "can open chat connections with your users' cookies.",
            "Leave cors_allowed_origins unset (same origin only) or list your own "
            "origins.",
        )
    return Finding("ok", "allowed origins", "Only listed origins may connect.")


def check_secret_key(app: Flask) -> Finding:
    fix = (
        'Set SECRET_KEY to a long random value (python -c "import secrets; '
        'print(secrets.token_hex(32))"), the same in every process.'
    )
    key = app.secret_key
    if not key:
        return Finding(
            "error",
            "SECRET_KEY",
            "The app has no SECRET_KEY: no sessions, so guests get a new name on every "
            "connection and Flask-Login cannot work.",
            fix,
        )
    text = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
    placeholder = any(word in text.lower() for word in PLACEHOLDER_WORDS)
    if len(text) < 24 or placeholder:
        return Finding(
            "error",
            "SECRET_KEY",
            "SECRET_KEY looks like a placeholder or is short: anyone who guesses it "
            "can sign sessions and speak as any user.",
            fix,
        )
    return Finding("ok", "SECRET_KEY", "SECRET_KEY is set.")


def check_database(state: ChatService, socketio: Any, workers: int) -> list[Finding]:
    findings = []
    store = state.store
    engine = getattr(store, "engine", None)
    try:
        status = store.schema_status()
    except Exception as exc:
        return [
            Finding(
                "error",
                "database",
                f"The chat database cannot be reached ({type(exc).__name__}).",
                "Check CHATROOM_DATABASE_URL and that the server is running.",
            )
        ]
    if status == "ok":
        findings.append(Finding("ok", "database", "The chat schema is current."))
    else:
        findings.append(
            Finding(
                "error",
                "database",
                f"The chat schema is {status}.",
                "Run flask chatroom migrate (it brings an older schema up to date)."
                if status == "outdated"
                else "Run flask chatroom init-db.",
            )
        )
    several = workers > 1 or bool(socketio.server_options.get("message_queue"))
    if engine is not None and engine.dialect.name == "sqlite" and several:
        findings.append(
            Finding(
                "error",
                "database",
                "SQLite with several processes: each machine would have its own "
                "history, and writers would queue on one file.",
                "Use PostgreSQL: CHATROOM_DATABASE_URL=postgresql+psycopg://...",
            )
        )
    elif engine is None and several:
        findings.append(
            Finding(
                "error",
                "database",
                "Messages are kept in memory, per process.",
                "Use PostgreSQL: CHATROOM_DATABASE_URL=postgresql+psycopg://...",
            )
        )
    return findings


def check_client_version() -> Finding:
    server = importlib.metadata.version("python-socketio").split(".")[0]
    client = SOCKETIO_CLIENT_VERSION.split(".")[0]
    if COMPATIBLE_SERVER.get(client) != server:
        return Finding(
            "error",
            "Socket.IO client",
            f"The bundled socket.io-client {SOCKETIO_CLIENT_VERSION} does not speak "
            f"the protocol of python-socketio {server}.x.",
            "Install the flask-chatroom release made for your python-socketio.",
        )
    return Finding(
        "ok",
        "Socket.IO client",
        f"socket.io-client {SOCKETIO_CLIENT_VERSION} matches python-socketio "
        f"{server}.x.",
    )


def check_file_types(state: ChatService) -> Finding | None:
    """Whether uploads can have their type decided (libmagic is loadable)."""
    if state.attachments is None:
        return None
    try:
        sniff(b"%PDF-1.4\n")
    except RuntimeError:
        return Finding(
            "error",
            "file types",
            "libmagic, which decides an upload's type from its content, is not "
            "installed: every upload is refused.",
            "Install libmagic (Debian/Ubuntu: apt-get install libmagic1; macOS: "
            "brew install libmagic).",
        )
    return Finding("ok", "file types", "libmagic decides uploads' types.")


def run_checks(app: Flask, workers: int | None = None) -> list[Finding]:
    """Every check, in order, for *app* (call inside its app context)."""
    state = get_service(app)
    socketio = app.extensions["socketio"]
    count = _worker_count(workers)
    findings: list[Any] = [
        check_async_mode(socketio),
        check_workers(socketio, count),
        check_message_queue(state, socketio),
        check_cors(socketio),
        check_secret_key(app),
        *check_database(state, socketio, count),
        check_client_version(),
        check_file_types(state),
    ]
    return [finding for finding in findings if finding is not None]
