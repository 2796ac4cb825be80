"""Who is speaking: the identity the server gives each connection.

A sender's name is always decided here, on the server, and never taken from a
payload. In order, the identity comes from:

1. the host's :meth:`Chatroom.identity_loader <flask_chatroom.Chatroom.identity_loader>`
   callback, if it has one;
2. Flask-Login's ``current_user``, if the app uses Flask-Login and the user is
   signed in (display name from ``CHATROOM_USER_NAME_ATTRIBUTE``);
3. otherwise the visitor is a guest with a readable name (``Guest 4821``) kept in
   the Flask session, so a reload or a reconnect keeps it. A client without a
   session cookie (a script) stays one guest for the life of its Engine.IO
   connection, and across connections when it sends back the signed
   ``guest_token`` its ``welcome`` carried.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flask import current_app, session
from itsdangerous import BadData, URLSafeTimedSerializer

#: The Flask session key that holds a guest's ``{"id", "name"}``.
SESSION_KEY = "chatroom_guest"
#: The WSGI environ key under which a connection's guest is kept: Socket.IO
#: hands every namespace session of one Engine.IO connection the same environ.
ENVIRON_KEY = "flask_chatroom.guest"


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

    def to_wire(self) -> dict[str, Any]:
        """How presence lists show this user."""
        return {
            "id": self.id,
            "name": self.name,
            "user_id": self.user_id,
            "avatar_url": self.avatar_url,
        }


#: What an identity loader may return: an :class:`Identity`, a mapping with
#: ``id`` and ``name`` (and optional ``avatar_url``, ``roles``), or ``None`` for an
#: anonymous visitor.
LoaderResult = Identity | Mapping[str, Any] | None
IdentityLoader = Callable[[], LoaderResult]


def from_loader_result(result: LoaderResult) -> Identity | None:
    """Turn what an identity loader returned into a signed-in :class:`Identity`.

    :raises TypeError: the loader returned something else; the message says what.
    """
    if result is None:
        return None
    if isinstance(result, Identity):
        # The loader speaks for signed-in users (None is the anonymous answer).
        return replace(result, anonymous=False) if result.anonymous else result
    if isinstance(result, Mapping) and result.get("id") is not None:
        roles: Iterable[str] = result.get("roles") or ()
        return Identity(
            id=str(result["id"]),
            name=str(result.get("name") or result["id"]),
            anonymous=False,
            avatar_url=result.get("avatar_url"),
            roles=frozenset(roles),
        )
    raise TypeError(
        "A flask-chatroom identity_loader must return an Identity, a mapping with "
        f"at least 'id' (and 'name'), or None; it returned {result!r}."
    )


def from_flask_login(name_attribute: str) -> Identity | None:
    """The signed-in Flask-Login user, if the app uses Flask-Login."""
    if getattr(current_app, "login_manager", None) is None:
        return None
    from flask_login import current_user  # the app uses Flask-Login, so it's there

    if not current_user or not current_user.is_authenticated:
        return None
    user_id = str(current_user.get_id())
    name = getattr(current_user, name_attribute, None) or user_id
    roles = getattr(current_user, "roles", None) or ()
    return Identity(
        id=user_id,
        name=str(name),
        anonymous=False,
        avatar_url=getattr(current_user, "avatar_url", None),
        roles=frozenset(str(role) for role in roles),
    )


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


class GuestTokens:
    """Signed guest tokens: ``{"id", "name"}`` of a guest, signed with the app's
    ``SECRET_KEY`` (or, without one, a key of this process), valid for
    *max_age* seconds (``CHATROOM_GUEST_TTL``).

    A token only lets a client come back as the guest it was given; it never
    names a signed-in user.
    """

    SALT = "flask-chatroom.guest"

    def __init__(self, max_age: int) -> None:
        self.max_age = max_age
        self._process_key = secrets.token_bytes(32)
        # (key, serializer): made once per key, not once per connection
        self._made: tuple[Any, URLSafeTimedSerializer] | None = None

    def _serializer(self) -> URLSafeTimedSerializer:
        key = current_app.secret_key or self._process_key
        made = self._made
        if made is None or made[0] is not key:
            made = self._made = (key, URLSafeTimedSerializer(key, salt=self.SALT))
        return made[1]

    def issue(self, guest: Identity) -> str:
        """A token for *guest* (the guest as first named, without a nickname)."""
        return self._serializer().dumps({"id": guest.id, "name": guest.name})

    def read(self, token: Any) -> Identity | None:
        """The guest *token* names, or ``None`` if it is not a valid, unexpired
        token of this app."""
        if not isinstance(token, str) or not 0 < len(token) <= 512:
            return None
        try:
            data = self._serializer().loads(token, max_age=self.max_age)
        except BadData:
            return None
        if (
            isinstance(data, dict)
            and isinstance(data.get("id"), str)
            and data["id"].startswith("guest:")
            and isinstance(data.get("name"), str)
        ):
            return Identity(id=data["id"], name=data["name"])
        return None
