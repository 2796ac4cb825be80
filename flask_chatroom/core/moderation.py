"""Rate limits with strikes, and mutes."""

from __future__ import annotations

import logging

from ..backends.interfaces import RateLimiter, UserData
from ..backends.local import LocalLimiter
from ..config import Limit
from ..identity import Identity
from ..protocol import ChatError, now_ms
from .runtime import Realtime

log = logging.getLogger("flask_chatroom")


class Moderation:
    """Who may act how often, and who is muted where.

    :param limiter: the rate limiter (token buckets per user and action).
    :param userdata: where mutes are kept.
    :param realtime: the server, to close a connection that ignores its limits.
    :param disconnect_after: ``CHATROOM_RATE_LIMIT_DISCONNECT``: refusals a
        connection may collect (refilled one a second) before it is closed.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        userdata: UserData,
        realtime: Realtime,
        disconnect_after: int | None,
    ) -> None:
        self._limiter = limiter
        self._userdata = userdata
        self._realtime = realtime
        self._disconnect_after = disconnect_after
        # Refusals by the rate limiter, per connection: a bucket of
        # CHATROOM_RATE_LIMIT_DISCONNECT strikes that refills one a second.
        self._strikes = LocalLimiter({"strike": Limit(1.0, disconnect_after or 1)})

    def check_rate(self, sid: str | None, identity: Identity, action: str) -> None:
        """Take a token for *action* from the user's bucket.

        :param sid: the connection asking, or ``None`` outside Socket.IO.
        :raises ChatError: ``rate_limited`` with ``retry_after``. A connection
            refused more than ``CHATROOM_RATE_LIMIT_DISCONNECT`` times, faster
            than once a second, is disconnected: it keeps going far past the limit.
        """
        retry_after = self._limiter.hit(identity.id, action)
        if retry_after is None:
            return
        if (
            sid is not None
            and self._disconnect_after is not None
            and self._strikes.hit(sid, "strike") is not None
        ):
            log.warning("chat: disconnected sid %s for ignoring rate limits", sid)
            self._realtime.close(sid)
        raise ChatError(
            "rate_limited",
            "You are doing that too fast; wait a moment.",
            retry_after=retry_after,
        )

    def strike(self, sid: str, reason: str) -> bool:
        """Count a strike against connection *sid* for something other than a
        rate limit (a malformed packet), in the same bucket as the rate
        limiter's refusals; close the connection when it has none left.

        :param reason: for the log line, such as ``"malformed packets"``.
        :returns: whether the connection was closed.
        """
        if self._disconnect_after is None or self._strikes.hit(sid, "strike") is None:
            return False
        log.warning("chat: disconnected sid %s for %s", sid, reason)
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
