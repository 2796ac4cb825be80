"""The example host app: a small site with a home page, a /hello page, its own
404 page and a simple Flask-Login sign-in, which adds a chat with one call to
:func:`flask_chatroom.register_chat`. Signed-in users chat under their own names
(the chat reads Flask-Login's ``current_user``); visitors chat as guests.

Hosts copy it, so its forms do what a real site's must: the sign-in and sign-out
forms carry a CSRF token (Flask-WTF's ``CSRFProtect``), and the sign-in only
sends the user on to a path on this site (:func:`safe_next`). The chat's
Socket.IO connection is no form post and needs no token: its own defence is
Engine.IO's origin check (``docs/security.rst``).

Settings come from the embedded defaults below, then from ``FLASK_*`` environment
variables (``FLASK_SECRET_KEY``, ``FLASK_CHATROOM_TITLE``, ...), then from the
*config* mapping that tests pass in.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

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
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response

from flask_chatroom import get_chat, register_chat

DEFAULTS: dict[str, Any] = {
    # Fine for trying the example on your own machine; set FLASK_SECRET_KEY in
    # production so that sessions (and guest names) survive restarts and are safe.
    "SECRET_KEY": "dev-only-example-secret-change-me",
    # The session cookie is not sent with cross-site POSTs (a second layer under
    # the CSRF tokens); set SESSION_COOKIE_SECURE=True as well on HTTPS.
    "SESSION_COOKIE_SAMESITE": "Lax",
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


def safe_next(target: str | None) -> str | None:
    """*target* if it is a path on this site to send a user on to after signing
    in, else ``None``.

    Only a plain absolute path passes: printable ASCII without spaces or
    backslashes, starting with one ``/`` (not ``//``), with no scheme and no
    host once parsed, and the same once percent-decoded. Browsers forgive a lot
    (they drop tabs and line breaks, so ``/<tab>/evil.example`` is
    ``//evil.example``, and read a backslash as ``/``), so anything unusual is
    refused rather than cleaned up.
    """
    if not target or len(target) > 2048:
        return None
    if not target.isascii() or not target.isprintable() or " " in target:
        return None
    for form in (target, unquote(target)):
        if (
            "\\" in form
            or not form.startswith("/")
            or form.startswith("//")
            or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in form)
        ):
            return None
        parts = urlsplit(form)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            return None
    return target


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the example site with its chat."""
    app = Flask(__name__, instance_path=os.path.abspath("instance"))
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env()
    if config:
        app.config.update(config)

    # Every POST, PUT, PATCH and DELETE to the site's views needs the session's
    # CSRF token (a hidden csrf_token field in each form); Socket.IO is no view.
    CSRFProtect(app)

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
                # Only paths on this site: never send the user to another one.
                target = safe_next(request.args.get("next"))
                return redirect(target or url_for("index"))
        return render_template("login.html", users=USERS.values())

    @app.post("/logout")
    @login_required
    def logout() -> Response:
        user_id = current_user.get_id()
        logout_user()
        # Tabs with the chat open must not go on chatting as this user: end
        # their connections in every process (they reconnect as a guest).
        get_chat().disconnect_user(user_id)
        return redirect(url_for("index"))

    @app.context_processor
    def signed_in_user() -> dict[str, Any]:
        return {"user": current_user}

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError) -> tuple[str, int]:
        return render_template("400.html", reason=error.description), 400

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_template("404.html"), 404

    return app
