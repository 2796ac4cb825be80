"""The example host app: a small site with a home page, a /hello page, its own
404 page and a simple Flask-Login sign-in, which adds a chat with one call to
:func:`flask_chatroom.register_chat`. Signed-in users chat under their own names
(the chat reads Flask-Login's ``current_user``); visitors chat as guests.

Settings come from the embedded defaults below, then from ``FLASK_*`` environment
variables (``FLASK_SECRET_KEY``, ``FLASK_CHATROOM_TITLE``, ...), then from the
*config* mapping that tests pass in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect, render_template, request, url_for
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_socketio import SocketIO
from werkzeug.wrappers import Response

from flask_chatroom import register_chat

DEFAULTS: dict[str, Any] = {
    # Fine for trying the example on your own machine; set FLASK_SECRET_KEY in
    # production so that sessions (and guest names) survive restarts and are safe.
    "SECRET_KEY": "dev-only-example-secret-change-me",
    "CHATROOM_TITLE": "Acme chat",
    # The async mode of Flask-SocketIO: gevent in production (python -m
    # examples.hostapp, or gunicorn -k gevent); tests may pick "threading".
    "SOCKETIO_ASYNC_MODE": "gevent",
    # Flask-SocketIO's message queue, for several processes, e.g.
    # FLASK_SOCKETIO_MESSAGE_QUEUE=redis://127.0.0.1:6379/0 (the chat then shares
    # presence, rate limits and moderation through the same Redis).
    "SOCKETIO_MESSAGE_QUEUE": None,
}


class User(UserMixin):
    """A demo account; a real site has its own user model."""

    def __init__(self, user_id: str, name: str, roles: tuple[str, ...] = ()) -> None:
        self.id = user_id
        self.name = name
        self.roles = roles  # the chat reads roles; "moderator" may delete and mute


#: The demo accounts anyone can sign in as (no passwords: this is a demo).
USERS = {
    user.id: user
    for user in [User("ada", "Ada", roles=("moderator",)), User("grace", "Grace")]
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the example site with its chat."""
    app = Flask(__name__, instance_path=os.path.abspath("instance"))
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env()
    if config:
        app.config.update(config)

    login_manager = LoginManager(app)
    login_manager.login_view = "login"
    login_manager.user_loader(USERS.get)

    socketio = SocketIO(
        app,
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
    )
    register_chat(app, socketio)

    @app.route("/")
    def index() -> str:
        return render_template("index.html")

    @app.route("/hello")
    def hello() -> str:
        return render_template("hello.html", name="world")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> str | Response:
        if request.method == "POST":
            user = USERS.get(request.form.get("user", ""))
            if user is not None:
                login_user(user)
                target = request.args.get("next", "")
                # Only local paths: never send the user to another site.
                if not target.startswith("/") or target.startswith("//"):
                    target = url_for("index")
                return redirect(target)
        return render_template("login.html", users=USERS.values())

    @app.post("/logout")
    @login_required
    def logout() -> Response:
        logout_user()
        return redirect(url_for("index"))

    @app.context_processor
    def signed_in_user() -> dict[str, Any]:
        return {"user": current_user}

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_template("404.html"), 404

    return app
