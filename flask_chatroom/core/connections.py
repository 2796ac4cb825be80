"""Who is connected to this process: each connection's identity, indexed by user."""

from __future__ import annotations

import threading
from dataclasses import replace

from ..identity import Identity
from ..protocol import ChatError
from .runtime import Realtime


class Connections:
    """The registry of the chat namespace's connections in this process.

    :param realtime: the server, to tell connections that are gone.
    :param max_per_user: ``CHATROOM_MAX_CONNECTIONS_PER_USER``.
    """

    def __init__(self, realtime: Realtime, max_per_user: int) -> None:
        self._realtime = realtime
        self._max_per_user = max_per_user
        self._lock = threading.Lock()
        self._identities: dict[str, Identity] = {}
        # sid -> the client address it connected from (its rate-limit key)
        self._addresses: dict[str, str] = {}
        # user id -> that user's connections in this process
        self._sids_of: dict[str, set[str]] = {}

    def add(
        self, sid: str, identity: Identity, address: str | None = None
    ) -> list[str]:
        """Record connection *sid* as *identity*, from client *address*.

        :returns: the user's connections that Socket.IO no longer has (a host's
            own ``disconnect`` handler on a shared namespace ran instead of the
            chat's); the caller disconnects them.
        :raises ChatError: ``too_many_connections`` when the user already has
            ``CHATROOM_MAX_CONNECTIONS_PER_USER`` connections.
        """
        gone = [
            other
            for other in list(self._sids_of.get(identity.id, ()))
            if not self._realtime.is_connected(other)
        ]
        with self._lock:
            for other in gone:
                self._remove_locked(other)
            sids = self._sids_of.setdefault(identity.id, set())
            if len(sids) >= self._max_per_user:
                raise ChatError(
                    "too_many_connections", "You have too many chat windows open."
                )
            sids.add(sid)
            self._identities[sid] = identity
            if address is not None:
                self._addresses[sid] = address
        return gone

    def remove(self, sid: str) -> Identity | None:
        """Forget connection *sid*; its identity, if it was known."""
        with self._lock:
            return self._remove_locked(sid)

    def _remove_locked(self, sid: str) -> Identity | None:
        self._addresses.pop(sid, None)
        identity = self._identities.pop(sid, None)
        if identity is not None:
            sids = self._sids_of.get(identity.id, set())
            sids.discard(sid)
            if not sids:
                self._sids_of.pop(identity.id, None)
        return identity

    def address_of(self, sid: str) -> str | None:
        """The client address connection *sid* came from, if known."""
        return self._addresses.get(sid)

    def identity_of(self, sid: str) -> Identity | None:
        """Who connection *sid* speaks as, if it is connected."""
        return self._identities.get(sid)

    def rename(self, user_id: str, name: str) -> tuple[Identity | None, list[str]]:
        """Give every connection of *user_id* the display name *name*; the
        renamed identity and those connections."""
        with self._lock:
            sids = sorted(self._sids_of.get(user_id, ()))
            renamed = None
            for sid in sids:
                renamed = replace(self._identities[sid], name=name)
                self._identities[sid] = renamed
        return renamed, sids

    def sids_of(self, user_id: str) -> list[str]:
        """The connections of *user_id* in this process."""
        with self._lock:
            return sorted(self._sids_of.get(user_id, ()))

    def name_of(self, user_id: str) -> str | None:
        """The display name of *user_id*, if they are connected to this process."""
        with self._lock:
            sids = self._sids_of.get(user_id)
            sid = next(iter(sids)) if sids else None
            identity = self._identities.get(sid) if sid is not None else None
        return identity.name if identity is not None else None

    def signed_in_names(self) -> set[str]:
        """The display names of signed-in users connected now, as they show."""
        identities = list(self._identities.values())
        return {i.name for i in identities if not i.anonymous}

    def __len__(self) -> int:
        return len(self._identities)
