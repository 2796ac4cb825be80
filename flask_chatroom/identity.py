"""Who is speaking: the identity the server gives each connection.

A sender's name is always decided here, on the server, and never taken from a
payload. Without a host identity every visitor is a guest with a readable name
(``Guest 4821``) kept in the Flask session, so a reload or a reconnect keeps it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from flask import current_app, session

#: The Flask session key that holds a guest's ``{"id", "name"}``.
SESSION_KEY = "chatroom_guest"


@dataclass(frozen=True)
class Identity:
    """Who a connection speaks as.

    :param id: the host's user id, or a guest id (``guest:<hex>``) for anonymous
        visitors.
    :param name: the display name other users see as ``client``.
    :param anonymous: ``True`` for guests.
    :param avatar_url: an optional picture for the page to show.
    :param roles: optional role names from the host (e.g. ``"moderator"``).
    """

    id: str
    name: str
    anonymous: bool = True
    avatar_url: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def user_id(self) -> str | None:
        """The id messages carry as ``user_id``: the host's id, ``None`` for guests."""
        return None if self.anonymous else self.id


def new_guest(prefix: str) -> Identity:
    """A fresh guest identity such as ``Guest 4821``."""
    number = 1000 + secrets.randbelow(9000)
    return Identity(id=f"guest:{secrets.token_hex(8)}", name=f"{prefix} {number}")


def guest_from_session(prefix: str, *, create: bool) -> Identity | None:
    """The guest identity stored in the Flask session.

    :param prefix: ``CHATROOM_GUEST_PREFIX``, used for a new name.
    :param create: store a new guest in the session when there is none (only
        meaningful in an HTTP request, whose response saves the session). Without
        a ``SECRET_KEY`` there is no session to keep it in, and nothing is stored.
    """
    stored = session.get(SESSION_KEY)
    if (
        isinstance(stored, dict)
        and isinstance(stored.get("id"), str)
        and isinstance(stored.get("name"), str)
    ):
        return Identity(id=stored["id"], name=stored["name"])
    if not create or not current_app.secret_key:
        return None
    guest = new_guest(prefix)
    session[SESSION_KEY] = {"id": guest.id, "name": guest.name}
    return guest
