"""Rate limits: token buckets per user and action, behind a small interface.

Each user (all their tabs together) has one bucket per action: ``message``,
``typing``, ``join`` and ``nickname``. A bucket holds up to *burst* tokens and
refills at *rate* tokens a second; an action takes one token, and with none left it
is refused with the seconds until the next token. :class:`LocalLimiter` keeps the
buckets in this process; a shared backend implements :class:`RateLimiter` too.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: action -> (tokens per second, burst)
DEFAULT_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "message": (5.0, 10),
    "typing": (2.0, 6),
    "join": (2.0, 10),
    "nickname": (0.2, 3),
    "history": (5.0, 20),
}


@dataclass(frozen=True)
class Limit:
    """A bucket's refill *rate* (tokens per second) and *burst* (its size)."""

    rate: float
    burst: int


class RateLimiter(ABC):
    """The rate limiter interface; safe to call from many threads or greenlets."""

    @abstractmethod
    def hit(self, key: str, action: str) -> float | None:
        """Take a token for *action* of *key*; ``None`` when allowed, else the
        seconds until a token is free."""


class LocalLimiter(RateLimiter):
    """Token buckets in this process's memory.

    :param limits: action -> :class:`Limit`; actions not named are not limited.
    :param clock: a monotonic clock in seconds (tests pass a fake one).
    """

    _SWEEP_EVERY = 10_000

    def __init__(
        self,
        limits: Mapping[str, Limit],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self._clock = clock
        self._lock = threading.Lock()
        # (key, action) -> (tokens, last refill time)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._hits = 0

    def hit(self, key: str, action: str) -> float | None:
        limit = self.limits.get(action)
        if limit is None:
            return None
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get((key, action), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - then) * limit.rate)
            self._hits += 1
            if self._hits % self._SWEEP_EVERY == 0:
                self._sweep(now)
            if tokens >= 1.0:
                self._buckets[(key, action)] = (tokens - 1.0, now)
                return None
            self._buckets[(key, action)] = (tokens, now)
            return (1.0 - tokens) / limit.rate

    def _sweep(self, now: float) -> None:
        """Forget buckets that have refilled completely (their users went quiet)."""
        full = [
            bucket
            for bucket, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.limits[bucket[1]].rate
            >= self.limits[bucket[1]].burst
        ]
        for bucket in full:
            del self._buckets[bucket]

    def __len__(self) -> int:
        return len(self._buckets)


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
