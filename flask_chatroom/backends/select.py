"""The one place that picks an app's backends from its configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..config import ChatConfig, ConfigError
from .files import DirectoryFileStorage, MemoryFileStorage
from .interfaces import (
    Conversations,
    FileStorage,
    MessageStore,
    Presence,
    RateLimiter,
    Uploads,
    UserData,
)
from .local import LocalLimiter, LocalPresence, LocalUserData
from .memory import MemoryStore
from .sql import SQLFileStorage, SQLStore, sqlite_engine


@dataclass(frozen=True)
class Backends:
    """Presence, the rate limiter and user data, chosen together."""

    presence: Presence
    limiter: RateLimiter
    userdata: UserData

    @property
    def shared(self) -> bool:
        """Whether they are shared between processes (and need housekeeping)."""
        return type(self.presence).sweep is not Presence.sweep


def make_store(config: ChatConfig, instance_path: str) -> MessageStore:
    """The message store :data:`CHATROOM_ENGINE` / :data:`CHATROOM_DATABASE_URL`
    ask for (see the storage docs): a host engine, memory, an SQLite file in the
    instance folder by default, or any SQLAlchemy URL."""
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


def conversations_of(store: MessageStore) -> Conversations:
    """The conversations kept beside *store*, in the same database (or, for
    ``memory://``, the same process): one object per store, so every caller
    shares it.

    :raises ConfigError: *store* is not one of the chat's own stores.
    """
    if isinstance(store, (SQLStore, MemoryStore)):
        return store.conversations
    raise ConfigError(
        f"{type(store).__name__} keeps no rooms, members or read markers; the chat's "
        "conversations need SQLStore or MemoryStore (CHATROOM_DATABASE_URL)."
    )


def uploads_of(store: MessageStore) -> Uploads | None:
    """The uploads kept beside *store* (which claims them for messages), or
    ``None`` for a host's own store: attachments are then turned off."""
    if isinstance(store, (SQLStore, MemoryStore)):
        return store.uploads
    return None


def make_file_storage(config: ChatConfig, store: MessageStore) -> FileStorage:
    """Where uploaded files go: the host's ``CHATROOM_FILE_STORAGE`` (object
    storage, say), else ``CHATROOM_ATTACHMENT_DIR`` when set, else the chat's
    database (this process's memory with ``memory://``)."""
    if config.file_storage is not None:
        file_storage: FileStorage = config.file_storage
        return file_storage
    if config.attachment_dir is not None:
        return DirectoryFileStorage(config.attachment_dir)
    if isinstance(store, SQLStore):
        return SQLFileStorage(store)
    return MemoryFileStorage()


def local_backends(config: ChatConfig) -> Backends:
    """Backends in this process's memory."""
    return Backends(
        LocalPresence(),
        LocalLimiter(config.rate_limits),
        LocalUserData(config.guest_ttl),
    )


def make_backends(config: ChatConfig, redis_url: str | None) -> Backends:
    """Redis backends when there is a Redis to share state through (see
    :func:`~flask_chatroom.config.shared_redis_url`), else local ones.

    :raises ConfigError: Redis is asked for but redis-py is not installed.
    """
    if redis_url is None:
        return local_backends(config)
    try:
        import redis

        from .redis import RedisLimiter, RedisPresence, RedisUserData
    except ImportError:  # pragma: no cover - the redis extra is missing
        raise ConfigError(
            "flask-chatroom shares its state through Redis here but redis-py is not "
            'installed: pip install "flask-chatroom[redis]".'
        ) from None
    client = redis.Redis.from_url(redis_url)
    prefix = f"chatroom:{config.namespace}"
    return Backends(
        RedisPresence(client, prefix, config.presence_expiry),
        RedisLimiter(client, prefix, config.rate_limits),
        RedisUserData(client, prefix, config.guest_ttl),
    )
