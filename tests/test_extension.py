"""Registering the chat: one call, app factories, config keys and their errors."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_socketio import Namespace, SocketIO

from flask_chatroom import ChatConfig, Chatroom, ConfigError, get_chat, register_chat
from flask_chatroom.config import DEFAULT_CSP, DEFAULT_RESERVED_NAMES, OPTIONS
from flask_chatroom.limits import Limit

from .conftest import events, make_app


def test_register_chat_adds_page_namespace_and_state() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="threading")
    chat = register_chat(app, socketio)

    state = app.extensions["chatroom"]
    assert state.policy is chat._policy  # the app answers to this chat's hooks
    assert state.realtime.socketio is socketio
    assert get_chat(app).config is state.config
    assert app.test_client().get("/chat/").status_code == 200
    client = socketio.test_client(app, namespace="/chat")
    assert client.is_connected("/chat")


def test_defaults_are_documented_values_and_set_in_app_config() -> None:
    app = Flask(__name__)
    register_chat(app, SocketIO(app, async_mode="threading"))
    config = get_chat(app).config
    assert config == ChatConfig(
        url_prefix="/chat",
        namespace="/chat",
        default_room="lobby",
        max_message_length=2000,
        title="Chat",
        theme="dark",
        guest_prefix="Guest",
        content_security_policy=DEFAULT_CSP,
        rooms=None,
        require_login=False,
        allow_nicknames=True,
        reserved_names=DEFAULT_RESERVED_NAMES,
        user_name_attribute="name",
        login_view=None,
        database_url=None,
        engine=None,
        history_limit=50,
        retention_days=None,
        rate_limits={
            "message": Limit(5.0, 10),
            "react": Limit(5.0, 10),
            "typing": Limit(2.0, 6),
            "join": Limit(2.0, 10),
            "nickname": Limit(0.2, 3),
            "history": Limit(5.0, 20),
            "connect": Limit(1.0, 10),
            "event": Limit(20.0, 60),
            "address": Limit(20.0, 200),
            "dm": Limit(0.5, 5),
            "read": Limit(5.0, 20),
            "create_room": Limit(0.1, 3),
            "upload": Limit(0.5, 10),
            "search": Limit(1.0, 10),
        },
        rate_limit_disconnect=50,
        guest_ttl=86400,
        max_rooms_per_connection=20,
        max_connections_per_user=10,
        dm_max_members=8,
        max_frame_bytes=65536,
        redis_url=None,
        presence_expiry=15,
        websocket_compression=False,
        fast_websocket=True,
        freeze_heap=True,
        edit_window=900,
        reactions=("👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"),
        attachment_max_bytes=10 * 1024 * 1024,
        attachment_types=(
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
            "application/zip",
        ),
        attachment_max_pixels=40_000_000,
        attachment_daily_bytes=200 * 1024 * 1024,
        attachment_dir=None,
        attachment_guests=False,
        file_storage=None,
    )
    for name, (default, _) in OPTIONS.items():
        assert app.config[f"CHATROOM_{name}"] == default


def test_app_factory_with_delayed_init() -> None:
    socketio = SocketIO()
    chat = Chatroom(title="Factory chat")

    def create_app() -> Flask:
        app = Flask(__name__)
        socketio.init_app(app, async_mode="threading")
        chat.init_app(app)  # the SocketIO is found in app.extensions
        return app

    first, second = create_app(), create_app()
    for app in (first, second):
        assert app.extensions["chatroom"].policy is chat._policy
        assert get_chat(app).config.title == "Factory chat"
        assert b"Factory chat" in app.test_client().get("/chat/").data
    client = socketio.test_client(second, namespace="/chat")
    ack = client.emit(
        "message broadcast", {"message": "hi"}, namespace="/chat", callback=True
    )
    assert ack["ok"] is True


def test_chat_registered_before_socketio_init_app() -> None:
    from flask_chatroom.fastpath.middleware import WebSocketTransport

    socketio = SocketIO()
    app = Flask(__name__)
    register_chat(app, socketio)
    socketio.init_app(app, async_mode="threading")
    assert not isinstance(app.wsgi_app, WebSocketTransport)
    client = socketio.test_client(app, namespace="/chat")
    assert events(client, "welcome")[0]["room"] == "lobby"
    # The first connection finished the setup that needed SocketIO.
    assert app.extensions["chatroom"].ready
    assert isinstance(app.wsgi_app, WebSocketTransport)


def test_registering_twice_is_a_clear_error() -> None:
    app = make_app()
    with pytest.raises(RuntimeError, match="already registered"):
        register_chat(app, app.extensions["socketio"])


def test_missing_socketio_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="needs the app's SocketIO"):
        register_chat(Flask(__name__))


def test_keyword_options_win_over_app_config() -> None:
    app = Flask(__name__)
    app.config.update(CHATROOM_TITLE="From config", CHATROOM_DEFAULT_ROOM="general")
    register_chat(app, SocketIO(app, async_mode="threading"), title="From code")
    config = get_chat(app).config
    assert config.title == "From code"
    assert config.default_room == "general"


def test_unknown_option_names_the_valid_ones() -> None:
    with pytest.raises(
        TypeError, match=r"Unknown flask-chatroom option\(s\): titel.*title"
    ):
        Chatroom(titel="typo")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("CHATROOM_URL_PREFIX", "chat", "must be a path that starts with '/'"),
        ("CHATROOM_URL_PREFIX", "/", "below the site root"),
        ("CHATROOM_NAMESPACE", "/chat room", "without spaces"),
        ("CHATROOM_NAMESPACE", 5, "starts with '/'"),
        ("CHATROOM_DEFAULT_ROOM", "the lobby!", "room name"),
        ("CHATROOM_DEFAULT_ROOM", "x" * 65, "room name"),
        ("CHATROOM_MAX_MESSAGE_LENGTH", 0, "whole number of 1 or more"),
        ("CHATROOM_MAX_MESSAGE_LENGTH", "2000", "whole number"),
        ("CHATROOM_MAX_MESSAGE_LENGTH", True, "whole number"),
        ("CHATROOM_TITLE", "  ", "non-empty string"),
        ("CHATROOM_THEME", "blue", "one of dark, light, auto"),
        ("CHATROOM_GUEST_PREFIX", None, "non-empty string"),
        ("CHATROOM_CONTENT_SECURITY_POLICY", "a\nb", "on one line"),
    ],
)
def test_bad_config_fails_at_init_naming_the_key(
    key: str, value: object, message: str
) -> None:
    app = Flask(__name__)
    app.config[key] = value
    with pytest.raises(ConfigError, match=key) as info:
        register_chat(app, SocketIO(app, async_mode="threading"))
    assert message in str(info.value)
    assert "chatroom" not in app.extensions


def test_url_prefix_and_namespace_are_normalized() -> None:
    app = make_app(CHATROOM_URL_PREFIX="/talk/", CHATROOM_NAMESPACE="/talk/")
    config = get_chat(app).config
    assert (config.url_prefix, config.namespace) == ("/talk", "/talk")
    assert app.test_client().get("/talk/").status_code == 200
    assert app.test_client().get("/chat/").status_code == 404


def test_host_namespace_class_on_the_same_namespace_is_refused() -> None:
    class HostNamespace(Namespace):
        def on_ping(self) -> str:
            return "pong"

    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="threading")
    socketio.on_namespace(HostNamespace("/chat"))
    with pytest.raises(ConfigError, match="CHATROOM_NAMESPACE"):
        register_chat(app, socketio)


def test_host_socketio_handlers_keep_working(async_mode: str) -> None:
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode=async_mode)

    @socketio.on("ping")
    def ping(data: object) -> dict[str, object]:
        return {"pong": data}

    @socketio.on("whoami", namespace="/chat")
    def whoami() -> str:
        return "host handler"

    register_chat(app, socketio)

    host_client = socketio.test_client(app)
    assert host_client.emit("ping", 1, callback=True) == {"pong": 1}
    chat_client = socketio.test_client(app, namespace="/chat")
    # The host's own handler on the chat's namespace wins for its own event ...
    assert (
        chat_client.emit("whoami", namespace="/chat", callback=True) == "host handler"
    )
    # ... and the chat's events still work beside it.
    ack = chat_client.emit(
        "message broadcast", {"message": "hi"}, namespace="/chat", callback=True
    )
    assert ack["ok"] is True


def test_chat_on_the_root_namespace_beside_a_host_connect_handler() -> None:
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="threading")
    connected: list[str] = []

    @socketio.on("connect")
    def host_connect() -> None:
        connected.append("host")

    register_chat(app, socketio, namespace="/")
    a = socketio.test_client(app)
    b = socketio.test_client(app)
    assert connected == ["host", "host"]
    # The host's connect handler ran instead of the chat's, so the chat
    # registers each connection on its first chat event.
    ack = a.emit("message broadcast", {"message": "hello"}, callback=True)
    assert ack["ok"] is True
    b.emit("message broadcast", {"message": "hi"}, callback=True)
    texts = [
        e["args"][0]["message"]
        for e in b.get_received()
        if e["name"] == "message receive"
    ]
    assert texts == ["hi"]
    texts = [
        e["args"][0]["message"]
        for e in a.get_received()
        if e["name"] == "message receive"
    ]
    assert texts == ["hello", "hi"]


def test_one_extension_serves_two_apps_at_once() -> None:
    chat = Chatroom()
    apps = []
    for title in ("One", "Two"):
        app = Flask(title)
        app.config["CHATROOM_TITLE"] = title
        socketio = SocketIO(app, async_mode="threading")
        chat.init_app(app, socketio)
        apps.append(app)
    assert [a.extensions["chatroom"].config.title for a in apps] == ["One", "Two"]
    assert b"<title>Two</title>" in apps[1].test_client().get("/chat/").data


def test_a_host_disconnect_handler_on_the_shared_namespace_leaves_no_ghosts() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "s"
    socketio = SocketIO(app, async_mode="threading")

    @socketio.on("disconnect")
    def host_disconnect(reason: object = None) -> None:
        pass

    register_chat(app, socketio, namespace="/", max_connections_per_user=2)
    http = app.test_client()
    http.get("/chat/")
    for _ in range(5):  # more reconnects than the per-user cap
        client = socketio.test_client(app, flask_test_client=http)
        assert client.is_connected()
        client.disconnect()
    state = app.extensions["chatroom"]
    assert get_chat(app).connection_count <= 1
    assert len(state.backends.presence.members("lobby")) <= 1
