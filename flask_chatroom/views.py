"""The ``chatroom`` blueprint: the chat page, static files and template helpers."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for

from . import __version__
from .identity import guest_from_session
from .state import get_state
from .vendor import SOCKETIO_CLIENT_VERSION

blueprint = Blueprint(
    "chatroom",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@blueprint.route("/")
def chat_page() -> str:
    """The full chat page for the default room."""
    config = get_state().config
    return render_template(
        "chatroom/chat.html", room=config.default_room, chat_config=config
    )


@blueprint.after_request
def _content_security_policy(response: Response) -> Response:
    policy = get_state().config.content_security_policy
    if policy and response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", policy)
    return response


def _socketio_path() -> str:
    middleware = getattr(get_state().socketio, "sockio_mw", None)
    path = getattr(middleware, "engineio_path", "/socket.io/")
    return request.script_root + str(path)


@blueprint.app_template_global("chatroom_widget_data")
def widget_data(room: str | None = None, title: str | None = None) -> dict[str, Any]:
    """What the widget macro needs to render: used by ``chatroom/macros.html``.

    Calling it also gives a new visitor a guest name kept in the Flask session, so
    the name survives reloads and reconnects.
    """
    state = get_state()
    config = state.config
    guest_from_session(config.guest_prefix, create=True)
    return {
        "room": room or config.default_room,
        "title": title or config.title,
        "theme": config.theme,
        "namespace": config.namespace,
        "socketio_path": _socketio_path(),
        "max_length": config.max_message_length,
        "uid": secrets.token_hex(4),
    }


@blueprint.app_template_global("chatroom_asset_urls")
def asset_urls() -> dict[str, str]:
    """URLs of the chat's CSS and scripts, each carrying a version for caching."""
    return {
        "css": url_for("chatroom.static", filename="chatroom/chat.css", v=__version__),
        "socketio": url_for(
            "chatroom.static",
            filename="vendor/socket.io/socket.io.min.js",
            v=SOCKETIO_CLIENT_VERSION,
        ),
        "js": url_for("chatroom.static", filename="chatroom/chat.js", v=__version__),
    }
