"""The wire protocol: event names, payload parsing, error codes and message shapes.

Everything a client sends is parsed here and nowhere else, and everything the
server sends about a message is shaped here. ``docs/protocol.rst`` documents the
same names; a test keeps the two in step.
"""

from __future__ import annotations

import math
import os
import re
import time
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from .formatting import render
from .names import has_visible_character, invisible_characters

# -- event names ------------------------------------------------------------------

#: Client -> server: post a message. Payload ``{"message": text}`` (or the
#: tutorial's ``{"data": text}``), optionally ``"room"`` and ``"client_id"``.
EVENT_SEND = "message broadcast"
#: Server -> room: a new message (see :meth:`Message.to_wire`).
EVENT_MESSAGE = "message receive"
#: Server -> one client: the identity the server gave this connection.
EVENT_WELCOME = "welcome"
#: Server -> one client: something the client sent was refused.
EVENT_ERROR = "chat error"
#: Client -> server: enter a room, ``{"room"}``; acked ``{"ok": true, "room"}``.
EVENT_JOIN = "join"
#: Client -> server: leave a room, ``{"room"}``; acked ``{"ok": true, "room"}``.
EVENT_LEAVE = "leave"
#: Client -> server: list rooms; acked ``{"ok": true, "rooms": [{"name", "count"}]}``.
EVENT_ROOMS = "rooms"
#: Client -> server ``{"room", "typing"}``; server -> other members
#: ``{"room", "client", "user_id", "typing"}``.
EVENT_TYPING = "typing"
#: Client -> server: pick a guest nickname, ``{"name"}``; acked ``{"ok", "name"}``.
EVENT_NICKNAME = "nickname"
#: Server -> room: who is here, ``{"room", "users", "count"}``.
EVENT_PRESENCE = "presence"
#: Client -> server: older or missed messages, ``{"room", "before"|"after", "limit"}``;
#: server -> one client on join: ``{"room", "messages", "has_more"}``.
EVENT_HISTORY = "history"
#: Client (moderator) -> server: ``{"id"}``; server -> room ``{"id", "room"}``.
EVENT_DELETE = "delete message"
EVENT_DELETED = "message deleted"
#: Client (moderator) -> server: ``{"room", "user_id", "seconds"}``.
EVENT_MUTE = "mute"
#: Server -> room: someone came or went,
#: ``{"room", "kind", "client", "user_id", "ts"}``.
EVENT_NOTICE = "notice"
#: Server -> a guest's other connections after a nickname change: ``{"client"}``.
EVENT_RENAMED = "renamed"
#: Client -> server: open a direct conversation, ``{"user_id"}`` or
#: ``{"user_ids": [...]}``; acked ``{"ok": true, "room"}``. Server -> every
#: connection of its members: ``{"room", "kind", "members", "created_by"}``.
EVENT_DM = "dm"
#: Client -> server: the user has read *room* up to ``seq``, ``{"room", "seq"}``;
#: acked ``{"ok": true, "room", "unread", "mentions", "last_seq"}``.
EVENT_READ = "read"
#: Server -> the user's other connections after ``read``:
#: ``{"room", "unread", "mentions", "last_seq"}``.
EVENT_UNREAD = "unread"
#: Client -> server: block a user, ``{"user_id"}``; acked
#: ``{"ok", "user_id", "blocked"}``.
EVENT_BLOCK = "block"
#: Client -> server: unblock a user, ``{"user_id"}``; acked like ``block``.
EVENT_UNBLOCK = "unblock"
#: Client -> server: the users the user blocks; acked ``{"ok": true, "blocked"}``.
EVENT_BLOCKS = "blocks"
#: Server -> every connection of a mentioned user, and of a DM's other members:
#: ``{"kind": "mention" | "dm", "room", "message"}`` (``message`` as in
#: ``message receive``).
EVENT_NOTIFY = "notify"
#: Client -> server: make a room, ``{"room", "title"?, "private"?}``; acked
#: ``{"ok": true, "room"}`` (only when the host's ``can_create_room`` allows it).
EVENT_CREATE_ROOM = "create room"
#: Client -> server: replace the text of a message, ``{"id", "message"}``;
#: acked ``{"ok": true, "id", "edited_ts", "change_seq"}``.
EVENT_EDIT = "edit message"
#: Server -> room: a message's text was edited, ``{"id", "room", "message",
#: "edited_ts", "change_seq", "html"?}``.
EVENT_EDITED = "message edited"
#: Client -> server: add or remove a reaction, ``{"id", "emoji", "on"}``.
EVENT_REACT = "react"
#: Server -> room: a message's reactions now, ``{"id", "room", "reactions",
#: "change_seq", "user_id", "emoji", "on"}``.
EVENT_REACTIONS = "reactions"
#: Client -> server: a room's changes after a ``change_seq``, ``{"room",
#: "since"}``; acked ``{"ok": true, "room", "changes", "change_seq", "has_more"}``.
EVENT_CHANGES = "changes"
#: Client -> server (moderators): the texts a message had before its edits,
#: ``{"id"}``; acked ``{"ok": true, "id", "edits"}``.
EVENT_EDIT_HISTORY = "edit history"
#: Client -> server: search the messages the user may read,
#: ``{"query", "room"?, "before"?, "limit"?}``; acked ``{"ok": true,
#: "results", "next"}`` (see :func:`parse_search`).
EVENT_SEARCH = "search"
#: The event that announces each kind of change to a message.
CHANGE_EVENTS = {
    "edit": EVENT_EDITED,
    "delete": EVENT_DELETED,
    "reactions": EVENT_REACTIONS,
}

# -- error codes --------------------------------------------------------------------

#: reason -> what it means, for ``attachment_refused``.
ATTACHMENT_REASONS: dict[str, str] = {
    "type_not_allowed": "The content is of a type CHATROOM_ATTACHMENT_TYPES does "
    "not list (decided from the content, never the name).",
    "content_mismatch": "The content is not what its type claims (an image "
    "Pillow reads as another format).",
    "unreadable": "An image that cannot be decoded (truncated, corrupt).",
    "too_large": "Larger than CHATROOM_ATTACHMENT_MAX_BYTES.",
    "too_many_pixels": "An image larger than CHATROOM_ATTACHMENT_MAX_PIXELS "
    "(decompression bombs).",
    "quota": "The user's uploads of the last 24 hours would pass "
    "CHATROOM_ATTACHMENT_DAILY_BYTES.",
}

#: code -> what it means; the ``message`` sent with a code is for people and may
#: change, the code is stable.
ERROR_CODES: dict[str, str] = {
    "invalid_payload": "The payload is not an object of the documented shape.",
    "empty_message": "The message has no text once whitespace is trimmed.",
    "message_too_long": "The message is longer than CHATROOM_MAX_MESSAGE_LENGTH.",
    "invalid_room": "The room name breaks the room name rule.",
    "not_in_room": "The client has not joined the room it posts to or leaves.",
    "unknown_room": "CHATROOM_ROOMS is a fixed list and the room is not on it, or "
    "the room is a direct conversation or private room the user is not a member "
    "of (or that does not exist: the two are not told apart).",
    "forbidden": "A permission hook (can_join, can_post, can_dm, can_create_room) "
    "refused the request, or a user the caller wants to message blocks them.",
    "room_exists": "The room to create exists already (configured, recorded, or "
    "with messages or people in it).",
    "login_required": "CHATROOM_REQUIRE_LOGIN is on and the user is not signed in, "
    "or a guest asked for what only signed-in users may do (dm, read markers "
    "kept in the database, block).",
    "too_many_members": "A direct conversation would have more than "
    "CHATROOM_DM_MAX_MEMBERS members.",
    "invalid_name": "The nickname breaks the nickname rule.",
    "name_taken": "The nickname looks like a signed-in user's who is here, or like "
    "a name in CHATROOM_RESERVED_NAMES.",
    "nicknames_disabled": "CHATROOM_ALLOW_NICKNAMES is off, or the user is signed in.",
    "rate_limited": "Too many requests of one kind; retry after ``retry_after`` s.",
    "too_many_rooms": "The connection is in CHATROOM_MAX_ROOMS_PER_CONNECTION rooms.",
    "too_many_connections": "The user has CHATROOM_MAX_CONNECTIONS_PER_USER open.",
    "muted": "A moderator muted the user in the room; ``retry_after`` says until.",
    "rejected": "A message filter (``message_filter``) refused the message.",
    "not_found": "No message has that id (in a room the user may read; for a "
    "reply, in the same room and not deleted).",
    "edit_window_passed": "The message is older than CHATROOM_EDIT_WINDOW: only "
    "moderators may edit or delete it now.",
    "invalid_attachment": "An attachment id is not an upload of the sender's to "
    "that room that was not sent yet (or it expired).",
    "attachment_refused": "An upload was refused: its content is of a type "
    "CHATROOM_ATTACHMENT_TYPES does not allow, it is not what its type claims, "
    "it is too large (CHATROOM_ATTACHMENT_MAX_BYTES, "
    "CHATROOM_ATTACHMENT_MAX_PIXELS) or it breaks the daily quota "
    "(CHATROOM_ATTACHMENT_DAILY_BYTES).",
    "unsupported": "The server's store cannot do this (a host's own store "
    "without search, say).",
    "unknown_event": "The server has no handler for that event.",
    "internal_error": "The server failed; the details are in its log, not here.",
}

ROOM_NAME_RULE = "1 to 64 characters, each a letter, a digit, '-' or '_'"
NICKNAME_RULE = (
    "1 to 32 characters, at least one of them visible, with no control, invisible "
    "or format characters"
)
NICKNAME_MAX = 32
_ROOM_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_\-:.]{1,64}")
# Control characters (Unicode category Cc: C0 and C1) other than tab and newline,
# plus the bidirectional embeddings, overrides and isolates that can disguise text.
_STRIP = (
    (set(range(0x00, 0x20)) - {0x09, 0x0A})
    | set(range(0x7F, 0xA0))
    | set(range(0x202A, 0x202F))
    | set(range(0x2066, 0x206A))
)
_STRIP_TABLE = dict.fromkeys(_STRIP)


class ChatError(Exception):
    """A refusal to send back to the client as ``{"code", "message"}``.

    :param code: one of :data:`ERROR_CODES`.
    :param message: a sentence for people; never internal details.
    :param retry_after: for ``rate_limited`` and ``muted``: seconds until the
        request may succeed.
    :param reason: a finer, stable code for some refusals: for
        ``attachment_refused``, one of :data:`ATTACHMENT_REASONS`.
    """

    def __init__(
        self,
        code: str,
        message: str,
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        if code not in ERROR_CODES:  # pragma: no cover - a programming error
            raise ValueError(f"undocumented error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.reason = reason

    def to_wire(self) -> dict[str, Any]:
        """The ``chat error`` payload and the ``error`` member of an error ack."""
        wire: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            # Rounded up: a client that waits exactly this long is never early.
            wire["retry_after"] = math.ceil(self.retry_after * 1000) / 1000
        if self.reason is not None:
            wire["reason"] = self.reason
        return wire


def error_ack(error: ChatError) -> dict[str, Any]:
    """The acknowledgement for a refused request."""
    return {"ok": False, "error": error.to_wire()}


def is_valid_room_name(name: str) -> bool:
    """Whether *name* follows :data:`ROOM_NAME_RULE`."""
    return _ROOM_NAME.fullmatch(name) is not None


def clean_text(text: str) -> str:
    """Normalize message text: NFC, no control characters but ``\\t`` and ``\\n``,
    ``\\r\\n`` as ``\\n``, and no leading or trailing whitespace."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text).translate(_STRIP_TABLE).strip()


def message_text(raw: str, max_length: int, empty_ok: bool = False) -> str:
    """*raw* as a message's text (:func:`clean_text`), or raise :class:`ChatError`:
    ``empty_message`` (unless *empty_ok*: a message with attachments), or
    ``message_too_long`` past *max_length* characters."""
    too_long = ChatError(
        "message_too_long", f"Messages are at most {max_length} characters."
    )
    if len(raw) > max_length * 4:  # cheap refusal before normalizing huge input
        raise too_long
    text = clean_text(raw)
    if not text and not empty_ok:
        raise ChatError("empty_message", "The message is empty.")
    if len(text) > max_length:
        raise too_long
    return text


#: The deepest nesting of arrays and objects a client's Socket.IO packet may
#: have. The chat's payloads are two deep; python's JSON decoder recurses once
#: per level and fails (``RecursionError``) near a thousand.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_nesting_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON *text* nests arrays and objects deeper than *limit*,
    found without decoding it (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= limit:  # the usual case, at C speed
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


@dataclass(frozen=True)
class SendRequest:
    """A parsed ``message broadcast`` payload."""

    text: str
    room: str | None = None
    client_id: str | None = None
    reply_to: str | None = None
    attachments: tuple[str, ...] = ()


#: The most attachments one message may carry.
MAX_ATTACHMENTS = 10


def parse_attachment_ids(value: Any) -> tuple[str, ...]:
    """A ``message broadcast``'s ``attachments``: a list of at most
    :data:`MAX_ATTACHMENTS` distinct upload ids, or raise :class:`ChatError`."""
    if (
        not isinstance(value, list)
        or len(value) > MAX_ATTACHMENTS
        or not all(isinstance(item, str) and 1 <= len(item) <= 64 for item in value)
        or len(set(value)) != len(value)
    ):
        raise ChatError(
            "invalid_payload",
            f'"attachments" must be a list of at most {MAX_ATTACHMENTS} different '
            "upload ids.",
        )
    return tuple(value)


def parse_send(payload: Any, max_length: int) -> SendRequest:
    """Parse a ``message broadcast`` payload, or raise :class:`ChatError`.

    Accepts ``{"message": text}`` and the tutorial's ``{"data": text}``, with
    optional ``"room"`` and ``"client_id"``. Any field that claims a sender name or
    id is ignored: the server decides who is speaking.
    """
    if not isinstance(payload, dict):
        raise ChatError(
            "invalid_payload", 'Send an object such as {"message": "hello"}.'
        )
    attachments = payload.get("attachments")
    attachments = () if attachments is None else parse_attachment_ids(attachments)
    raw = payload.get("message", payload.get("data"))
    if raw is None and attachments:
        raw = ""
    if raw is None:
        raise ChatError("invalid_payload", 'The payload needs a "message" string.')
    if not isinstance(raw, str):
        raise ChatError("invalid_payload", '"message" must be a string.')
    # A message with attachments may have no text.
    text = message_text(raw, max_length, empty_ok=bool(attachments))

    room = payload.get("room")
    if room is not None and (not isinstance(room, str) or not is_valid_room_name(room)):
        raise ChatError("invalid_room", f"A room name is {ROOM_NAME_RULE}.")
    client_id = payload.get("client_id")
    if client_id is not None and (
        not isinstance(client_id, str) or _CLIENT_ID.fullmatch(client_id) is None
    ):
        raise ChatError(
            "invalid_payload",
            '"client_id" must be 1 to 64 letters, digits or "-_:." characters.',
        )
    reply_to = payload.get("reply_to")
    if reply_to is not None:
        reply_to = _message_id(reply_to, "reply_to")
    return SendRequest(
        text=text,
        room=room,
        client_id=client_id,
        reply_to=reply_to,
        attachments=attachments,
    )


def _object(payload: Any, example: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ChatError("invalid_payload", f"Send an object such as {example}.")
    return payload


def parse_room(payload: Any) -> str:
    """Parse a ``join`` / ``leave`` payload ``{"room": name}`` into the room name."""
    room = _object(payload, '{"room": "lobby"}').get("room")
    if not isinstance(room, str) or not is_valid_room_name(room):
        raise ChatError("invalid_room", f"A room name is {ROOM_NAME_RULE}.")
    return room


def parse_typing(payload: Any, default_room: str) -> tuple[str, bool]:
    """Parse a ``typing`` payload ``{"room", "typing": bool}``."""
    data = _object(payload, '{"room": "lobby", "typing": true}')
    typing = data.get("typing")
    if not isinstance(typing, bool):
        raise ChatError("invalid_payload", '"typing" must be true or false.')
    room = data.get("room", default_room)
    if not isinstance(room, str) or not is_valid_room_name(room):
        raise ChatError("invalid_room", f"A room name is {ROOM_NAME_RULE}.")
    return room, typing


def parse_nickname(payload: Any) -> str:
    """Parse a ``nickname`` payload ``{"name"}``: NFC, trimmed, 1-32 characters
    with at least one visible one, and no control characters, line breaks,
    bidirectional overrides, default-ignorable code points or format (Cf)
    characters (they are refused, not removed; :mod:`~flask_chatroom.names`)."""
    name = _object(payload, '{"name": "Ada"}').get("name")
    if not isinstance(name, str):
        raise ChatError("invalid_name", f"A nickname is {NICKNAME_RULE}.")
    name = unicodedata.normalize("NFC", name).strip()
    if (
        not name
        or len(name) > NICKNAME_MAX
        or any(
            ord(ch) in _STRIP
            or ch in "\t\n"
            or unicodedata.category(ch) in ("Zl", "Zp")
            for ch in name
        )
    ):
        raise ChatError("invalid_name", f"A nickname is {NICKNAME_RULE}.")
    invisible = invisible_characters(name)
    if invisible:
        raise ChatError(
            "invalid_name",
            f"A nickname cannot hold invisible or format characters "
            f"(it has U+{ord(invisible[0]):04X}).",
        )
    if not has_visible_character(name):
        raise ChatError("invalid_name", "A nickname needs a visible character.")
    return name


@dataclass(frozen=True)
class HistoryRequest:
    """A parsed ``history`` request."""

    room: str
    before: int | None
    after: int | None
    limit: int


#: The largest ``seq`` a client may name (JavaScript's largest safe integer).
MAX_SEQ = 2**53 - 1


def is_seq(value: Any) -> bool:
    """Whether *value* is a sequence number a client may name: an integer (not a
    bool) from 0 to :data:`MAX_SEQ`."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEQ
    )


def _seq_field(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not is_seq(value):
        raise ChatError("invalid_payload", f'"{name}" must be a sequence number.')
    return int(value)


def parse_auth_since(auth: Any, room: str) -> int | None:
    """The last ``seq`` of *room* a reconnecting client saw, from its Socket.IO
    ``auth`` ``{"since": {room: seq}}``; ``None`` when absent or malformed (the
    client then gets the room's recent history, as a new one does)."""
    since = auth.get("since") if isinstance(auth, dict) else None
    seq: Any = since.get(room) if isinstance(since, dict) else None
    return int(seq) if is_seq(seq) else None


def parse_auth_changes(auth: Any, room: str) -> int | None:
    """The last ``change_seq`` of *room* a reconnecting client applied, from its
    Socket.IO ``auth`` ``{"changes_since": {room: change_seq}}``; ``None`` when
    absent or malformed (the client then gets no changes, only the room's
    ``change_seq``)."""
    since = auth.get("changes_since") if isinstance(auth, dict) else None
    seq: Any = since.get(room) if isinstance(since, dict) else None
    return int(seq) if is_seq(seq) else None


def parse_auth_token(auth: Any) -> str | None:
    """The guest token a reconnecting guest sends back in its Socket.IO ``auth``
    ``{"guest_token"}``; ``None`` when absent or not a plausible token (the
    service checks its signature)."""
    token = auth.get("guest_token") if isinstance(auth, dict) else None
    return token if isinstance(token, str) and 0 < len(token) <= 512 else None


_DIGITS = re.compile(r"[0-9]{1,16}")


def _query_number(args: Mapping[str, str], name: str) -> int | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    number = int(value) if _DIGITS.fullmatch(value) else -1
    if not 0 <= number <= MAX_SEQ:
        raise ChatError(
            "invalid_payload", f"{name} must be a whole number from 0 to {MAX_SEQ}."
        )
    return number


def parse_history_query(
    room: str, args: Mapping[str, str], default_limit: int, max_limit: int
) -> HistoryRequest:
    """Parse the query arguments of ``GET .../rooms/<room>/messages``:
    ``before`` or ``after`` (sequence numbers) and ``limit`` (clamped to 1 ..
    *max_limit*; empty or 0 means *default_limit*).

    :raises ChatError: ``invalid_payload``, for any malformed argument (the
        HTTP API answers 400). The room is the service's to check.
    """
    before, after = _query_number(args, "before"), _query_number(args, "after")
    if before is not None and after is not None:
        raise ChatError("invalid_payload", "Give before or after, not both.")
    limit = _query_number(args, "limit") or default_limit
    return HistoryRequest(room, before, after, max(1, min(limit, max_limit)))


def parse_change_query(args: Mapping[str, str]) -> int:
    """The ``since`` query argument of ``GET .../rooms/<room>/changes`` (a
    ``change_seq``; 0 when absent)."""
    return _query_number(args, "since") or 0


def parse_join(payload: Any) -> tuple[str, int | None, int | None]:
    """Parse a ``join`` payload ``{"room", "since"?, "changes_since"?}``."""
    room = parse_room(payload)
    return room, _seq_field(payload, "since"), _seq_field(payload, "changes_since")


def parse_changes(payload: Any) -> tuple[str, int]:
    """Parse a ``changes`` request ``{"room", "since"}``."""
    room = parse_room(payload)
    since = _seq_field(payload, "since")
    if since is None:
        raise ChatError("invalid_payload", '"since" must be a change_seq.')
    return room, since


def parse_history(payload: Any, max_limit: int) -> HistoryRequest:
    """Parse a ``history`` request ``{"room", "before"?, "after"?, "limit"?}``."""
    room = parse_room(payload)
    before, after = _seq_field(payload, "before"), _seq_field(payload, "after")
    if before is not None and after is not None:
        raise ChatError("invalid_payload", 'Give "before" or "after", not both.')
    limit = payload.get("limit", max_limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ChatError("invalid_payload", '"limit" must be a whole number from 1.')
    return HistoryRequest(room, before, after, min(limit, max_limit))


@dataclass(frozen=True)
class SearchRequest:
    """A parsed ``search`` request (the event, or ``GET /chat/api/search``).

    :param query: the search text, filters (``from:``, ``in:``, ``after:``,
        ``before:``) and all, as :func:`flask_chatroom.search.parse_query`
        reads it.
    :param room: only this room (as ``in:`` does).
    :param before: the ``next`` cursor of the page before, for the next one.
    :param limit: how many results at most.
    """

    query: str
    room: str | None = None
    before: str | None = None
    limit: int = 20


#: The longest search text, in characters.
SEARCH_QUERY_MAX = 200
#: The most results one search page has.
SEARCH_LIMIT_MAX = 50
_CURSOR = re.compile(r"[0-9A-Za-z_:.\-]{1,64}")


def _search_request(data: Mapping[str, Any], limit: Any) -> SearchRequest:
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ChatError("invalid_payload", '"query" must be a search text.')
    if len(query) > SEARCH_QUERY_MAX:
        raise ChatError(
            "invalid_payload", f"A search is at most {SEARCH_QUERY_MAX} characters."
        )
    room = data.get("room")
    if room is not None and (not isinstance(room, str) or not is_valid_room_name(room)):
        raise ChatError("invalid_room", f"A room name is {ROOM_NAME_RULE}.")
    before = data.get("before")
    if before is not None and (
        not isinstance(before, str) or _CURSOR.fullmatch(before) is None
    ):
        raise ChatError(
            "invalid_payload", '"before" must be the "next" of an earlier page.'
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ChatError("invalid_payload", '"limit" must be a whole number from 1.')
    return SearchRequest(clean_text(query), room, before, min(limit, SEARCH_LIMIT_MAX))


def parse_search(payload: Any) -> SearchRequest:
    """Parse a ``search`` payload ``{"query", "room"?, "before"?, "limit"?}``."""
    data = _object(payload, '{"query": "words"}')
    return _search_request(data, data.get("limit", 20))


def parse_search_query(args: Mapping[str, str]) -> SearchRequest:
    """Parse ``GET /chat/api/search``'s ``q``, ``room``, ``before`` and ``limit``."""
    limit = _query_number(args, "limit")
    data = {
        "query": args.get("q"),
        "room": args.get("room"),
        "before": args.get("before"),
    }
    return _search_request(data, 20 if limit is None else limit)


def _message_id(value: Any, name: str = "id") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ChatError("invalid_payload", f'"{name}" must be a message id.')
    return value


def parse_message_id(payload: Any) -> str:
    """Parse a ``delete message`` or ``edit history`` payload ``{"id"}``."""
    return _message_id(_object(payload, '{"id": "..."}').get("id"))


def parse_edit(payload: Any, max_length: int) -> tuple[str, str]:
    """Parse an ``edit message`` payload ``{"id", "message"}``: the id and the
    new text, normalized as a new message's is."""
    data = _object(payload, '{"id": "...", "message": "..."}')
    message_id = _message_id(data.get("id"))
    raw = data.get("message")
    if not isinstance(raw, str):
        raise ChatError("invalid_payload", '"message" must be a string.')
    return message_id, message_text(raw, max_length)


#: The longest emoji a reaction may name, in characters.
EMOJI_MAX = 16


def parse_react(payload: Any) -> tuple[str, str, bool]:
    """Parse a ``react`` payload ``{"id", "emoji", "on"?}`` (``on`` defaults to
    true). Whether the emoji is one the chat offers is the service's to check."""
    data = _object(payload, '{"id": "...", "emoji": "...", "on": true}')
    message_id = _message_id(data.get("id"))
    emoji = data.get("emoji")
    if not isinstance(emoji, str) or not 1 <= len(emoji) <= EMOJI_MAX:
        raise ChatError("invalid_payload", '"emoji" must be one of the offered emoji.')
    on = data.get("on", True)
    if not isinstance(on, bool):
        raise ChatError("invalid_payload", '"on" must be true or false.')
    return message_id, emoji, on


#: The longest user id a client may name (``dm``, ``block``, ``mute``).
USER_ID_MAX = 255


def _user_id(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= USER_ID_MAX:
        raise ChatError(
            "invalid_payload",
            f'"{field_name}" must be a user id of 1 to 255 characters.',
        )
    return value


def parse_user(payload: Any) -> str:
    """Parse a ``block`` / ``unblock`` payload ``{"user_id"}``."""
    return _user_id(_object(payload, '{"user_id": "ada"}').get("user_id"), "user_id")


def parse_dm(payload: Any, max_members: int) -> list[str]:
    """Parse a ``dm`` payload ``{"user_id"}`` or ``{"user_ids": [...]}``: the ids
    of the other users, distinct, in the order given (at most *max_members*
    ids however many repeats; the service checks the size with the caller)."""
    data = _object(payload, '{"user_id": "ada"}')
    one, many = data.get("user_id"), data.get("user_ids")
    if (one is None) == (many is None):
        raise ChatError("invalid_payload", 'Give "user_id" or "user_ids", not both.')
    if one is not None:
        return [_user_id(one, "user_id")]
    if not isinstance(many, list) or not many:
        raise ChatError("invalid_payload", '"user_ids" must be a non-empty list.')
    if len(many) > max_members * 2:
        raise ChatError(
            "too_many_members", f"A conversation has at most {max_members} members."
        )
    return list(dict.fromkeys(_user_id(user, "user_ids") for user in many))


#: The longest room title ``create room`` takes.
TITLE_MAX = 80


def parse_create_room(payload: Any) -> tuple[str, str | None, bool]:
    """Parse a ``create room`` payload ``{"room", "title"?, "private"?}``: the
    room name (not one starting with ``dm-``), its title (NFC, trimmed, 1 to
    80 characters without control or format characters; ``None`` when absent
    or blank) and whether it is private (``false`` when absent)."""
    room = parse_room(payload)
    if room.startswith("dm-"):
        raise ChatError("invalid_room", "Room names starting with 'dm-' are for DMs.")
    private = payload.get("private", False)
    if not isinstance(private, bool):
        raise ChatError("invalid_payload", '"private" must be true or false.')
    raw = payload.get("title")
    if raw is None:
        return room, None, private
    if not isinstance(raw, str) or len(raw) > TITLE_MAX * 4:
        raise ChatError("invalid_payload", f'"title" must be {TITLE_MAX} characters.')
    title = unicodedata.normalize("NFC", raw).strip()
    if len(title) > TITLE_MAX or any(
        ord(ch) in _STRIP or ch in "\t\n" or unicodedata.category(ch) in ("Zl", "Zp")
        for ch in title
    ):
        raise ChatError(
            "invalid_payload",
            f'"title" must be up to {TITLE_MAX} characters on one line.',
        )
    if invisible_characters(title):
        raise ChatError("invalid_payload", '"title" cannot hold format characters.')
    return room, title or None, private


#: The most users one message may mention; later names are not resolved.
MAX_MENTIONS = 20
#: The most ``@`` signs of one message that are looked at, however many it has.
MAX_MENTION_SCAN = 200


def _word_character(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def find_mentions(
    text: str, names: Mapping[str, Collection[str]], limit: int = MAX_MENTIONS
) -> list[str]:
    """The ids *text* mentions as ``@Name``, in the order first named.

    :param names: each candidate's display name, lower-cased -> the ids with
        that name (two users may share one).

    A mention is an ``@`` at the start or after a character that is no letter,
    digit or ``_``, followed by a name, compared case-insensitively, and then
    by the end or such a character; the longest name that fits wins, so names
    with spaces (``@Ada Lovelace``) work. At most *limit* ids, from the first
    :data:`MAX_MENTION_SCAN` ``@`` signs: the cost is bounded whatever the text.
    """
    if "@" not in text or not names:
        return []
    by_length: dict[int, dict[str, Collection[str]]] = {}
    for name, ids in names.items():
        if name and ids:
            by_length.setdefault(len(name), {})[name] = ids
    lengths = sorted(by_length, reverse=True)
    found: dict[str, None] = {}
    start = 0
    for _ in range(MAX_MENTION_SCAN):
        at = text.find("@", start)
        if at < 0:
            break
        start = at + 1
        if at > 0 and _word_character(text[at - 1]):
            continue
        for length in lengths:
            end = start + length
            if end > len(text) or (end < len(text) and _word_character(text[end])):
                continue
            named = by_length[length].get(text[start:end].lower())
            if named:
                for user_id in sorted(named):
                    found.setdefault(user_id)
                start = end
                break
        if len(found) >= limit:
            break
    return list(found)[:limit]


def parse_read(payload: Any) -> tuple[str, int]:
    """Parse a ``read`` payload ``{"room", "seq"}``."""
    room = parse_room(payload)
    seq = _seq_field(payload, "seq")
    if seq is None:
        raise ChatError("invalid_payload", '"seq" must be a sequence number.')
    return room, seq


MAX_MUTE_SECONDS = 7 * 24 * 3600


def parse_mute(payload: Any) -> tuple[str, str, int]:
    """Parse a ``mute`` payload ``{"room", "user_id", "seconds"}`` (0 unmutes)."""
    room = parse_room(payload)
    user = payload.get("user_id")
    if not isinstance(user, str) or not 1 <= len(user) <= 255:
        raise ChatError("invalid_payload", '"user_id" must be a user id from presence.')
    seconds = payload.get("seconds", 600)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not 0 <= seconds <= MAX_MUTE_SECONDS
    ):
        raise ChatError(
            "invalid_payload", f'"seconds" must be 0 to {MAX_MUTE_SECONDS}.'
        )
    return room, user, seconds


class SharedPayload(dict[str, Any]):
    """An event payload sent, unchanged, to many connections one after another
    (a room's recent history, sent to everyone who joins). The WebSocket fast
    path (:mod:`flask_chatroom.websocket`) encodes it once and keeps the
    encoding, so it must not be changed once it has been emitted."""


#: The ``sender_id`` of a message the host's code posted under a plain name
#: (``Chat.send(room, text, sender="Deploy bot")``). Guests' ids are
#: ``guest:<hex>`` and a signed-in user's message carries a ``user_id``, so no user
#: can post as the server.
SYSTEM_SENDER_ID = "system"


def now_ms() -> int:
    """The current time in epoch milliseconds, as ``ts`` fields carry it."""
    return time.time_ns() // 1_000_000


#: The most reactors' ids one reaction lists on the wire (its ``count`` is
#: the whole number): a reaction's broadcast stays small in a crowd.
REACTION_USERS_SHOWN = 50


@dataclass(frozen=True)
class Reaction:
    """One emoji's reactions to a message.

    :param emoji: the emoji.
    :param count: how many users reacted with it.
    :param user_ids: who did, sorted.
    """

    emoji: str
    count: int
    user_ids: tuple[str, ...] = ()

    def to_wire(self, viewer: str | None = None) -> dict[str, Any]:
        """``{"emoji", "count", "user_ids"}`` (the first
        :data:`~flask_chatroom.protocol.REACTION_USERS_SHOWN` ids), and
        ``"me": true`` when *viewer* (a user id) is one of them."""
        wire: dict[str, Any] = {
            "emoji": self.emoji,
            "count": self.count,
            "user_ids": list(self.user_ids[:REACTION_USERS_SHOWN]),
        }
        if viewer is not None and viewer in self.user_ids:
            wire["me"] = True
        return wire


#: How long a reply's excerpt of the message it answers is, at most.
EXCERPT_LENGTH = 120


def excerpt(text: str, length: int = EXCERPT_LENGTH) -> str:
    """*text* with its whitespace collapsed, cut to *length* characters (ending
    in ``…`` when cut): what a reply quotes of the message it answers."""
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"


@dataclass(frozen=True)
class Reply:
    """The message a reply answers, as the reply shows it.

    :param id: its id.
    :param client: its sender's name.
    :param excerpt: the start of its text (see :func:`excerpt`), as the server
        read it; empty when it is deleted.
    :param deleted: it was deleted.
    """

    id: str
    client: str = ""
    excerpt: str = ""
    deleted: bool = False

    def to_wire(self) -> dict[str, Any]:
        """``{"id", "client", "excerpt"}``, or ``{"id", "deleted": true}``."""
        if self.deleted:
            return {"id": self.id, "deleted": True}
        return {"id": self.id, "client": self.client, "excerpt": self.excerpt}


@dataclass(frozen=True)
class Attachment:
    """A file a message carries, as clients see it.

    :param id: the upload's id.
    :param name: its file name (as uploaded, cleaned of path parts and
        control characters).
    :param size: its size in bytes, as stored (after an image's re-encoding).
    :param type: its MIME type, decided from its content.
    :param url: where users who may read the room fetch it (fixed when it is
        uploaded, under ``CHATROOM_URL_PREFIX``).
    :param width: an image's width in pixels.
    :param height: an image's height in pixels.
    :param thumbnail_url: an image's small version, when it has one.
    """

    id: str
    name: str
    size: int
    type: str
    url: str
    width: int | None = None
    height: int | None = None
    thumbnail_url: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """``{"id", "name", "size", "type", "url"}``, and ``"width"``,
        ``"height"`` and ``"thumbnail_url"`` when there are some."""
        wire: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "type": self.type,
            "url": self.url,
        }
        if self.width is not None:
            wire["width"] = self.width
            wire["height"] = self.height
        if self.thumbnail_url is not None:
            wire["thumbnail_url"] = self.thumbnail_url
        return wire

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Attachment:
        """The attachment :meth:`to_wire` described (as stores keep it)."""
        return cls(
            id=data["id"],
            name=data["name"],
            size=data["size"],
            type=data["type"],
            url=data["url"],
            width=data.get("width"),
            height=data.get("height"),
            thumbnail_url=data.get("thumbnail_url"),
        )


@dataclass(frozen=True)
class Message:
    """One chat message as the server decided it.

    :param room: the room it was posted in.
    :param client: the sender's display name.
    :param text: the normalized text (empty once deleted).
    :param user_id: the host's id of the sender; ``None`` for guests.
    :param client_id: the sender's own id for the message, for idempotent retries.
    :param sender_id: who sent it, for idempotency (a host id or a guest id).
    :param seq: the per-room sequence number, given when the store commits it.
    :param deleted: a moderator removed it.
    :param id: a unique id.
    :param ts: when the server accepted it, in epoch milliseconds.
    :param mentions: the ids of the users it mentions. A store keeps them
        distinct and sorted, and a deleted message mentions nobody.
    :param edited_ts: when its text was last edited (epoch ms); ``None`` if never.
    :param reactions: its current reactions, by emoji (a deleted message has none).
    :param reply_to: the id of the message (in the same room) it answers.
    :param reply: that message as the reply shows it (a store fills it in).
    :param change_seq: the room's ``change_seq`` of its latest change (edit,
        deletion, reaction); ``None`` if it never changed.
    :param attachments: the files it carries (none once it is deleted).
    """

    room: str
    client: str
    text: str
    user_id: str | None = None
    client_id: str | None = None
    sender_id: str = ""
    seq: int | None = None
    deleted: bool = False
    id: str = field(default_factory=lambda: os.urandom(16).hex())
    ts: int = field(default_factory=now_ms)
    mentions: tuple[str, ...] = ()
    edited_ts: int | None = None
    reactions: tuple[Reaction, ...] = ()
    reply_to: str | None = None
    reply: Reply | None = None
    change_seq: int | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def system(self) -> bool:
        """Whether the host's code posted it under a plain name (not a user):
        ``sender_id`` is :data:`SYSTEM_SENDER_ID` and there is no ``user_id``.
        Derived from what every store keeps, so history says it too."""
        return self.sender_id == SYSTEM_SENDER_ID and self.user_id is None

    def to_wire(self, viewer: str | None = None) -> dict[str, Any]:
        """The ``message receive`` payload (and each message in ``history``).

        ``client`` and ``message`` are the tutorial's fields; ``id``, ``room``,
        ``seq`` and ``ts`` (epoch milliseconds) are always present too;
        ``"system": true`` marks a message from the server (``system``);
        ``mentions``, the mentioned users' ids, is there when there are some;
        ``html``, the text's rendering (:func:`~flask_chatroom.formatting.render`),
        when it has markup; ``edited_ts``, ``reactions`` (with ``"me": true``
        on those of *viewer*, a user id, for an answer made for one user),
        ``reply_to``, ``change_seq`` and ``attachments`` when there are some.
        """
        wire: dict[str, Any] = {
            "id": self.id,
            "room": self.room,
            "seq": self.seq,
            "client": self.client,
            "user_id": self.user_id,
            "message": self.text,
            "ts": self.ts,
        }
        if self.client_id is not None:
            wire["client_id"] = self.client_id
        if self.deleted:
            wire["deleted"] = True
        if self.system:
            wire["system"] = True
        if self.mentions:
            wire["mentions"] = list(self.mentions)
        if self.text:
            html = render(self.text)
            if html is not None:
                wire["html"] = html
        if self.edited_ts is not None:
            wire["edited_ts"] = self.edited_ts
        if self.reactions:
            wire["reactions"] = [r.to_wire(viewer) for r in self.reactions]
        if self.reply is not None:
            wire["reply_to"] = self.reply.to_wire()
        elif self.reply_to is not None:
            wire["reply_to"] = {"id": self.reply_to}
        if self.change_seq is not None:
            wire["change_seq"] = self.change_seq
        if self.attachments:
            wire["attachments"] = [a.to_wire() for a in self.attachments]
        return wire

    def ack(self) -> dict[str, Any]:
        """The sender's acknowledgement once the message is committed."""
        return {"ok": True, "id": self.id, "seq": self.seq, "ts": self.ts}


def reply_of(message_id: str, client: str, text: str, deleted: bool) -> Reply:
    """How a reply shows the message *message_id* it answers (sent by
    *client*, with *text*, or *deleted*)."""
    if deleted:
        return Reply(message_id, deleted=True)
    return Reply(message_id, client, excerpt(text))


def search_wire(
    message: Message, ranges: list[tuple[int, int]], viewer: str | None = None
) -> dict[str, Any]:
    """A search result: the message as history shows it, with
    ``"highlights"``, where the search's words matched in its ``message`` as
    ``[start, end)`` offsets in Unicode code points (not UTF-16 units)."""
    wire = message.to_wire(viewer)
    wire["highlights"] = [[start, end] for start, end in ranges]
    return wire


def edit_wire(edit: Any) -> dict[str, Any]:
    """An entry of an edit history (an
    :class:`~flask_chatroom.backends.interfaces.Edit`) as clients get it:
    ``{"n", "message", "ts", "editor_id"}``."""
    return {
        "n": edit.n,
        "message": edit.text,
        "ts": edit.ts,
        "editor_id": edit.editor_id,
    }
