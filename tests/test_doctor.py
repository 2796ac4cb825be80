"""``flask chatroom doctor``: each problem it must report, with its fix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from flask_chatroom import register_chat


def doctor(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["chatroom", "doctor", *args])
    return result.exit_code, result.output


def host(
    tmp_path: Path, config: dict[str, Any] | None = None, **socketio: Any
) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="9f2c4e7a1b3d5f6e8a0c2e4f6a8b0d1c",
        CHATROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'chat.db'}",
        **(config or {}),
    )
    socketio.setdefault("async_mode", "gevent")
    register_chat(app, SocketIO(app, **socketio))
    app.test_cli_runner().invoke(args=["chatroom", "init-db"])
    return app


def test_a_good_setup_is_ready(tmp_path: Path) -> None:
    code, out = doctor(host(tmp_path))
    assert code == 0, out
    assert "ERROR" not in out and "WARNING" not in out
    assert "Ready to go live." in out
    assert "socket.io-client 4.8.4 matches python-socketio 5.x" in out


def test_threading_mode_is_a_warning_with_a_fix(tmp_path: Path) -> None:
    code, out = doctor(host(tmp_path, async_mode="threading"))
    assert code == 0
    assert "WARNING async mode" in out
    assert 'fix: Install gevent and pass async_mode="gevent"' in out


def test_several_workers_without_a_message_queue(tmp_path: Path) -> None:
    code, out = doctor(host(tmp_path), "--workers", "4")
    assert code == 1
    assert "ERROR   workers: 4 worker processes and no message queue" in out
    assert "SQLite with several processes" in out


def test_web_concurrency_counts_as_workers(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    code, out = doctor(host(tmp_path))
    assert code == 1
    assert "3 worker processes" in out


def test_an_unreachable_message_queue(tmp_path: Path) -> None:
    from .conftest import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    code, out = doctor(host(tmp_path, {"CHATROOM_REDIS_URL": url}))
    assert code == 1
    assert f"ERROR   message queue: Redis at {url} cannot be reached" in out


def test_a_reachable_message_queue(tmp_path: Path, redis_url: str) -> None:
    code, out = doctor(host(tmp_path, {"CHATROOM_REDIS_URL": redis_url}))
    assert code == 0, out
    assert f"Redis at {redis_url} answers" in out


def test_any_origin_is_an_error(tmp_path: Path) -> None:
    code, out = doctor(host(tmp_path, cors_allowed_origins="*"))
    assert code == 1
    assert "cross-site WebSocket hijacking" in out


def test_no_secret_key_is_an_error(tmp_path: Path) -> None:
    app = host(tmp_path)
    app.secret_key = None
    code, out = doctor(app)
    assert code == 1
    assert "ERROR   SECRET_KEY" in out


def test_a_missing_schema_or_database(tmp_path: Path) -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="9f2c4e7a1b3d5f6e8a0c2e4f6a8b0d1c",
        CHATROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'new.db'}",
    )
    register_chat(app, SocketIO(app, async_mode="gevent"))
    code, out = doctor(app)
    assert code == 1
    assert "The chat schema is missing" in out
    assert "fix: Run flask chatroom init-db" in out
    broken = Flask(__name__)
    broken.config.update(
        SECRET_KEY="9f2c4e7a1b3d5f6e8a0c2e4f6a8b0d1c",
        CHATROOM_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none",
    )
    register_chat(broken, SocketIO(broken, async_mode="gevent"))
    code, out = doctor(broken)
    assert code == 1
    assert "The chat database cannot be reached" in out


def test_a_client_that_does_not_match_the_server(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from flask_chatroom.adapters import doctor as checks

    monkeypatch.setattr(checks, "SOCKETIO_CLIENT_VERSION", "2.5.0")
    code, out = doctor(host(tmp_path))
    assert code == 1
    assert "socket.io-client 2.5.0 does not speak the protocol" in out


def test_an_empty_origin_list_is_an_error(tmp_path: Path) -> None:
    code, out = doctor(host(tmp_path, cors_allowed_origins=[]))
    assert code == 1
    assert "cors_allowed_origins=[] turns Engine.IO's origin check off" in out


def test_a_placeholder_or_short_secret_key_is_an_error(tmp_path: Path) -> None:
    for key in ("dev-only-example-secret-change-me", "short"):
        app = host(tmp_path)
        app.secret_key = key
        code, out = doctor(app)
        assert code == 1, key
        assert "SECRET_KEY looks like a placeholder or is short" in out


def test_uploads_without_libmagic_are_an_error(
    tmp_path: Path, monkeypatch: Any
) -> None:
    app = host(tmp_path)
    code, out = doctor(app)
    assert "libmagic decides uploads' types." in out
    # As on a machine without the library: importing python-magic fails.
    monkeypatch.setitem(sys.modules, "magic", None)
    code, out = doctor(app)
    assert code == 1
    assert "ERROR   file types: libmagic" in out
    assert "apt-get install libmagic1" in out
