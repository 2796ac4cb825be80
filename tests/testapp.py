"""The example host app with routes that tests use: ``/tutorial`` (the original
tutorial's page, its script unchanged, loading the bundled client) and
``/_test/websockets``. Served by tests/serve.py, or by gunicorn as
``tests.testapp:create_app()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response

from examples.hostapp.app import create_app as create_host_app
from flask_chatroom import get_chat

TUTORIAL = (Path(__file__).parent / "tutorial.html").read_text()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The example app; ``TEST_PING`` in *config*: ``[interval, timeout]`` in
    seconds for Engine.IO (default 25 and 20); ``TEST_INSTALLED_RELEASES``:
    ``{distribution: [major, minor]}`` that the fast path's release check is
    told are installed (to see it refuse a release it was not tested with);
    ``TEST_PROXY_FIX``: wrap the app in Werkzeug's ``ProxyFix`` (one proxy).
    ``POST /_test/disconnect_user/<id>`` calls ``Chat.disconnect_user``."""
    config = dict(config or {})
    ping = config.pop("TEST_PING", None)
    proxy_fix = config.pop("TEST_PROXY_FIX", False)
    pretend = config.pop("TEST_INSTALLED_RELEASES", None)
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
    if ping is not None:
        socketio.server.eio.ping_interval, socketio.server.eio.ping_timeout = ping

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

    return app
