"""The presence interface and its in-process backend, under the names earlier
releases documented; they live in :mod:`flask_chatroom.backends`."""

from __future__ import annotations

from .backends.interfaces import Change, Presence
from .backends.local import LocalPresence

__all__ = ["Change", "LocalPresence", "Presence"]
