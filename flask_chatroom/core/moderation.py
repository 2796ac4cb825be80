"""Rate limits with strikes, and mutes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from ..backends.interfaces import RateLimiter, UserData
from ..backends.local import LocalLimiter
from ..config import Limit
from ..identity import Identity
from ..protocol import ChatError, now_ms
from .runtime import Realtime

log = logging.getLogger("flask_chatroom")

#: The rate-limit action of a client address's bucket (see
#: :meth:`Moderation.check_rate`).
ADDRESS_ACTION = "address"
#: Actions whose buckets are kept in each process even when the others are shared
#: (Redis): ``event`` bounds the work one connection makes its own process do, and
#: costs no round trip on every event.
PROCESS_ACTIONS = ("event",)


class Moderation:
    """Who may act how often, and who is muted where.

    :param limiter: the rate limiter (token buckets per user and action).
    :param userdata: where mutes are kept.
    :param realtime: the server, to close a connection that ignores its limits.
    :param disconnect_after: ``CHATROOM_RATE_LIMIT_DISCONNECT``: strikes a
        connection may collect (refilled one a second) before it is closed.
    :param process_limits: the limits of :data:`PROCESS_ACTIONS`, counted in
        this process whatever *limiter* is.
    :param clock: a monotonic clock in seconds (tests pass a fake one).
    """

    _SWEEP_EVERY = 1000

    def __init__(
        self,
        limiter: RateLimiter,
        userdata: UserData,
        realtime: Realtime,
        disconnect_after: int | None,
        process_limits: Mapping[str, Limit] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiter = limiter
        self._in_process = LocalLimiter(process_limits or {}, clock=clock)
        self._userdata = userdata
        self._realtime = realtime
        self._disconnect_after = disconnect_after
        self._clock = clock
        # Strikes per Engine.IO connection (all its namespace sessions): a
        # bucket of CHATROOM_RATE_LIMIT_DISCONNECT that refills one a second.
        self._strikes = LocalLimiter(
            {"strike": Limit(1.0, disconnect_after or 1)}, clock=clock
        )
        # (connection, action) -> when the retry_after last announced to it ends
        self._lock = threading.Lock()
        self._not_before: dict[tuple[str, str], float] = {}
        self._refusals = 0

    def check_rate(
        self,
        sid: str | None,
        identity: Identity,
        action: str,
        address: str | None = None,
    ) -> None:
        """Take a token for *action* from the user's bucket and, when *address*
        is given, one from that client address's bucket (``address`` in
        ``CHATROOM_RATE_LIMITS``, shared by everyone behind it).

        :param sid: the connection asking, or ``None`` outside Socket.IO.
        :raises ChatError: ``rate_limited`` with ``retry_after``. A refusal that
            arrives before the ``retry_after`` the connection was last told is a
            strike; a connection out of strikes is closed. A client that always
            waits the ``retry_after`` it was told is never closed.
        """
        limiter = self._in_process if action in PROCESS_ACTIONS else self._limiter
        retry_after = limiter.hit(identity.id, action)
        if retry_after is None and address is not None:
            retry_after = self._limiter.hit(f"addr:{address}", ADDRESS_ACTION)
        if retry_after is None:
            return
        if sid is not None:
            self._refused(sid, action, retry_after)
        raise _too_fast(retry_after)

    def check_address(self, address: str) -> None:
        """Take a token from client *address*'s bucket only (an HTTP request
        with no limit of its own).

        :raises ChatError: ``rate_limited`` with ``retry_after``.
        """
        retry_after = self._limiter.hit(f"addr:{address}", ADDRESS_ACTION)
        if retry_after is not None:
            raise _too_fast(retry_after)

    def _refused(self, sid: str, action: str, retry_after: float) -> None:
        connection = self._realtime.connection_of(sid) or sid
        now = self._clock()
        key = (connection, action)
        with self._lock:
            early = now < self._not_before.get(key, now)
            self._not_before[key] = now + retry_after
            self._refusals += 1
            if self._refusals % self._SWEEP_EVERY == 0:
                for old in [k for k, t in self._not_before.items() if t <= now]:
                    del self._not_before[old]
        if early:
            self.strike(sid)

    def strike(self, sid: str, reason: str = "ignoring its limits") -> bool:
        """Count one strike against the connection of *sid* (all the namespace
        sessions of its Engine.IO connection): a request it should not have
        sent, such as a retry before its ``retry_after`` or a malformed packet.
        Close the connection when it has none left.

        :param reason: for the log line, such as ``"malformed packets"``.
        :returns: whether the connection was closed.
        """
        if self._disconnect_after is None:
            return False
        connection = self._realtime.connection_of(sid) or sid
        if self._strikes.hit(connection, "strike") is None:
            return False
        log.warning("chat: closed connection %s for %s", sid, reason)
        self._realtime.close(sid)
        return True

    def mute(self, room: str, user_id: str, seconds: int) -> int | None:
        """Mute *user_id* in *room* for *seconds* (0 unmutes); until when (epoch
        ms), or ``None`` for an unmute."""
        until = now_ms() + seconds * 1000 if seconds else None
        self._userdata.set_mute(room, user_id, until)
        return until

    def check_not_muted(self, room: str, identity: Identity) -> None:
        """:raises ChatError: ``muted`` while *identity* is muted in *room*."""
        until = self._userdata.muted_until(room, identity.id)
        left = 0 if until is None else until - now_ms()
        if left <= 0:
            return
        raise ChatError(
            "muted", "A moderator muted you in this room.", retry_after=left / 1000
        )


def _too_fast(retry_after: float) -> ChatError:
    return ChatError(
        "rate_limited",
        "You are doing that too fast; wait a moment.",
        retry_after=retry_after,
    )
