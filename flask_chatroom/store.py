"""The message stores, under the names earlier releases documented, and the
conversations kept beside them; they live in :mod:`flask_chatroom.backends`
(:mod:`~flask_chatroom.backends.interfaces`, :mod:`~flask_chatroom.backends.sql`,
:mod:`~flask_chatroom.backends.memory`)."""

from __future__ import annotations

from .backends.interfaces import (
    SCHEMA_VERSION,
    Conversations,
    Edit,
    MessageChange,
    MessageStore,
    RoomInfo,
    SchemaError,
    Unread,
)
from .backends.memory import MemoryConversations, MemoryStore
from .backends.sql import SQLConversations, SQLStore, sqlite_engine

__all__ = [
    "SCHEMA_VERSION",
    "Conversations",
    "Edit",
    "MemoryConversations",
    "MemoryStore",
    "MessageChange",
    "MessageStore",
    "RoomInfo",
    "SQLConversations",
    "SQLStore",
    "SchemaError",
    "Unread",
    "sqlite_engine",
]
