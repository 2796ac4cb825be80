"""The ``CHATROOM_*`` configuration keys: defaults, validation, and the resolved view.

Each key has a documented default (``docs/configuration.rst``). A key can be set in
``app.config`` or passed as a keyword option to :func:`~flask_chatroom.register_chat`
/ :class:`~flask_chatroom.Chatroom` (``url_prefix="/talk"`` sets
``CHATROOM_URL_PREFIX``); a keyword option wins over ``app.config``. Values are
checked once, in ``init_app``, and a bad one raises :class:`ConfigError` naming the
key and what to change.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import ROOM_NAME_RULE, is_valid_room_name

PREFIX = "CHATROOM_"

#: The default Content-Security-Policy sent with the chat page: scripts, styles and
#: connections only from the host's own origin, no inline code, no framing by others.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'"
)

THEMES = ("dark", "light", "auto")

#: The emoji people may react with (``CHATROOM_REACTIONS``).
DEFAULT_REACTIONS = ("👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅")

#: The names no guest may take as a nickname, nor any name that looks like one
#: (compared by confusable skeleton, case-insensitively): the name host code posts
#: under by default (``Chat.send``'s ``"System"``) and the names of staff.
DEFAULT_RESERVED_NAMES = (
    "System",
    "Server",
    "Admin",
    "Administrator",
    "Moderator",
    "Mod",
    "Staff",
    "Root",
)


#: action -> (tokens per second, burst). Every action but ``address`` is counted
#: per user (a guest is one user for the life of its connection and session);
#: ``event`` is taken by every chat event, whatever it asks, besides the
#: action's own; ``address`` is the bucket of a client address (an IPv6 /64),
#: shared by everyone behind it and taken from by every connect, join,
#: catch-up and HTTP API request; ``dm`` is taken by every ``dm``, ``block``
#: and ``unblock``, ``read`` by every ``read``; ``message`` by every message,
#: edit and deletion of one's own message, ``react`` by every reaction and
#: ``history`` by every page, catch-up and ``changes`` request; ``upload`` by
#: every upload and ``search`` by every search.
DEFAULT_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "message": (5.0, 10),
    "react": (5.0, 10),
    "typing": (2.0, 6),
    "join": (2.0, 10),
    "nickname": (0.2, 3),
    "history": (5.0, 20),
    "connect": (1.0, 10),
    "event": (20.0, 60),
    "address": (20.0, 200),
    "dm": (0.5, 5),
    "read": (5.0, 20),
    "create_room": (0.1, 3),
    "upload": (0.5, 10),
    "search": (1.0, 10),
}


@dataclass(frozen=True)
class Limit:
    """A bucket's refill *rate* (tokens per second) and *burst* (its size)."""

    rate: float
    burst: int


def parse_limits(value: Mapping[str, object]) -> dict[str, Limit]:
    """Turn ``{"message": (5, 10), ...}`` into :class:`Limit` objects.

    :raises ValueError: a value that is not ``(rate > 0, burst >= 1)``, or an
        unknown action; the message says which.
    """
    limits: dict[str, Limit] = {}
    for action, spec in value.items():
        if action not in DEFAULT_RATE_LIMITS:
            raise ValueError(
                f"unknown action {action!r} (known: {', '.join(DEFAULT_RATE_LIMITS)})"
            )
        if spec is None:
            continue  # this action is not limited
        if (
            not isinstance(spec, (tuple, list))
            or len(spec) != 2
            or isinstance(spec[0], bool)
            or not isinstance(spec[0], (int, float))
            or spec[0] <= 0
            or isinstance(spec[1], bool)
            or not isinstance(spec[1], int)
            or spec[1] < 1
        ):
            raise ValueError(
                f"{action!r} must be (tokens per second > 0, burst >= 1) or None, "
                f"got {spec!r}"
            )
        limits[action] = Limit(float(spec[0]), int(spec[1]))
    return limits


class ConfigError(ValueError):
    """A ``CHATROOM_*`` value is not usable; the message says what to change."""


@dataclass(frozen=True)
class ChatConfig:
    """The resolved, validated configuration of one app's chat.

    Read it from ``app.extensions["chatroom"].config``; it does not change after
    ``init_app``.
    """

    url_prefix: str
    namespace: str
    default_room: str
    max_message_length: int
    title: str
    theme: str
    guest_prefix: str
    content_security_policy: str | None
    rooms: tuple[str, ...] | None
    require_login: bool
    allow_nicknames: bool
    reserved_names: tuple[str, ...]
    user_name_attribute: str
    login_view: str | None
    database_url: str | None
    engine: Any
    history_limit: int
    retention_days: int | None
    rate_limits: dict[str, Limit]
    rate_limit_disconnect: int | None
    guest_ttl: int
    max_rooms_per_connection: int
    max_connections_per_user: int
    dm_max_members: int
    max_frame_bytes: int | None
    redis_url: str | None
    presence_expiry: int
    websocket_compression: bool
    fast_websocket: bool
    freeze_heap: bool
    edit_window: int | None
    reactions: tuple[str, ...]
    attachment_max_bytes: int
    attachment_types: tuple[str, ...]
    attachment_max_pixels: int
    attachment_daily_bytes: int | None
    attachment_dir: str | None
    attachment_guests: bool
    file_storage: Any

    def room_exists(self, room: str) -> bool:
        """Whether *room* may be used: any valid name with open rooms, else one
        of :data:`CHATROOM_ROOMS`."""
        if self.rooms is None:
            return is_valid_room_name(room)
        return room in self.rooms


def _path(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"{key} must be a path that starts with '/', got {value!r}.")
    if any(ch.isspace() for ch in value) or "?" in value or "#" in value:
        raise ConfigError(f"{key} must be a plain path without spaces, got {value!r}.")
    return value


def _url_prefix(key: str, value: Any) -> str:
    prefix = _path(key, value).rstrip("/")
    if not prefix:
        raise ConfigError(
            f"{key} must name a path below the site root such as '/chat'; "
            "the chat's pages and static files need a prefix of their own."
        )
    return prefix


def _namespace(key: str, value: Any) -> str:
    namespace = _path(key, value)
    if namespace != "/":
        namespace = namespace.rstrip("/")
    if not re.fullmatch(r"/[A-Za-z0-9_\-/]*", namespace):
        raise ConfigError(
            f"{key} must be a Socket.IO namespace such as '/chat' (letters, digits, "
            f"'-', '_' and '/'), got {value!r}."
        )
    return namespace


def _room(key: str, value: Any) -> str:
    if not isinstance(value, str) or not is_valid_room_name(value):
        raise ConfigError(
            f"{key} must be a room name: {ROOM_NAME_RULE}; got {value!r}."
        )
    return value


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a whole number of 1 or more, got {value!r}.")
    return value


def _dm_max_members(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ConfigError(
            f"{key} must be a whole number of 2 or more (the caller and one other "
            f"user), got {value!r}."
        )
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string, got {value!r}.")
    return value.strip()


def _theme(key: str, value: Any) -> str:
    if value not in THEMES:
        raise ConfigError(f"{key} must be one of {', '.join(THEMES)}; got {value!r}.")
    return str(value)


def _optional_header(key: str, value: Any) -> str | None:
    if value is None or value == "" or value is False:
        return None
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        raise ConfigError(
            f"{key} must be a header value on one line, or None to send no header; "
            f"got {value!r}."
        )
    return value


def _rooms(key: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(
            f"{key} must be a non-empty list of room names, or None for open rooms; "
            f"got {value!r}."
        )
    return tuple(_room(key, room) for room in value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be True or False, got {value!r}.")
    return value


def _names(key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if (
        isinstance(value, str)
        or not isinstance(value, (list, tuple, set, frozenset))
        or not all(isinstance(name, str) and name.strip() for name in value)
    ):
        raise ConfigError(
            f"{key} must be a list of names such as ['System', 'Admin'], or None "
            f"to reserve none; got {value!r}."
        )
    return tuple(name.strip() for name in value)


def _identifier(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise ConfigError(f"{key} must be an attribute name, got {value!r}.")
    return value


def _optional_endpoint(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{key} must be an endpoint name such as 'auth.login', or None; "
            f"got {value!r}."
        )
    return value


def _database_url(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or "://" not in value:
        raise ConfigError(
            f"{key} must be an SQLAlchemy database URL such as "
            "'postgresql+psycopg://user@host/db' or 'sqlite:////path/chat.db', "
            f"'memory://' for a store in memory, or None for an SQLite file in the "
            f"instance folder; got {value!r}."
        )
    return value


def _engine(key: str, value: Any) -> Any:
    if value is None or callable(value) or hasattr(value, "dialect"):
        return value
    raise ConfigError(
        f"{key} must be an SQLAlchemy Engine, a function that returns one (such as "
        f"lambda: db.engine), or None; got {value!r}."
    )


def _optional_positive_int(key: str, value: Any) -> int | None:
    return None if value is None else _positive_int(key, value)


def _reactions(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} must be a list of emoji, got {value!r}.")
    emoji = tuple(value)
    if not 1 <= len(emoji) <= 32 or len(set(emoji)) != len(emoji):
        raise ConfigError(f"{key} must list 1 to 32 different emoji, got {value!r}.")
    for item in emoji:
        if (
            not isinstance(item, str)
            or not 1 <= len(item) <= 16
            or item != item.strip()
        ):
            raise ConfigError(
                f"{key} must list emoji (strings of 1 to 16 characters, no spaces "
                f"around them); got {item!r}."
            )
    return emoji


#: The types of file users may upload unless CHATROOM_ATTACHMENT_TYPES says
#: otherwise: images (re-encoded), PDF, plain text and zip archives.
DEFAULT_ATTACHMENT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/zip",
)
_MIME_TYPE = re.compile(
    r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}"
)


def _mime_types(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} must be a list of MIME types, got {value!r}.")
    for item in value:
        if not isinstance(item, str) or _MIME_TYPE.fullmatch(item) is None:
            raise ConfigError(
                f"{key} must list MIME types such as 'image/png' (lower case), "
                f"got {item!r}."
            )
    return tuple(dict.fromkeys(value))


def _optional_directory(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(
            f"{key} must be a directory path, or None to keep files in the chat's "
            f"database; got {value!r}."
        )
    return os.fspath(value)


def _file_storage(key: str, value: Any) -> Any:
    if value is None or all(
        callable(getattr(value, name, None)) for name in ("save", "load", "delete")
    ):
        return value
    raise ConfigError(
        f"{key} must be a FileStorage (an object with save, load and delete, such "
        f"as one for object storage), or None; got {value!r}."
    )


def _rate_limits(key: str, value: Any) -> dict[str, Limit]:
    if value is None or value is False:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{key} must be a dict such as {{'message': (5, 10)}} (tokens per second, "
            f"burst) that changes the defaults, or None to turn limits off; "
            f"got {value!r}."
        )
    try:
        return parse_limits({**DEFAULT_RATE_LIMITS, **value})
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}.") from None


def _redis_url(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError(
            f"{key} must be a Redis URL such as 'redis://localhost:6379/0', or None "
            f"to use Flask-SocketIO's message_queue when that is Redis; got {value!r}."
        )
    return value


#: key (without the prefix) -> (default, validator)
OPTIONS: dict[str, tuple[Any, Callable[[str, Any], Any]]] = {
    "URL_PREFIX": ("/chat", _url_prefix),
    "NAMESPACE": ("/chat", _namespace),
    "DEFAULT_ROOM": ("lobby", _room),
    "MAX_MESSAGE_LENGTH": (2000, _positive_int),
    "TITLE": ("Chat", _text),
    "THEME": ("dark", _theme),
    "GUEST_PREFIX": ("Guest", _text),
    "CONTENT_SECURITY_POLICY": (DEFAULT_CSP, _optional_header),
    "ROOMS": (None, _rooms),
    "REQUIRE_LOGIN": (False, _bool),
    "ALLOW_NICKNAMES": (True, _bool),
    "RESERVED_NAMES": (DEFAULT_RESERVED_NAMES, _names),
    "USER_NAME_ATTRIBUTE": ("name", _identifier),
    "LOGIN_VIEW": (None, _optional_endpoint),
    "DATABASE_URL": (None, _database_url),
    "ENGINE": (None, _engine),
    "HISTORY_LIMIT": (50, _positive_int),
    "RETENTION_DAYS": (None, _optional_positive_int),
    "RATE_LIMITS": ({}, _rate_limits),
    "RATE_LIMIT_DISCONNECT": (50, _optional_positive_int),
    "GUEST_TTL": (24 * 3600, _positive_int),
    "MAX_ROOMS_PER_CONNECTION": (20, _positive_int),
    "MAX_CONNECTIONS_PER_USER": (10, _positive_int),
    "DM_MAX_MEMBERS": (8, _dm_max_members),
    "MAX_FRAME_BYTES": (65536, _optional_positive_int),
    "REDIS_URL": (None, _redis_url),
    "PRESENCE_EXPIRY": (15, _positive_int),
    "WEBSOCKET_COMPRESSION": (False, _bool),
    "FAST_WEBSOCKET": (True, _bool),
    "FREEZE_HEAP": (True, _bool),
    "EDIT_WINDOW": (15 * 60, _optional_positive_int),
    "REACTIONS": (DEFAULT_REACTIONS, _reactions),
    "ATTACHMENT_MAX_BYTES": (10 * 1024 * 1024, _positive_int),
    "ATTACHMENT_TYPES": (DEFAULT_ATTACHMENT_TYPES, _mime_types),
    "ATTACHMENT_MAX_PIXELS": (40_000_000, _positive_int),
    "ATTACHMENT_DAILY_BYTES": (200 * 1024 * 1024, _optional_positive_int),
    "ATTACHMENT_DIR": (None, _optional_directory),
    "ATTACHMENT_GUESTS": (False, _bool),
    "FILE_STORAGE": (None, _file_storage),
}


def option_names() -> list[str]:
    """The keyword option names that :func:`resolve` accepts, e.g. ``url_prefix``."""
    return [name.lower() for name in OPTIONS]


def check_options(options: Mapping[str, Any]) -> None:
    """Raise :class:`TypeError` for a keyword option flask-chatroom does not know."""
    unknown = sorted(set(options) - set(option_names()))
    if unknown:
        raise TypeError(
            f"Unknown flask-chatroom option(s): {', '.join(unknown)}. "
            f"Valid options are: {', '.join(option_names())}."
        )


def resolve(app_config: dict[str, Any], options: Mapping[str, Any]) -> ChatConfig:
    """Fill in defaults in *app_config*, apply *options*, and validate everything.

    :param app_config: the Flask app's ``config``; missing ``CHATROOM_*`` keys are
        set to their defaults with ``setdefault``.
    :param options: keyword options given in code; they win over ``app_config``.
    :raises TypeError: an unknown keyword option.
    :raises ConfigError: a value that cannot be used.
    """
    check_options(options)
    values: dict[str, Any] = {}
    for name, (default, validate) in OPTIONS.items():
        key = PREFIX + name
        app_config.setdefault(key, copy.copy(default))
        raw = options.get(name.lower(), app_config[key])
        values[name.lower()] = validate(key, raw)
    config = ChatConfig(**values)
    if not config.room_exists(config.default_room):
        raise ConfigError(
            f"{PREFIX}DEFAULT_ROOM {config.default_room!r} is not one of "
            f"{PREFIX}ROOMS {list(config.rooms or ())}; add it there or pick another."
        )
    return config


def shared_redis_url(config: ChatConfig, message_queue: object) -> str | None:
    """The Redis the chat shares its state through: ``CHATROOM_REDIS_URL``, else
    Flask-SocketIO's *message_queue* when it is a Redis URL, else none."""
    if config.redis_url:
        return config.redis_url
    if isinstance(message_queue, str) and message_queue.startswith(
        ("redis://", "rediss://")
    ):
        return message_queue
    return None
