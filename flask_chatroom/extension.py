"""The Flask extension: :class:`Chatroom` and the one-call :func:`register_chat`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from . import cli as _cli  # noqa: F401  (registers the `flask chatroom` commands)
from . import signals, transport
from .config import ConfigError, check_options, resolve
from .events import ChatNamespace
from .identity import Identity, IdentityLoader
from .protocol import ChatError, Message, is_valid_room_name, message_text
from .state import ChatState, app_object, get_state
from .store import MemoryStore, MessageStore, SQLStore, sqlite_engine
from .views import blueprint

if TYPE_CHECKING:
    from flask import Flask
    from flask_socketio import SocketIO

EXTENSION_KEY = "chatroom"

log = logging.getLogger("flask_chatroom")

#: A permission hook: ``(user, room) -> bool``.
PermissionHook = Callable[[Identity, str], bool]
#: A message filter: ``(message, user) -> message or None``.
MessageFilter = Callable[[Message, Identity], "Message | None"]
H = TypeVar("H", bound=Callable[..., Any])


class Chatroom:
    """A real-time chat for a Flask + Flask-SocketIO app.

    Give it the app and its ``SocketIO`` object at once, or later through
    :meth:`init_app` when the app comes from a factory. Keyword *options* set
    ``CHATROOM_*`` keys by their lower-case names and win over ``app.config``.

    Example::

        socketio = SocketIO(app, async_mode="gevent")
        chat = Chatroom(app, socketio, title="Team chat")

    or, with an app factory::

        socketio = SocketIO()
        chat = Chatroom(url_prefix="/talk")

        def create_app():
            app = Flask(__name__)
            socketio.init_app(app)
            chat.init_app(app, socketio)
            return app

    The extension keeps no reference to an app; each app's state lives in
    ``app.extensions["chatroom"]``, so one ``Chatroom`` can serve several apps.
    The hooks registered with its decorators (:meth:`identity_loader`,
    :meth:`can_join`, :meth:`can_post`) apply to every app it serves.

    :param app: the Flask app, or ``None`` to call :meth:`init_app` later.
    :param socketio: the app's ``SocketIO``; defaults to
        ``app.extensions["socketio"]``.
    :param options: ``CHATROOM_*`` settings by lower-case name, such as
        ``namespace="/"`` or ``default_room="general"``.
    :raises TypeError: an unknown option.
    """

    def __init__(
        self,
        app: Flask | None = None,
        socketio: SocketIO | None = None,
        **options: Any,
    ) -> None:
        check_options(options)
        self._options = options
        self.identity_loader_callback: IdentityLoader | None = None
        self._can_join: PermissionHook | None = None
        self._can_post: PermissionHook | None = None
        self._filters: list[MessageFilter] = []
        if app is not None:
            self.init_app(app, socketio)

    def init_app(
        self, app: Flask, socketio: SocketIO | None = None, **options: Any
    ) -> None:
        """Add the chat to *app*: config, blueprint and Socket.IO namespace.

        Reads every ``CHATROOM_*`` key (see the configuration docs), registers
        the ``chatroom`` blueprint at ``CHATROOM_URL_PREFIX`` and the chat's
        Socket.IO namespace at ``CHATROOM_NAMESPACE``.

        :param app: the Flask app.
        :param socketio: the app's ``SocketIO``; defaults to the one that
            ``SocketIO.init_app`` recorded in ``app.extensions["socketio"]``.
        :param options: more options; they win over the constructor's.
        :raises RuntimeError: the chat is already registered on *app*, or no
            ``SocketIO`` was given or found.
        :raises ConfigError: a ``CHATROOM_*`` value cannot be used.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "flask-chatroom is already registered on this app. Call "
                "register_chat() / Chatroom.init_app() once per app."
            )
        if socketio is None:
            socketio = app.extensions.get("socketio")
        if socketio is None:
            raise RuntimeError(
                "flask-chatroom needs the app's SocketIO object: pass it as "
                "init_app(app, socketio), or call socketio.init_app(app) first."
            )
        config = resolve(app.config, {**self._options, **options})
        _check_namespace_free(socketio, config.namespace)
        _limit_frames(socketio, config.max_frame_bytes)
        if not app.secret_key:
            log.warning(
                "flask-chatroom: the app has no SECRET_KEY, so guests get a new name "
                "on every connection; set SECRET_KEY to keep names across reloads."
            )

        store = _make_store(app.instance_path, config)
        state = ChatState(self, socketio, config, store)
        app.extensions[EXTENSION_KEY] = state
        app.register_blueprint(blueprint, url_prefix=config.url_prefix)
        socketio.on_namespace(ChatNamespace(config.namespace))
        if socketio.server is not None:
            self.finish_setup(app)
        # Otherwise SocketIO.init_app comes later, with options (a message queue)
        # this setup depends on: it finishes on the app's first request or
        # connection instead.

    def finish_setup(self, app: Flask) -> None:
        """The part of :meth:`init_app` that needs the app's ``SocketIO`` to be set
        up: the shared backends (Redis, when the message queue is Redis) and the
        WebSocket transport middleware. Runs once; :meth:`init_app` calls it, or
        the first request or connection when ``SocketIO.init_app`` came later."""
        state = get_state(app)
        if state.setup_finished:
            return
        state.setup_finished = True
        for name, backend in _shared_backends(state.socketio, state.config).items():
            setattr(state, name, backend)
        state.transport_ready = transport.install(
            app, state.config.websocket_compression
        )
        server = state.socketio.server
        if (
            state.config.fast_websocket
            and not state.config.websocket_compression
            and server.eio.async_mode == "gevent"
        ):
            from . import websocket  # needs gevent and wsproto

            state.fast_websocket = websocket.install(server)
            if isinstance(app.wsgi_app, transport.WebSocketTransport):
                app.wsgi_app.direct = state.fast_websocket

    # -- hooks ----------------------------------------------------------------------

    def identity_loader(self, callback: IdentityLoader) -> IdentityLoader:
        """Decorate the function that says who the current user is.

        It runs inside the request (or the Socket.IO connection's request
        context: ``session``, ``request.cookies`` and ``current_user`` work) and
        returns an :class:`~flask_chatroom.Identity`, a mapping with ``id`` and
        ``name`` (optionally ``avatar_url`` and ``roles``), or ``None`` for a
        visitor who is not signed in. It replaces the built-in Flask-Login
        support.

        Example::

            @chat.identity_loader
            def who_is_it():
                user = my_auth.current_user()
                if user is None:
                    return None
                return {"id": user.id, "name": user.display_name,
                        "roles": ["moderator"] if user.is_staff else []}
        """
        self.identity_loader_callback = callback
        return callback

    def can_join(self, hook: H) -> H:
        """Decorate a ``(user, room) -> bool`` hook that decides who may join a room.

        A refusal answers the ``join`` with the error code ``forbidden``; a
        connection the hook keeps out of the default room joins no room on connect.

        Example::

            @chat.can_join
            def staff_room(user, room):
                return room != "staff" or "staff" in user.roles
        """
        self._can_join = hook
        return hook

    def can_post(self, hook: H) -> H:
        """Decorate a ``(user, room) -> bool`` hook that decides who may post where.

        A refusal answers the ``message broadcast`` with the error code
        ``forbidden``.

        Example::

            @chat.can_post
            def read_only_announcements(user, room):
                return room != "announcements" or "admin" in user.roles
        """
        self._can_post = hook
        return hook

    def message_filter(self, hook: MessageFilter) -> MessageFilter:
        """Decorate a filter that may change or refuse each message before it is
        stored or broadcast. Filters run in the order they were added.

        A filter gets the :class:`~flask_chatroom.Message` and the sender's
        :class:`~flask_chatroom.Identity` and returns the message, a copy with
        another text (``dataclasses.replace(message, text=...)``; only the text
        is taken, the room, sender and ids stay the server's), or ``None`` to
        refuse it
        (the sender gets the error code ``rejected``; the
        :data:`~flask_chatroom.signals.message_rejected` signal is sent).

        Example::

            @chat.message_filter
            def no_shouting(message, user):
                if message.text.isupper():
                    return dataclasses.replace(message, text=message.text.lower())
                return message
        """
        self._filters.append(hook)
        return hook

    def apply_filters(self, message: Message, user: Identity) -> Message:
        """Run the :meth:`message_filter` hooks over *message*.

        :raises ChatError: ``rejected`` when a filter refuses it, or when a filter
            returns a text the protocol refuses (empty, too long).
        """
        original = message
        for hook in self._filters:
            result = hook(message, user)
            if result is None:
                signals.message_rejected.send(app_object(), message=message, user=user)
                raise ChatError("rejected", "This message was not accepted.")
            message = result
        if message is original:
            return message
        try:
            text = message_text(message.text, get_state().config.max_message_length)
        except ChatError:
            raise ChatError("rejected", "This message was not accepted.") from None
        # Only the text is the filter's; every other field stays the server's.
        return replace(original, text=text)

    def may_join(self, user: Identity, room: str) -> bool:
        """Whether *user* may join *room*, by the :meth:`can_join` hook."""
        return self._can_join is None or bool(self._can_join(user, room))

    def may_post(self, user: Identity, room: str) -> bool:
        """Whether *user* may post in *room*, by the :meth:`can_post` hook."""
        return self._can_post is None or bool(self._can_post(user, room))

    # -- server-side API --------------------------------------------------------------

    def room_list(self, app: Flask | None = None) -> list[dict[str, Any]]:
        """The rooms with their user counts: the fixed ``CHATROOM_ROOMS`` (with
        0 for empty ones), or every room someone is in with open rooms.

        :param app: the app (default: the current app).
        """
        state = get_state(app)
        counts = state.presence.rooms()
        names = list(state.config.rooms or sorted(counts))
        return [{"name": name, "count": counts.get(name, 0)} for name in names]

    def send(
        self,
        room: str,
        text: str,
        sender: str | Identity = "System",
        app: Flask | None = None,
    ) -> Message:
        """Post a message from host code: an HTTP view, a CLI command, a job.

        The message goes through the same checks as a user's (text rules and
        length; the room must exist) and reaches every member of *room*. Call it
        inside an app context, or pass *app*; it works from any thread or
        greenlet under every async mode.

        Example::

            @app.post("/deploys")
            def announce_deploy():
                chat.send("ops", "Deploy finished", sender="Deploy bot")
                return "", 204

        :param room: the room to post in.
        :param text: the message text.
        :param sender: a display name, or an :class:`~flask_chatroom.Identity`.
        :param app: the app, when there is no app context.
        :raises ChatError: the text or the room is refused (see ``.code``).
        :returns: the :class:`~flask_chatroom.Message` as broadcast.
        """
        if app is not None:
            with app.app_context():
                return self.send(room, text, sender)
        state = get_state()
        if not is_valid_room_name(room) or not state.config.room_exists(room):
            raise ChatError("unknown_room", f"There is no room {room!r}.")
        cleaned = message_text(text, state.config.max_message_length)
        identity = (
            sender
            if isinstance(sender, Identity)
            else Identity(id="system", name=sender, anonymous=True)
        )
        message = Message(
            room=room,
            client=identity.name,
            text=cleaned,
            user_id=identity.user_id,
            sender_id=identity.id,
        )
        stored, _ = state.publish(message)
        return stored


def redis_url_of(socketio: SocketIO, config: Any) -> str | None:
    """The Redis the chat shares its state through: ``CHATROOM_REDIS_URL``, else
    Flask-SocketIO's ``message_queue`` when it is a Redis URL, else none."""
    if config.redis_url:
        return str(config.redis_url)
    queue = socketio.server_options.get("message_queue")
    if isinstance(queue, str) and queue.startswith(("redis://", "rediss://")):
        return queue
    return None


def _shared_backends(socketio: SocketIO, config: Any) -> dict[str, Any]:
    """Presence, limiter and user data in Redis when there is a Redis to share."""
    url = redis_url_of(socketio, config)
    if url is None:
        return {}
    try:
        import redis

        from .redis_backend import RedisLimiter, RedisPresence, RedisUserData
    except ImportError:  # pragma: no cover - the redis extra is missing
        raise ConfigError(
            "flask-chatroom shares its state through Redis here but redis-py is not "
            'installed: pip install "flask-chatroom[redis]".'
        ) from None
    client = redis.Redis.from_url(url)
    prefix = f"chatroom:{config.namespace}"
    return {
        "presence": RedisPresence(client, prefix, config.presence_expiry),
        "limiter": RedisLimiter(client, prefix, config.rate_limits),
        "userdata": RedisUserData(client, prefix),
    }


def _make_store(instance_path: str, config: Any) -> MessageStore:
    """The message store the configuration asks for (see the storage docs)."""
    if config.engine is not None:
        return SQLStore(config.engine)
    url = config.database_url
    if url == "memory://":
        return MemoryStore()
    if url is None:
        url = "sqlite:///" + os.path.join(instance_path, "chatroom.sqlite3")
    if url.startswith("sqlite"):
        return SQLStore(sqlite_engine(url))
    from sqlalchemy import create_engine

    return SQLStore(create_engine(url, pool_pre_ping=True))


#: python-engineio's own default for ``max_http_buffer_size``.
ENGINEIO_DEFAULT_BUFFER = 1_000_000


def _limit_frames(socketio: SocketIO, limit: int | None) -> None:
    """Refuse Engine.IO packets over *limit* bytes before they are parsed, unless
    the host set ``max_http_buffer_size`` itself."""
    if limit is None:
        return
    if socketio.server is None:
        socketio.server_options.setdefault("max_http_buffer_size", limit)
        return
    eio = socketio.server.eio
    if eio.max_http_buffer_size == ENGINEIO_DEFAULT_BUFFER:
        eio.max_http_buffer_size = limit


def _check_namespace_free(socketio: SocketIO, namespace: str) -> None:
    """Refuse to replace a host's own ``Namespace`` class on *namespace*.

    Our own namespace from an earlier app on the same ``SocketIO`` (app factories in
    tests) is fine: the new app replaces it.
    """
    handlers = list(getattr(socketio, "namespace_handlers", []))
    if socketio.server is not None:
        handlers += list(socketio.server.namespace_handlers.values())
    for handler in handlers:
        if getattr(handler, "namespace", None) == namespace and not isinstance(
            handler, ChatNamespace
        ):
            raise ConfigError(
                f"The Socket.IO namespace {namespace!r} already has a Namespace class "
                f"({type(handler).__name__}) on this SocketIO; set CHATROOM_NAMESPACE "
                "to another one, such as '/chat'."
            )


def register_chat(
    app: Flask, socketio: SocketIO | None = None, **options: Any
) -> Chatroom:
    """Add a chat to *app* in one call and return its :class:`Chatroom`.

    Example::

        app = Flask(__name__)
        socketio = SocketIO(app, async_mode="gevent")
        register_chat(app, socketio)      # the chat is at /chat/

    :param app: the Flask app.
    :param socketio: the app's ``SocketIO`` (default: ``app.extensions["socketio"]``).
    :param options: ``CHATROOM_*`` settings by lower-case name.
    """
    chat = Chatroom(**options)
    chat.init_app(app, socketio)
    return chat
