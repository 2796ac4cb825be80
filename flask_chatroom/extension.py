"""The Flask extension: :class:`Chatroom` and the one-call :func:`register_chat`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .config import ConfigError, check_options, resolve
from .events import ChatNamespace
from .state import ChatState
from .views import blueprint

if TYPE_CHECKING:
    from flask import Flask
    from flask_socketio import SocketIO

EXTENSION_KEY = "chatroom"

log = logging.getLogger("flask_chatroom")


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

        if not app.secret_key:
            log.warning(
                "flask-chatroom: the app has no SECRET_KEY, so guests get a new name "
                "on every connection; set SECRET_KEY to keep names across reloads."
            )
        app.extensions[EXTENSION_KEY] = ChatState(self, socketio, config)
        app.register_blueprint(blueprint, url_prefix=config.url_prefix)
        socketio.on_namespace(ChatNamespace(config.namespace))


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
