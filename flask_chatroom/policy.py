"""The host's say: who the user is, who may join and post where, which role
moderates, and the filters every message passes.

The :class:`~flask_chatroom.Chatroom` decorators (``identity_loader``,
``can_join``, ``can_post``, ``can_dm``, ``can_create_room``,
``message_filter``) register hooks here;
the service asks this one object every permission question, for every door
(Socket.IO and HTTP alike).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from . import signals
from .identity import Identity, IdentityLoader, from_flask_login, from_loader_result
from .protocol import ChatError, Message, message_text

#: The role an identity needs to delete messages and mute users.
MODERATOR_ROLE = "moderator"

#: A permission hook: ``(user, room) -> bool``.
PermissionHook = Callable[[Identity, str], bool]
#: Who may open a direct conversation with whom: ``(user, user_ids) -> bool``.
DMHook = Callable[[Identity, list[str]], bool]
#: Who may make which room: ``(user, room, kind) -> bool``, *kind* ``"public"``
#: or ``"private"``.
CreateRoomHook = Callable[[Identity, str, str], bool]
#: A message filter: ``(message, user) -> message or None``.
MessageFilter = Callable[[Message, Identity], "Message | None"]


class Policy:
    """The hooks of one :class:`~flask_chatroom.Chatroom` (shared by every app
    it serves). With no hook set, everyone may do everything a guest may."""

    def __init__(self) -> None:
        self.identity_loader: IdentityLoader | None = None
        self.can_join: PermissionHook | None = None
        self.can_post: PermissionHook | None = None
        self.can_dm: DMHook | None = None
        self.can_create_room: CreateRoomHook | None = None
        self.filters: list[MessageFilter] = []

    def identify(self, name_attribute: str) -> Identity | None:
        """Who the current request is, or ``None`` for a visitor who is not
        signed in: the identity loader, else Flask-Login (see
        :mod:`flask_chatroom.identity`)."""
        if self.identity_loader is not None:
            return from_loader_result(self.identity_loader())
        return from_flask_login(name_attribute)

    def may_join(self, user: Identity, room: str) -> bool:
        """Whether *user* may join (and read) *room*, by the ``can_join`` hook."""
        return self.can_join is None or bool(self.can_join(user, room))

    def may_post(self, user: Identity, room: str) -> bool:
        """Whether *user* may post in *room*, by the ``can_post`` hook."""
        return self.can_post is None or bool(self.can_post(user, room))

    def may_dm(self, user: Identity, user_ids: list[str]) -> bool:
        """Whether *user* may open a direct conversation with *user_ids* (the
        other members), by the ``can_dm`` hook; without one, signed-in users
        may and guests may not. Blocks are the service's to check."""
        if self.can_dm is None:
            return not user.anonymous
        return bool(self.can_dm(user, list(user_ids)))

    def may_create_room(self, user: Identity, room: str, kind: str) -> bool:
        """Whether *user* may make *room* of *kind* (``"public"`` or
        ``"private"``), by the ``can_create_room`` hook; without one, nobody
        may."""
        return self.can_create_room is not None and bool(
            self.can_create_room(user, room, kind)
        )

    @staticmethod
    def is_moderator(user: Identity) -> bool:
        """Whether *user* may delete messages and mute users."""
        return MODERATOR_ROLE in user.roles

    def apply_filters(
        self, message: Message, user: Identity, max_length: int
    ) -> Message:
        """Run the message filters over *message*.

        :raises ChatError: ``rejected`` when a filter refuses it (the
            ``message_rejected`` signal is sent), or when a filter returns a text
            the protocol refuses (empty, longer than *max_length*).
        """
        original = message
        for hook in self.filters:
            result = hook(message, user)
            if result is None:
                signals.send(signals.message_rejected, message=message, user=user)
                raise ChatError("rejected", "This message was not accepted.")
            message = result
        if message is original:
            return message
        try:
            text = message_text(
                message.text, max_length, empty_ok=bool(original.attachments)
            )
        except ChatError:
            raise ChatError("rejected", "This message was not accepted.") from None
        # Only the text is the filter's; every other field stays the server's.
        return replace(original, text=text)
