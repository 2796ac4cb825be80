"""The message stores, under the names earlier releases documented; they live in
:mod:`flask_chatroom.backends` (:mod:`~flask_chatroom.backends.interfaces`,
:mod:`~flask_chatroom.backends.sql`, :mod:`~flask_chatroom.backends.memory`)."""

from __future__ import annotations

from .backends.interfaces import SCHEMA_VERSION, MessageStore, SchemaError
from .backends.memory import MemoryStore
from .backends.sql import SQLStore, sqlite_engine

__all__ = [
    "SCHEMA_VERSION",
    "MemoryStore",
    "MessageStore",
    "SQLStore",
    "SchemaError",
    "sqlite_engine",
]
