"""The rate limiter interface, its in-process backend and the limits table,
under the names earlier releases documented; they live in
:mod:`flask_chatroom.backends` and :mod:`flask_chatroom.config`."""

from __future__ import annotations

from .backends.interfaces import RateLimiter
from .backends.local import LocalLimiter
from .config import DEFAULT_RATE_LIMITS, Limit, parse_limits

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "Limit",
    "LocalLimiter",
    "RateLimiter",
    "parse_limits",
]
