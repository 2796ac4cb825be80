"""The example host app with 1,024 signed-in users, each a member of 20 rooms
and 5 direct conversations, for the ``rooms`` part of ``benchmarks/run.py``.

    python benchmarks/conversations_app.py seed DATABASE_URL COOKIES_FILE
    gunicorn -k gevent -w 1 "benchmarks.conversations_app:create_app()"

``seed`` fills the chat's database (the environment's
``FLASK_CHATROOM_DATABASE_URL`` when serving): 100 public rooms with 20
messages each, user ``i`` a stored member of rooms ``i % 100`` to
``i % 100 + 19``; direct conversations between ``i`` and ``i ^ 1``, ``i ^ 2``,
``i ^ 4``, ``i ^ 8`` and ``i ^ 16`` (so five each), with 3 messages each; and
some read markers, so unread counts are not all zero. It writes one session
cookie per user to COOKIES_FILE (a ``Cookie`` header value a line), signed with
the app's secret key as Flask-Login's ``login_user`` would leave it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Flask

from examples.hostapp import app as host
from flask_chatroom.backends.select import conversations_of
from flask_chatroom.protocol import Message

USERS = 1024
ROOMS = 100
ROOMS_EACH = 20
MESSAGES_PER_ROOM = 20
MESSAGES_PER_DM = 3


def user_id(i: int) -> str:
    return f"u{i:04d}"


host.USERS.update(
    {user_id(i): host.User(user_id(i), f"User {i:04d}") for i in range(USERS)}
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The example app, knowing the benchmark's users."""
    return host.create_app(config)


def seed(database_url: str, cookies_file: str) -> None:
    app = create_app({"CHATROOM_DATABASE_URL": database_url})
    service = app.extensions["chatroom"]
    store = service.store
    store.init_schema()
    conversations = conversations_of(store)
    rooms = [f"room-{n:02d}" for n in range(ROOMS)]
    for room in rooms:
        conversations.create_room(room, "public")
        store.add_many(
            [
                Message(
                    room=room,
                    client="User 0000",
                    text=f"hello {k}",
                    user_id=user_id(0),
                    sender_id=user_id(0),
                )
                for k in range(MESSAGES_PER_ROOM)
            ]
        )
    for i in range(USERS):
        for k in range(ROOMS_EACH):
            conversations.add_member(rooms[(i + k) % ROOMS], user_id(i))
        conversations.mark_read(user_id(i), rooms[i % ROOMS], MESSAGES_PER_ROOM // 2)
    for i in range(USERS):
        for bit in (1, 2, 4, 8, 16):
            j = i ^ bit
            if j < i:
                continue
            room = conversations.dm_room([user_id(i), user_id(j)])
            store.add_many(
                [
                    Message(
                        room=room,
                        client=f"User {i:04d}",
                        text=f"hi {k}",
                        user_id=user_id(i),
                        sender_id=user_id(i),
                    )
                    for k in range(MESSAGES_PER_DM)
                ]
            )
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie = app.config.get("SESSION_COOKIE_NAME", "session")
    with open(cookies_file, "w") as out:
        for i in range(USERS):
            value = serializer.dumps({"_user_id": user_id(i), "_fresh": True})
            out.write(f"{cookie}={value}\n")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "seed":
        raise SystemExit(__doc__)
    os.environ.setdefault("FLASK_SECRET_KEY", "bench")
    seed(sys.argv[2], sys.argv[3])
