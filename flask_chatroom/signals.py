"""Blinker signals the chat sends, for hosts that want to react to chat activity.

Each is sent with the Flask app as the sender, inside an app context::

    from flask_chatroom import signals

    @signals.message_sent.connect_via(app)
    def log_message(app, message):
        app.logger.info("%s said %r in %s", message.client, message.text, message.room)

Receivers run in the handler that sent the signal: keep them quick, and hand slow
work to a background task. A receiver that raises is logged (with its traceback)
and what happened stands: the message stays stored and broadcast, the deletion
or mute stays done, and the user who acted gets their usual answer.
"""

from __future__ import annotations

import logging
from typing import Any

from blinker import NamedSignal, Namespace
from flask import current_app

log = logging.getLogger("flask_chatroom")

_signals = Namespace()

#: A message was accepted and broadcast: ``message=`` the
#: :class:`~flask_chatroom.Message`.
message_sent = _signals.signal("chatroom.message-sent")
#: A user's first connection entered a room: ``room=``, ``user=`` the
#: :class:`~flask_chatroom.Identity`.
user_joined = _signals.signal("chatroom.user-joined")
#: A user's last connection left a room (or disconnected): ``room=``, ``user=``.
user_left = _signals.signal("chatroom.user-left")
#: A message filter refused a message: ``message=``, ``user=``.
message_rejected = _signals.signal("chatroom.message-rejected")
#: A message was deleted, by a moderator or by its author: ``message=``,
#: ``moderator=`` (whoever deleted it).
message_deleted = _signals.signal("chatroom.message-deleted")
#: A message's text was edited (after the commit): ``message=`` as it is now,
#: ``editor=`` (its author, or a moderator).
message_edited = _signals.signal("chatroom.message-edited")
#: A moderator muted (``until`` in epoch ms) or unmuted (``until=None``) a user:
#: ``room=``, ``user_id=``, ``until=``, ``moderator=``.
user_muted = _signals.signal("chatroom.user-muted")
#: A stored message mentions users: ``message=``, ``user_ids=`` the mentioned
#: users' ids (each may read the room; never the sender). Sent once, after the
#: commit, in the process that stored it: the place to email or push to users
#: who are offline.
mentioned = _signals.signal("chatroom.mentioned")
#: A message was stored in a direct conversation: ``message=``,
#: ``recipient_ids=`` the other members' ids (not the sender). Sent once,
#: after the commit, in the process that stored it.
dm_received = _signals.signal("chatroom.dm-received")


def send(signal: NamedSignal, **kwargs: Any) -> None:
    """Send *signal* with the current app as sender. A failing receiver is
    logged and ignored: the action that sent the signal is already done."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        signal.send(app, **kwargs)
    except Exception:
        log.exception("chat: a receiver of the %s signal failed", signal.name)
