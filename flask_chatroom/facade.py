"""What the host's own code does with its chat: :func:`get_chat` and
:class:`Chat`."""

from __future__ import annotations

from typing import Any

from flask import Flask

from .config import ChatConfig
from .identity import Identity
from .protocol import ChatError, HistoryRequest, Message
from .service import MAX_HISTORY_PAGE, ChatService, get_service


class Chat:
    """The chat of one app, for the host's code (views, CLI commands, jobs).

    Get it with :func:`get_chat`. Each method works inside the app's context
    (an app context, a request, a CLI command).
    """

    def __init__(self, service: ChatService) -> None:
        self._service = service

    @property
    def config(self) -> ChatConfig:
        """The resolved ``CHATROOM_*`` configuration (it does not change)."""
        return self._service.config

    def send(self, room: str, text: str, sender: str | Identity = "System") -> Message:
        """Post a message from host code: an HTTP view, a CLI command, a job.

        The message goes through the same checks as a user's (text rules and
        length; the room must exist: configured, or recorded such as a private
        room or a direct conversation) and reaches every member of *room*; the
        permission hooks and filters, which are about users, do not apply. It
        works from any thread or greenlet under every async mode.

        Example::

            @app.post("/deploys")
            def announce_deploy():
                get_chat().send("ops", "Deploy finished", sender="Deploy bot")
                return "", 204

        :param room: the room to post in.
        :param text: the message text.
        :param sender: a display name, or an :class:`~flask_chatroom.Identity`.
        :raises ChatError: the text or the room is refused (see ``.code``).
        :returns: the :class:`~flask_chatroom.Message` as broadcast.
        """
        return self._service.send(room, text, sender)

    def history(
        self,
        room: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """A page of *room*'s messages, oldest first: the newest *limit* before
        ``seq`` *before*, or the first *limit* after *after* (at most 200).
        Deleted messages come with an empty text and ``deleted`` set.

        *room* is a room the configuration allows or one the conversations
        store recorded (a made room, a private room, a direct conversation).

        :raises ChatError: ``unknown_room``, or ``invalid_payload`` for both
            *before* and *after*.
        """
        if before is not None and after is not None:
            raise ChatError("invalid_payload", "Give before or after, not both.")
        if not self._service.room_exists(room):
            raise ChatError("unknown_room", f"There is no room {room!r}.")
        limit = max(1, min(limit, MAX_HISTORY_PAGE))
        return self._service.page(HistoryRequest(room, before, after, limit))[0]

    def rooms(self, user: Identity | None = None) -> list[dict[str, Any]]:
        """The rooms and how many users each has, as the ``rooms`` event lists
        them: ``[{"name", "kind", "count"}]``; with *user*, only the rooms that
        user may join (the host's ``can_join``; direct conversations and
        private rooms only when a stored member), with the rooms they are a
        stored member of and their ``unread``, ``mentions`` and ``last_seq``,
        as that user's ``rooms`` event does."""
        self._service.ensure_ready()
        return self._service.room_list(user)

    def disconnect_user(self, user_id: str) -> int:
        """End every chat connection of *user_id* at once, in every process
        (through Flask-SocketIO's message queue): call it when a user signs out,
        is banned or loses a role, so that no open tab keeps acting as them. A
        client that connects again is who the host says it is then.

        :returns: how many connections were told to close.
        """
        return self._service.disconnect_user(user_id)

    def online(self, room: str) -> list[Identity]:
        """The users in *room* now, one entry per user (all processes, with
        Redis)."""
        return self._service.online(room)

    @property
    def connection_count(self) -> int:
        """How many chat connections this process serves."""
        self._service.ensure_ready()
        return len(self._service.connections)


def get_chat(app: Flask | None = None) -> Chat:
    """The chat of *app* (default: the current app).

    Example::

        from flask_chatroom import get_chat

        @app.get("/status")
        def status():
            chat = get_chat()
            return {"lobby": [u.name for u in chat.online("lobby")]}

    :raises RuntimeError: flask-chatroom is not registered on that app.
    """
    return Chat(get_service(app))
