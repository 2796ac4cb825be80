"""The ``chatroom`` blueprint: the chat page, static files and template helpers."""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from . import __version__
from .identity import Identity, guest_from_session
from .protocol import NICKNAME_MAX
from .state import MAX_HISTORY_PAGE, app_object, get_state
from .vendor import SOCKETIO_CLIENT_VERSION

blueprint = Blueprint(
    "chatroom",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


@blueprint.route("/", defaults={"room": None})
@blueprint.route("/<room>")
def chat_page(room: str | None) -> str | BaseResponse | tuple[str, int]:
    """The full chat page of *room* (default: ``CHATROOM_DEFAULT_ROOM``).

    With ``CHATROOM_REQUIRE_LOGIN`` a visitor who is not signed in is sent to the
    host's login view (``CHATROOM_LOGIN_VIEW``, else Flask-Login's
    ``login_view``) or, without one, gets a 401 page asking to sign in.
    """
    state = get_state()
    config = state.config
    room = room or config.default_room
    if not config.room_exists(room):
        abort(404)
    user = state.identify()
    if user is None and config.require_login:
        return _sign_in_first()
    if not state.extension.may_join(user or state.guest(), room):
        abort(403)
    return render_template("chatroom/chat.html", room=room, chat_config=config)


def _login_url() -> str | None:
    """The host's login page, coming back to this page, if the host has one."""
    login_manager = getattr(current_app, "login_manager", None)
    view = get_state().config.login_view or getattr(login_manager, "login_view", None)
    return url_for(view, next=request.full_path.rstrip("?")) if view else None


def _sign_in_first() -> BaseResponse | tuple[str, int]:
    config = get_state().config
    login_url = _login_url()
    if login_url:
        return redirect(login_url)
    html = render_template("chatroom/sign_in.html", chat_config=config)
    return html, 401


def _api_user() -> Identity:
    """The identity of an API request, or a 401 when one is required."""
    state = get_state()
    user = state.identify()
    if user is None:
        if state.config.require_login:
            abort(401)
        user = state.guest()
    return user


@blueprint.route("/api/rooms")
def rooms_api() -> Response:
    """``GET /chat/api/rooms``: the rooms and their user counts, as JSON."""
    _api_user()
    return jsonify(rooms=get_state().extension.room_list())


def _seq_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit():
        abort(400, f"{name} must be a sequence number")
    return int(value)


@blueprint.route("/api/rooms/<room>/messages")
def messages_api(room: str) -> Response:
    """``GET /chat/api/rooms/<room>/messages?before=&limit=``: a page of the room's
    history, oldest first, with the same permission checks as joining the room."""
    state = get_state()
    user = _api_user()
    if not state.config.room_exists(room):
        abort(404)
    if not state.extension.may_join(user, room):
        abort(403)
    before = _seq_arg("before")
    limit = _seq_arg("limit") or state.config.history_limit
    limit = max(1, min(limit, MAX_HISTORY_PAGE))
    messages, more = state.store.history(room, before=before, limit=limit)
    return jsonify(room=room, messages=[m.to_wire() for m in messages], has_more=more)


@blueprint.before_app_request
def _finish_setup() -> None:
    # Only when SocketIO.init_app came after the chat's (see Chatroom.finish_setup).
    state = get_state()
    if not state.setup_finished:
        state.extension.finish_setup(app_object())


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
    sign_in = config.require_login and state.identify() is None
    return {
        "sign_in": sign_in,
        "login_url": _login_url() if sign_in else None,
        "room": room or config.default_room,
        "title": title or config.title,
        "theme": config.theme,
        "namespace": config.namespace,
        "socketio_path": _socketio_path(),
        "max_length": config.max_message_length,
        "nickname_max": NICKNAME_MAX,
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
