"""The example host app: a small site with a home page, a /hello page and its own
404 page, which adds a chat with one call to :func:`flask_chatroom.register_chat`.

Settings come from the embedded defaults below, then from ``FLASK_*`` environment
variables (``FLASK_SECRET_KEY``, ``FLASK_CHATROOM_TITLE``, ...), then from the
*config* mapping that tests pass in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, render_template
from flask_socketio import SocketIO

from flask_chatroom import register_chat

DEFAULTS: dict[str, Any] = {
    # Fine for trying the example on your own machine; set FLASK_SECRET_KEY in
    # production so that sessions (and guest names) survive restarts and are safe.
    "SECRET_KEY": "dev-only-example-secret-change-me",
    "CHATROOM_TITLE": "Acme chat",
    # The async mode of Flask-SocketIO: gevent in production (python -m
    # examples.hostapp, or gunicorn -k gevent); tests may pick "threading".
    "SOCKETIO_ASYNC_MODE": "gevent",
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the example site with its chat."""
    app = Flask(__name__, instance_path=os.path.abspath("instance"))
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env()
    if config:
        app.config.update(config)

    socketio = SocketIO(app, async_mode=app.config["SOCKETIO_ASYNC_MODE"])
    register_chat(app, socketio)

    @app.route("/")
    def index() -> str:
        return render_template("index.html")

    @app.route("/hello")
    def hello() -> str:
        return render_template("hello.html", name="world")

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_template("404.html"), 404

    return app
