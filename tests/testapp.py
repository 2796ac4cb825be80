"""The example host app with routes that tests use: ``/tutorial`` (the original
tutorial's page, its script unchanged, loading the bundled client),
``/_test/websockets``, ``/_test/probe`` (counts its calls, read at
``/_test/probe-count``) and ``/_test/memory`` (the process's resident memory).
Served by tests/serve.py, or by gunicorn as ``tests.testapp:create_app()``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask, Response

from examples.hostapp.app import USERS as host_users
from examples.hostapp.app import User as HostUser
from examples.hostapp.app import create_app as create_host_app
from flask_chatroom import get_chat

TUTORIAL = (Path(__file__).parent / "tutorial.html").read_text()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The example app; ``TEST_PING`` in *config*: ``[interval, timeout]`` in
    seconds for Engine.IO (default 25 and 20); ``TEST_INSTALLED_RELEASES``:
    ``{distribution: [major, minor]}`` that the fast path's release check is
    told are installed (to see it refuse a release it was not tested with);
    ``TEST_READ_ONLY_ROOMS``: rooms where nobody may post (a ``can_post`` hook
    that refuses them, for tests that need a refused room); ``TEST_PROXY_FIX``:
    wrap the app in Werkzeug's ``ProxyFix`` (one proxy); ``TEST_CHAT_LOG`` (also
    from the environment as ``FLASK_TEST_CHAT_LOG``): a level such as ``"INFO"``
    at which the ``flask_chatroom`` logger writes to stderr.
    ``TEST_USERS``: ``{id: name}``, more demo accounts to sign in as (a third
    user for the direct-message tests). ``TEST_ROOM_CREATION``: a
    ``can_create_room`` hook that lets signed-in users make rooms (the chat
    page then shows its "New room" button).
    ``POST /_test/disconnect_user/<id>`` calls ``Chat.disconnect_user``."""
    config = dict(config or {})
    for user_id, name in (config.pop("TEST_USERS", None) or {}).items():
        host_users[user_id] = HostUser(user_id, name)
    ping = config.pop("TEST_PING", None)
    proxy_fix = config.pop("TEST_PROXY_FIX", False)
    pretend = config.pop("TEST_INSTALLED_RELEASES", None)
    read_only = set(config.pop("TEST_READ_ONLY_ROOMS", None) or ())
    room_creation = config.pop("TEST_ROOM_CREATION", False)
    if pretend is not None:
        from flask_chatroom import fastpath

        real = fastpath.release_series

        def release_series(distribution: str) -> tuple[int, int] | None:
            if distribution in pretend:
                major, minor = pretend[distribution]
                return int(major), int(minor)
            return real(distribution)

        fastpath.release_series = release_series  # type: ignore[assignment]
    app = create_host_app(config)
    socketio = app.extensions["socketio"]
    level = app.config.get("TEST_CHAT_LOG")
    if level:
        chat_log = logging.getLogger("flask_chatroom")
        chat_log.setLevel(level)
        chat_log.addHandler(logging.StreamHandler(sys.stderr))
    probes = [0]
    if ping is not None:
        socketio.server.eio.ping_interval, socketio.server.eio.ping_timeout = ping
    if read_only:
        # The example app keeps its Chatroom to itself; its hooks live in the
        # service's policy (what ``Chatroom.can_post`` sets).
        policy = app.extensions["chatroom"].policy
        policy.can_post = lambda user, room: room not in read_only
    if room_creation:
        policy = app.extensions["chatroom"].policy
        # (The full page then offers its New room form by itself.)
        policy.can_create_room = lambda user, room, kind: not user.anonymous

    if proxy_fix:  # as the security docs say: after SocketIO and the chat
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]

    @app.post("/_test/disconnect_user/<user_id>")
    def disconnect_user(user_id: str) -> dict[str, int]:
        """What a host's logout or ban view does."""
        return {"closed": get_chat().disconnect_user(user_id)}

    app.extensions["csrf"].exempt(disconnect_user)

    @app.route("/tutorial")
    def tutorial() -> Response:
        return Response(TUTORIAL, mimetype="text/html")

    @app.route("/_test/websockets")
    def websockets_in_use() -> dict[str, int]:
        """How many Engine.IO sockets write directly (flask_chatroom.websocket)."""
        sockets = list(socketio.server.eio.sockets.values())
        direct = sum(type(s.queue).__name__ == "DirectQueue" for s in sockets)
        return {"direct": direct, "queued": len(sockets) - direct}

    @app.route("/_test/process")
    def process() -> dict[str, Any]:
        """Which flask_chatroom this server runs (a worktree's or the installed
        one) and its process id."""
        import flask_chatroom

        return {"flask_chatroom": flask_chatroom.__file__, "pid": os.getpid()}

    @app.route("/_test/probe", methods=["GET", "POST"])
    def probe() -> dict[str, int]:
        """Counts its calls: a request that should never reach the app."""
        probes[0] += 1
        return {"probes": probes[0]}

    @app.route("/_test/probe-count")
    def probe_count() -> dict[str, int]:
        return {"probes": probes[0]}

    @app.route("/_test/memory")
    def memory() -> dict[str, int]:
        """The worker process's resident memory, in bytes."""
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return {"rss": int(line.split()[1]) * 1024}
        return {"rss": 0}

    # Views that a stray POST must be able to reach (the site's CSRF check
    # would otherwise refuse it before the view could count it).
    app.extensions["csrf"].exempt(probe)

    return app
