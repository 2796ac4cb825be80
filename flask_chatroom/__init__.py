"""flask-chatroom: a real-time chat that drops into an existing Flask app.

::

    from flask_chatroom import register_chat
    register_chat(app, socketio)
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import ChatConfig, ConfigError
from .extension import Chatroom, register_chat
from .facade import Chat, get_chat
from .identity import Identity
from .protocol import ChatError, Message

__all__ = [
    "Chat",
    "ChatConfig",
    "ChatError",
    "Chatroom",
    "ConfigError",
    "Identity",
    "Message",
    "__version__",
    "get_chat",
    "register_chat",
]
