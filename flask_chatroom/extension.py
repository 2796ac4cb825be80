"""The Flask extension: :class:`Chatroom` and the one-call :func:`register_chat`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .adapters import cli as _cli  # noqa: F401  (registers the `flask chatroom` commands)
from .adapters.http import blueprint
from .adapters.socketio import ChatNamespace, SocketIORealtime, guard_packets
from .backends.select import Backends, make_backends, make_store
from .config import ConfigError, check_options, resolve, shared_redis_url
from .facade import get_chat
from .identity import Identity, IdentityLoader
from .policy import CreateRoomHook, DMHook, MessageFilter, Policy
from .protocol import Message
from .service import EXTENSION_KEY, ChatService

if TYPE_CHECKING:
    from flask import Flask
    from flask_socketio import SocketIO

log = logging.getLogger("flask_chatroom")

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
        self._policy = Policy()
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

        realtime = SocketIORealtime(socketio, config.namespace)

        def finish_setup() -> Backends:
            # Needs SocketIO.init_app to have run: its message queue decides
            # where shared state lives, and its middleware wraps the app.
            from . import fastpath

            fastpath.install(app, socketio, config)
            guard_packets(app, socketio, config.namespace)
            queue = socketio.server_options.get("message_queue")
            return make_backends(config, shared_redis_url(config, queue))

        service = ChatService(
            config,
            make_store(config, app.instance_path),
            self._policy,
            realtime,
            finish_setup,
        )
        app.extensions[EXTENSION_KEY] = service
        app.register_blueprint(blueprint, url_prefix=config.url_prefix)
        socketio.on_namespace(ChatNamespace(config.namespace))
        if socketio.server is not None:
            service.ensure_ready()
        # Otherwise SocketIO.init_app comes later, with options (a message queue)
        # this setup depends on: it finishes on the app's first request or
        # connection instead.

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
        self._policy.identity_loader = callback
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
        self._policy.can_join = hook
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
        self._policy.can_post = hook
        return hook

    def can_dm(self, hook: DMHook) -> DMHook:
        """Decorate a ``(user, user_ids) -> bool`` hook that decides who may open
        a direct conversation with whom (*user_ids*: the other members' ids,
        sorted). Without one, signed-in users may message anyone and guests
        nobody. A refusal answers the ``dm`` with ``forbidden`` (``login_required``
        for a guest). Blocks are checked besides the hook, whatever it says.

        Example::

            @chat.can_dm
            def staff_and_signed_in_users(user, user_ids):
                return not user.anonymous or "staff" in user_ids
        """
        self._policy.can_dm = hook
        return hook

    def can_create_room(self, hook: CreateRoomHook) -> CreateRoomHook:
        """Decorate a ``(user, room, kind) -> bool`` hook that decides who may
        make a room with the ``create room`` event (*kind*: ``"public"`` or
        ``"private"``). Without one, nobody may (the event answers
        ``forbidden``). The maker becomes the room's first stored member; a
        private room is seen only by its stored members.

        Example::

            @chat.can_create_room
            def signed_in_users_make_rooms(user, room, kind):
                return not user.anonymous
        """
        self._policy.can_create_room = hook
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
        self._policy.filters.append(hook)
        return hook

    # -- server-side API --------------------------------------------------------------

    def room_list(self, app: Flask | None = None) -> list[dict[str, Any]]:
        """The rooms with their user counts: the fixed ``CHATROOM_ROOMS`` (with
        0 for empty ones), or every room someone is in with open rooms. The same
        as ``get_chat(app).rooms()``.

        :param app: the app (default: the current app).
        """
        return get_chat(app).rooms()

    def send(
        self,
        room: str,
        text: str,
        sender: str | Identity = "System",
        app: Flask | None = None,
    ) -> Message:
        """Post a message from host code: an HTTP view, a CLI command, a job; the
        same as :meth:`Chat.send <flask_chatroom.Chat.send>` on
        ``get_chat(app)``.

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
                return get_chat(app).send(room, text, sender)
        return get_chat().send(room, text, sender)


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
