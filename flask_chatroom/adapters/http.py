"""The ``chatroom`` blueprint: the chat page, the HTTP API, static files and
template helpers. Every permission question goes to the service, as for the
Socket.IO events."""

from __future__ import annotations

import importlib.metadata
import io
import math
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
    send_file,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from ..identity import guest_from_session
from ..protocol import (
    NICKNAME_MAX,
    ChatError,
    edit_wire,
    parse_change_query,
    parse_history_query,
    parse_search_query,
    search_wire,
)
from ..service import MAX_HISTORY_PAGE, get_service
from ..vendor import SOCKETIO_CLIENT_VERSION

blueprint = Blueprint(
    "chatroom",
    __name__,
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/static",
)

#: The HTTP status of each refusal the API answers with a JSON error.
HTTP_STATUS = {
    "login_required": 401,
    "forbidden": 403,
    "unknown_room": 404,
    "not_found": 404,
    "invalid_payload": 400,
    "rate_limited": 429,
    "invalid_attachment": 400,
    "attachment_refused": 422,
    "unsupported": 501,
}

#: The HTTP status of each ``attachment_refused`` reason (else 422).
REFUSAL_STATUS = {
    "too_large": 413,
    "type_not_allowed": 415,
    "content_mismatch": 415,
}

#: What every uploaded file is served with: never sniffed into another type,
#: never a page that runs scripts or reaches out, never sent as a referrer.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
}

#: The request header an upload must carry: a cross-site form cannot set it,
#: and a cross-site script that tries needs a CORS preflight nobody answers.
UPLOAD_HEADER = "X-Chatroom"


def _version() -> str:
    try:
        return importlib.metadata.version("flask-chatroom")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "0"


#: What asset URLs carry for cache-busting.
ASSET_VERSION = _version()


@blueprint.route("/", defaults={"room": None})
@blueprint.route("/<room>")
def chat_page(room: str | None) -> str | BaseResponse | tuple[str, int]:
    """The full chat page of *room* (default: ``CHATROOM_DEFAULT_ROOM``).

    With ``CHATROOM_REQUIRE_LOGIN`` a visitor who is not signed in is sent to the
    host's login view (``CHATROOM_LOGIN_VIEW``, else Flask-Login's
    ``login_view``) or, without one, gets a 401 page asking to sign in.
    """
    service = get_service()
    config = service.config
    room = room or config.default_room
    if not service.room_exists(room):  # members only: check_may_read below
        abort(404)
    try:
        service.check_may_read(service.current_user(), room)
    except ChatError as exc:
        if exc.code == "login_required":
            return _sign_in_first()
        abort(HTTP_STATUS.get(exc.code, 400))
    # The New room form, when the host's can_create_room hook may let users
    # make rooms (a host's own chatroom_room_creation turns it on otherwise).
    offer = {"chatroom_room_creation": True} if service.offers_room_creation else {}
    return render_template("chatroom/chat.html", room=room, chat_config=config, **offer)


def _login_url() -> str | None:
    """The host's login page, coming back to this page, if the host has one."""
    login_manager = getattr(current_app, "login_manager", None)
    view = get_service().config.login_view or getattr(login_manager, "login_view", None)
    return url_for(view, next=request.full_path.rstrip("?")) if view else None


def _sign_in_first() -> BaseResponse | tuple[str, int]:
    login_url = _login_url()
    if login_url:
        return redirect(login_url)
    html = render_template("chatroom/sign_in.html", chat_config=get_service().config)
    return html, 401


def _api_error(error: ChatError) -> tuple[Response, int]:
    response = jsonify(ok=False, error=error.to_wire())
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(math.ceil(error.retry_after))
    if error.code == "attachment_refused":
        return response, REFUSAL_STATUS.get(error.reason or "", 422)
    return response, HTTP_STATUS.get(error.code, 400)


@blueprint.route("/api/rooms")
def rooms_api() -> Response | tuple[Response, int]:
    """``GET /chat/api/rooms``: the rooms and their user counts, as JSON."""
    service = get_service()
    try:
        user = service.current_user()
        service.admit_request()
    except ChatError as exc:
        return _api_error(exc)
    return jsonify(rooms=service.room_list(user))


@blueprint.route("/api/rooms/<room>/messages")
def messages_api(room: str) -> Response | tuple[Response, int]:
    """``GET /chat/api/rooms/<room>/messages?before=|after=&limit=``: a page of the
    room's history, oldest first, with the same permission checks as joining
    the room. A malformed argument is a 400 with a JSON error."""
    service = get_service()
    try:
        user = service.current_user()
        query = parse_history_query(
            room, request.args, service.config.history_limit, MAX_HISTORY_PAGE
        )
        messages, more = service.history(user, query)
    except ChatError as exc:
        return _api_error(exc)
    return jsonify(
        room=room, messages=[m.to_wire(user.id) for m in messages], has_more=more
    )


@blueprint.route("/api/rooms/<room>/changes")
def changes_api(room: str) -> Response | tuple[Response, int]:
    """``GET /chat/api/rooms/<room>/changes?since=``: the room's changes to
    messages after a ``change_seq``, as the ``changes`` event answers."""
    service = get_service()
    try:
        user = service.current_user()
        since = parse_change_query(request.args)
        changes, last, more = service.changes_for(user, room, since)
    except ChatError as exc:
        return _api_error(exc)
    return jsonify(room=room, changes=changes, change_seq=last, has_more=more)


@blueprint.route("/api/messages/<message_id>/edits")
def edits_api(message_id: str) -> Response | tuple[Response, int]:
    """``GET /chat/api/messages/<id>/edits``: a message's edit history, for
    moderators only (``403`` for anyone else)."""
    service = get_service()
    try:
        service.admit_request()
        edits = service.edit_history(None, message_id)
    except ChatError as exc:
        return _api_error(exc)
    return jsonify(id=message_id, edits=[edit_wire(edit) for edit in edits])


@blueprint.route("/api/search")
def search_api() -> Response | tuple[Response, int]:
    """``GET /chat/api/search?q=&room=&before=&limit=``: messages the user may
    read that match, newest first, as the ``search`` event answers."""
    service = get_service()
    try:
        user = service.current_user()
        query = parse_search_query(request.args)
        results, cursor = service.search(user, query)
    except ChatError as exc:
        return _api_error(exc)
    return jsonify(
        ok=True,
        results=[search_wire(m, ranges, user.id) for m, ranges in results],
        next=cursor,
    )


def _file_urls(upload_id: str) -> tuple[str, str]:
    return (
        url_for("chatroom.attachment_file", upload_id=upload_id),
        url_for("chatroom.attachment_thumbnail", upload_id=upload_id),
    )


@blueprint.route("/api/rooms/<room>/attachments", methods=["POST"])
def upload_api(room: str) -> tuple[Response, int]:
    """``POST /chat/api/rooms/<room>/attachments``: upload one file (multipart
    field ``file``) for a message to *room* to carry; ``201`` with
    ``{"ok": true, "attachment": {...}}``. The request must carry the
    ``X-Chatroom: 1`` header; a body larger than
    ``CHATROOM_ATTACHMENT_MAX_BYTES`` is refused (``413``) before it is read
    whole. Refusals are JSON errors (see :data:`HTTP_STATUS`)."""
    service = get_service()
    if request.headers.get(UPLOAD_HEADER) != "1":
        return _api_error(
            ChatError(
                "forbidden", f"Uploads need the {UPLOAD_HEADER}: 1 request header."
            )
        )
    limit = service.config.attachment_max_bytes
    request.max_content_length = limit + 64 * 1024  # the form's own bytes
    try:
        user = service.current_user()
        try:
            sent = request.files.get("file")
        except RequestEntityTooLarge:
            raise ChatError(
                "attachment_refused",
                f"Files are at most {limit // (1024 * 1024) or 1} MB.",
                reason="too_large",
            ) from None
        if sent is None:
            raise ChatError("invalid_payload", 'Send the file as the "file" field.')
        data = sent.stream.read(limit + 1)
        attachment = service.upload(user, room, sent.filename or "", data, _file_urls)
    except ChatError as exc:
        return _api_error(exc)
    return jsonify(ok=True, attachment=attachment.to_wire()), 201


@blueprint.route("/files/<upload_id>")
def attachment_file(upload_id: str) -> Response | tuple[Response, int]:
    """An uploaded file, for users who may read its room now (before it is
    sent, its uploader only): re-encoded images inline, anything else as a
    download; see :data:`FILE_HEADERS`."""
    return _serve_file(upload_id, thumbnail=False)


@blueprint.route("/files/<upload_id>/thumbnail")
def attachment_thumbnail(upload_id: str) -> Response | tuple[Response, int]:
    """An uploaded image's small version (WebP), as :func:`attachment_file`."""
    return _serve_file(upload_id, thumbnail=True)


def _serve_file(upload_id: str, thumbnail: bool) -> Response | tuple[Response, int]:
    service = get_service()
    try:
        user = service.current_user()
        service.admit_request()
        upload, content = service.attachment_file(user, upload_id, thumbnail)
    except ChatError as exc:
        return _api_error(exc)
    attachment = upload.attachment
    inline = thumbnail or upload.inline
    mimetype = "image/webp" if thumbnail else attachment.type
    if mimetype.startswith("text/"):
        mimetype += "; charset=utf-8"
    response = send_file(
        io.BytesIO(content),
        mimetype=mimetype,
        as_attachment=not inline,
        download_name=attachment.name,
        etag=upload.id + (".thumb" if thumbnail else ""),
        conditional=True,
        max_age=0,
    )
    # Asked again each time (a 304 when still allowed): who may read the
    # room can change, and the URL is no capability.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers.update(FILE_HEADERS)
    return response


@blueprint.before_app_request
def _finish_setup() -> None:
    # Only does something on the first request when SocketIO.init_app came after
    # the chat's (see ChatService.ensure_ready).
    get_service().ensure_ready()


@blueprint.after_request
def _content_security_policy(response: Response) -> Response:
    policy = get_service().config.content_security_policy
    if policy and response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", policy)
    return response


def _socketio_path() -> str:
    socketio = current_app.extensions.get("socketio")
    middleware = getattr(socketio, "sockio_mw", None)
    path = getattr(middleware, "engineio_path", "/socket.io/")
    return request.script_root + str(path)


@blueprint.app_template_global("chatroom_widget_data")
def widget_data(room: str | None = None, title: str | None = None) -> dict[str, Any]:
    """What the widget macro needs to render: used by ``chatroom/macros.html``.

    Calling it also gives a new visitor a guest name kept in the Flask session, so
    the name survives reloads and reconnects.
    """
    service = get_service()
    config = service.config
    guest_from_session(config.guest_prefix, create=True)
    sign_in = service.needs_sign_in()
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
        # The HTTP API's base URL (uploads, search), and what uploads may be.
        "api": request.script_root + config.url_prefix + "/api",
        # Whether this visitor may share files (the server decides anyway).
        "attachments": service.attachments is not None
        and (config.attachment_guests or service.identify() is not None),
        "attachment_max_bytes": config.attachment_max_bytes,
    }


@blueprint.app_template_global("chatroom_asset_urls")
def asset_urls() -> dict[str, str]:
    """URLs of the chat's CSS and scripts, each carrying a version for caching."""
    return {
        "css": url_for(
            "chatroom.static", filename="chatroom/chat.css", v=ASSET_VERSION
        ),
        "socketio": url_for(
            "chatroom.static",
            filename="vendor/socket.io/socket.io.min.js",
            v=SOCKETIO_CLIENT_VERSION,
        ),
        "js": url_for("chatroom.static", filename="chatroom/chat.js", v=ASSET_VERSION),
    }
