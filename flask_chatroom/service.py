"""The chat service: every user action with every check, once.

Each door a user has (the Socket.IO namespace, the HTTP API, the host's own
code through :class:`~flask_chatroom.facade.Chat`) parses its input with
:mod:`~flask_chatroom.protocol` and calls a method here; identity, permissions,
limits and filters are decided here and nowhere else. A message reads straight
through :meth:`ChatService.post`: who is speaking, may they post, limits, the
filter hooks, store, broadcast, ack.

One :class:`ChatService` per app lives in ``app.extensions["chatroom"]``; it is
internal (hosts use :func:`~flask_chatroom.get_chat`).
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from flask import Flask, current_app, has_request_context, request

from . import signals
from .backends.interfaces import (
    DM_PREFIX,
    AttachmentClaimError,
    Conversations,
    Edit,
    MessageChange,
    MessageStore,
    RoomInfo,
    Upload,
)
from .backends.select import (
    Backends,
    conversations_of,
    make_file_storage,
    uploads_of,
)
from .config import ChatConfig, ConfigError
from .core.announcer import Announcer
from .core.attachments import AttachmentKeeper, UrlsFor
from .core.connections import Connections
from .core.moderation import PROCESS_ACTIONS, Moderation
from .core.publisher import Publisher
from .core.readstate import ReadState
from .core.rooms import RecentHistory, RoomLocks, Rooms, changes_page
from .core.runtime import Realtime
from .identity import (
    ENVIRON_KEY,
    GuestTokens,
    Identity,
    guest_from_session,
    new_guest,
)
from .names import look_alike
from .policy import Policy
from .protocol import (
    EVENT_DM,
    EVENT_NOTIFY,
    EVENT_RENAMED,
    EVENT_TYPING,
    EVENT_UNREAD,
    EVENT_WELCOME,
    MAX_ATTACHMENTS,
    SYSTEM_SENDER_ID,
    Attachment,
    ChatError,
    HistoryRequest,
    Message,
    Reaction,
    SearchRequest,
    SendRequest,
    find_mentions,
    is_valid_room_name,
    message_text,
    now_ms,
    reply_of,
)
from .search import highlights, parse_query
from .uploads import UploadRefused, check_upload, libmagic

log = logging.getLogger("flask_chatroom")

#: The most messages one ``history`` request (event or HTTP) returns.
MAX_HISTORY_PAGE = 200

#: How long the service remembers that a room has no recorded kind (a public
#: room), in seconds: the message path asks the store at most this often per
#: room. A recorded kind never changes, so it is remembered for good.
ROOM_KIND_TTL = 5.0

#: The kinds of room only their stored members may see, join, read and post in.
MEMBERS_ONLY = frozenset({"dm", "private"})

#: A day in epoch milliseconds (the attachment quota's period).
DAY_MS = 24 * 3600 * 1000

# Whether this process's heap was frozen (CHATROOM_FREEZE_HEAP): once per process.
_heap_frozen = False


class ChatService:
    """One app's chat.

    :param config: the validated ``CHATROOM_*`` configuration.
    :param store: where messages are kept.
    :param policy: the host's hooks.
    :param realtime: the Socket.IO server under the chat.
    :param setup: finishes the parts of setup that need the host's ``SocketIO``
        to be set up, and returns the backends; run once, by :meth:`ensure_ready`.
    """

    connections: Connections
    moderation: Moderation
    announcer: Announcer
    rooms: Rooms
    publisher: Publisher
    backends: Backends
    read_state: ReadState | None

    def __init__(
        self,
        config: ChatConfig,
        store: MessageStore,
        policy: Policy,
        realtime: Realtime,
        setup: Callable[[], Backends],
    ) -> None:
        self.config = config
        self.store = store
        self.policy = policy
        self.realtime = realtime
        self.guest_tokens = GuestTokens(config.guest_ttl)
        self._setup: Callable[[], Backends] | None = setup
        # Rooms with a kind, DMs, members, read markers and blocks live beside
        # the chat's own stores; a host's own MessageStore has none of them.
        self.conversations: Conversations | None
        try:
            self.conversations = conversations_of(store)
        except ConfigError:
            self.conversations = None
        # room -> (its recorded kind or None, until when a None holds)
        self._kinds: dict[str, tuple[str | None, float]] = {}
        self._kinds_lock = threading.Lock()
        # Uploaded files, beside the chat's own stores (a host's own
        # MessageStore has none: attachments are then off).
        uploads = uploads_of(store)
        self.attachments: AttachmentKeeper | None = (
            None
            if uploads is None
            else AttachmentKeeper(uploads, make_file_storage(config, store))
        )

    # -- wiring ---------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether :meth:`ensure_ready` has run."""
        return self._setup is None

    def ensure_ready(self) -> None:
        """Finish setup (once): pick the backends and wire the core to them.

        ``init_app`` runs it when the host's ``SocketIO`` is already set up;
        otherwise the app's first request or chat connection does, because
        ``SocketIO.init_app`` may still bring a message queue that decides the
        backends.
        """
        setup = self._setup
        if setup is None:
            return
        backends = setup()
        config, realtime = self.config, self.realtime
        self.backends = backends
        self.connections = Connections(realtime, config.max_connections_per_user)
        limits = config.rate_limits
        self.moderation = Moderation(
            backends.limiter,
            backends.userdata,
            realtime,
            config.rate_limit_disconnect,
            {action: limits[action] for action in PROCESS_ACTIONS if action in limits},
        )
        self.announcer = Announcer(
            backends.presence, realtime, config.presence_expiry / 3
        )
        locks = RoomLocks()
        recent = RecentHistory(self.store, realtime, config.history_limit)
        self.rooms = Rooms(
            self.store, backends.presence, realtime, self.announcer, locks, recent
        )
        self.publisher = Publisher(self.store, realtime, locks, recent)
        self.read_state = (
            ReadState(self.conversations, realtime, guest_ttl=config.guest_ttl)
            if self.conversations is not None
            else None
        )
        self._setup = None

    # -- who is speaking ------------------------------------------------------------

    def identify(self) -> Identity | None:
        """The signed-in user of the current request, or ``None``."""
        return self.policy.identify(self.config.user_name_attribute)

    def guest(self, token: Any = None) -> Identity:
        """The current visitor as a guest, with the nickname they picked, if any.

        The guest comes from the Flask session; else from the connection (every
        namespace session of one Engine.IO connection is the same guest); else
        from a signed guest *token* (see :class:`~flask_chatroom.identity.GuestTokens`);
        else a new one, kept for the rest of the connection.
        """
        guest = self._base_guest(token)
        nickname = self.backends.userdata.nickname(guest.id)
        return replace(guest, name=nickname) if nickname else guest

    def _base_guest(self, token: Any = None) -> Identity:
        prefix = self.config.guest_prefix
        environ: dict[str, Any] = request.environ if has_request_context() else {}
        guest: Identity | None = guest_from_session(prefix, create=False)
        if guest is None:
            guest = environ.get(ENVIRON_KEY)
        if guest is None and token is not None:
            guest = self.guest_tokens.read(token)
        if guest is None:
            guest = new_guest(prefix)
        environ[ENVIRON_KEY] = guest
        return guest

    def current_user(self, token: Any = None) -> Identity:
        """Who the current request speaks as: the signed-in user, else a guest
        (see :meth:`guest` for *token*).

        :raises ChatError: ``login_required`` for a visitor who is not signed in
            when ``CHATROOM_REQUIRE_LOGIN`` is on.
        """
        identity = self.identify()
        if identity is not None:
            return identity
        if self.config.require_login:
            raise ChatError("login_required", "Please sign in to chat.")
        return self.guest(token)

    def client_address(self) -> str | None:
        """The current request's client address, as its rate-limit key: the
        address the WSGI server (or the host's ``ProxyFix``) gives, an IPv6
        address by its /64 network."""
        if not has_request_context() or not request.remote_addr:
            return None
        address = request.remote_addr
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return address
        if isinstance(parsed, ipaddress.IPv6Address):
            if parsed.ipv4_mapped is not None:
                return str(parsed.ipv4_mapped)
            return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
        return str(parsed)

    def needs_sign_in(self) -> bool:
        """Whether the current visitor must sign in before chatting."""
        return self.config.require_login and self.identify() is None

    def admit(self, sid: str) -> Identity:
        """The user of connection *sid*, once it may send one more event: every
        chat event takes an ``event`` token, whatever it asks (events with a
        limit of their own take that one too), so no event is free to flood.

        :raises ChatError: ``rate_limited``.
        """
        user = self.user_of(sid)
        self.moderation.check_rate(sid, user, "event")
        return user

    def admit_request(self) -> None:
        """An HTTP API request with no limit of its own (the room list) takes
        a token of its client's ``address`` bucket.

        :raises ChatError: ``rate_limited``.
        """
        address = self.client_address()
        if address is not None:
            self.moderation.check_address(address)

    def user_of(self, sid: str) -> Identity:
        """Who connection *sid* speaks as.

        A host's ``connect`` handler on a shared namespace
        (``CHATROOM_NAMESPACE = "/"``) runs instead of the chat's; such a
        connection is registered here on first use.
        """
        identity = self.connections.identity_of(sid)
        if identity is not None:
            return identity
        return self._register(sid, self.current_user())

    # -- permissions ----------------------------------------------------------------

    def check_may_read(self, user: Identity, room: str) -> None:
        """Whether *user* may see, join and read *room*, for every door (``join``,
        ``since`` catch-up, ``history``, ``read``, the HTTP API, room pages).

        :raises ChatError: ``unknown_room`` or ``forbidden``.
        """
        self._check_room(user, room, cached=False)
        if not self.policy.may_join(user, room):
            raise ChatError("forbidden", f"You may not join {room!r}.")

    def _check_room(
        self,
        user: Identity,
        room: str,
        cached: bool,
        member_of: Collection[str] | None = None,
    ) -> str | None:
        """The one rule of who may use *room* at all: a DM or private room
        (:data:`MEMBERS_ONLY`) only its stored members, asked of the store
        every time; any other room anyone, when it exists. A ``dm-`` room
        that was never recorded, and a members-only room of others, are
        refused exactly as a room that does not exist.

        :param cached: may trust that a room had no recorded kind a few
            seconds ago (:data:`ROOM_KIND_TTL`): the message path does.
        :param member_of: the rooms *user* is a stored member of, when the
            caller just read them (else membership is asked of the store).
        :returns: the room's recorded kind (see :meth:`room_kind`).
        :raises ChatError: ``unknown_room``.
        """
        if is_valid_room_name(room):
            kind = self.room_kind(room, cached)
            if kind in MEMBERS_ONLY:
                conversations = self.conversations
                assert conversations is not None  # there is a kind
                if (
                    room in member_of
                    if member_of is not None
                    else conversations.is_member(room, user.id)
                ):
                    return kind
            elif kind is not None or self._configured(room):
                return kind
        raise ChatError("unknown_room", f"There is no room {room!r}.")

    def _configured(self, room: str) -> bool:
        return not room.startswith(DM_PREFIX) and self.config.room_exists(room)

    @property
    def offers_room_creation(self) -> bool:
        """Whether the host registered a ``can_create_room`` hook (the full
        page then offers its *New room* form; the hook still decides)."""
        return self.policy.can_create_room is not None

    def room_exists(self, room: str) -> bool:
        """Whether *room* exists for the host's own code (which asks nobody's
        permission): a room the configuration allows (``CHATROOM_ROOMS``, or
        any valid name with open rooms) or one the conversations store
        recorded (a made room, a private room, a DM). Users go through
        :meth:`check_may_read`, which is this plus membership and the hooks."""
        if not is_valid_room_name(room):
            return False
        return self.room_kind(room) is not None or self._configured(room)

    def _may_read(
        self, user: Identity, room: str, member_of: Collection[str] | None = None
    ) -> bool:
        """:meth:`check_may_read` as a yes or no, for a room the message path
        just used (so its kind may come from the few-seconds cache)."""
        try:
            self._check_room(user, room, cached=True, member_of=member_of)
        except ChatError:
            return False
        return self.policy.may_join(user, room)

    def room_kind(self, room: str, cached: bool = False) -> str | None:
        """*room*'s recorded kind (``"public"``, ``"private"``, ``"dm"``), or
        ``None`` for a room that was never recorded (a public one)."""
        conversations = self.conversations
        if conversations is None:
            return None
        now = time.monotonic()
        known = self._kinds.get(room)
        if known is not None and (known[0] is not None or (cached and now < known[1])):
            return known[0]
        info = conversations.room_info(room)
        kind = info.kind if info is not None else None
        with self._kinds_lock:
            if len(self._kinds) > 10_000:
                self._kinds.clear()
            self._kinds[room] = (kind, now + ROOM_KIND_TTL)
        return kind

    def _check_may_post(self, user: Identity, room: str) -> str | None:
        """:raises ChatError: ``unknown_room`` (a members-only room the user is
        not a member of, see :meth:`_check_room`), ``forbidden`` (the host's
        ``can_post``) or ``muted``; for posting and for saying one is typing.
        Returns the room's recorded kind."""
        kind = self._check_room(user, room, cached=True)
        if not self.policy.may_post(user, room):
            raise ChatError("forbidden", f"You may not post in {room!r}.")
        self.moderation.check_not_muted(room, user)
        return kind

    def _check_member(self, sid: str, room: str, doing: str) -> None:
        if not self.backends.presence.is_member(sid, room):
            raise ChatError("not_in_room", f"Join the room {room!r} before {doing}.")

    def _moderator(self, sid: str, doing: str) -> Identity:
        """The user of *sid* as they are now, if they are a moderator now.

        Identity and roles are fixed when a connection opens, so a privileged
        action asks the host again (its identity loader or Flask-Login's user
        loader, in this event's request): a user who signed out, or lost the
        role, since is refused, and a signed-out connection is closed.
        """
        user = self.user_of(sid)
        if not user.anonymous:
            fresh = self.identify()
            if fresh is None or fresh.id != user.id:
                log.info("chat: %s is signed out; closed connection %s", user.id, sid)
                self.realtime.close(sid)
                raise ChatError("login_required", "You are signed out.")
            user = fresh
        if not self.policy.is_moderator(user):
            raise ChatError("forbidden", f"Only moderators can {doing}.")
        return user

    # -- connections ----------------------------------------------------------------

    def connect(
        self,
        sid: str,
        since: int | None = None,
        token: Any = None,
        changes_since: int | None = None,
    ) -> Identity:
        """A client connected as the current request: decide who it is, send it
        its ``welcome``, and put it in the default room (with the messages after
        *since*, when it reconnects, and the room's changes after
        *changes_since*). *token* is a guest token from an earlier ``welcome``.

        Connects are rate-limited per user (a guest is one user for its whole
        connection) and per client address; a catch-up (*since*) takes a
        ``history`` token too.

        :raises ChatError: ``login_required``, ``rate_limited``,
            ``too_many_connections`` or ``internal_error`` (logged): the
            connection is refused.
        """
        self.ensure_ready()
        self._freeze_heap_once()
        try:
            identity = self.current_user(token)
        except ChatError:
            log.info("chat: refused an anonymous connection (login required)")
            raise
        except Exception:
            log.exception("chat: the identity loader failed; connection refused")
            raise ChatError(
                "internal_error", "The server could not connect you."
            ) from None
        self.moderation.check_rate(sid, identity, "connect", self.client_address())
        if since is not None or changes_since is not None:
            self.moderation.check_rate(sid, identity, "history")
        self._add_connection(sid, identity)
        try:
            return self._register(sid, identity, since, changes_since)
        except Exception:
            # A permission hook or the store failed: refuse rather than leave the
            # client half connected.
            log.exception("chat: could not set up a connection; refused")
            self.disconnect(sid)
            raise ChatError(
                "internal_error", "The server could not connect you."
            ) from None

    def _freeze_heap_once(self) -> None:
        """``CHATROOM_FREEZE_HEAP``: at the process's first chat connection,
        collect once and freeze the heap (``gc.freeze()``), so full collections
        no longer walk the whole app on every run (over 100 ms each, serving
        nobody). Once per process, whatever the number of apps."""
        global _heap_frozen
        if _heap_frozen or not self.config.freeze_heap:
            return
        _heap_frozen = True
        gc.collect()
        gc.freeze()
        log.info("chat: froze %d objects of the start-up heap", gc.get_freeze_count())

    def _add_connection(self, sid: str, identity: Identity) -> None:
        self.announcer.start_housekeeping()
        if self.attachments is not None:
            self.attachments.start_housekeeping(self.realtime)
        try:
            gone = self.connections.add(sid, identity, self.client_address())
        except ChatError as exc:
            log.info("chat: refused a connection of %s: %s", identity.id, exc.code)
            raise
        for other in gone:
            self.disconnect(other)
        self.backends.presence.connect(sid, identity)
        if identity.anonymous:
            self.backends.userdata.touch_nickname(identity.id)

    def _register(
        self,
        sid: str,
        identity: Identity,
        since: int | None = None,
        changes_since: int | None = None,
    ) -> Identity:
        if self.connections.identity_of(sid) is None:
            self._add_connection(sid, identity)
        room = self.config.default_room
        joined = self.policy.may_join(identity, room)
        token = (
            self.guest_tokens.issue(self._base_guest()) if identity.anonymous else None
        )
        self.realtime.emit(
            EVENT_WELCOME,
            {
                "id": identity.id,
                "client": identity.name,
                "user_id": identity.user_id,
                "guest": identity.anonymous,
                "room": room if joined else None,
                "moderator": self.policy.is_moderator(identity),
                "nicknames": identity.anonymous and self.config.allow_nicknames,
                "guest_token": token,
                "reactions": list(self.config.reactions),
                "edit_window": self.config.edit_window,
            },
            to=sid,
        )
        if joined:
            self.rooms.join(sid, identity, room, since, changes_since)
        return identity

    def disconnect(self, sid: str) -> None:
        """Connection *sid* went away: it leaves its rooms (which are told from a
        task of its own) and is forgotten."""
        changes = self.backends.presence.disconnect(sid)
        identity = self.connections.remove(sid)
        if identity is not None and identity.anonymous:
            # A guest's nickname lives CHATROOM_GUEST_TTL past its last connection.
            self.backends.userdata.touch_nickname(identity.id)
            # So do its read markers (in this process).
            if self.read_state is not None and not self.connections.sids_of(
                identity.id
            ):
                self.read_state.guest_left(identity.id)
        self.announcer.announce_later(changes)

    def disconnect_user(self, user_id: str) -> int:
        """End every connection of *user_id*, in every process (through the
        message queue): the way to revoke access at once. Returns how many
        connections were told to close."""
        self.ensure_ready()
        sids = self.backends.presence.connections_of(user_id)
        for sid in sids:
            self.realtime.disconnect(sid)
        log.info("chat: disconnected user %s (%d connections)", user_id, len(sids))
        return len(sids)

    # -- actions --------------------------------------------------------------------

    def post(self, sid: str, request: SendRequest) -> Message:
        """``message broadcast``: post to a room the connection is in.

        :returns: the message as stored (a retry of a stored ``client_id``
            returns the first one, not broadcast again).
        """
        user = self.user_of(sid)
        room = request.room or self.config.default_room
        self._check_member(sid, room, "posting to it")
        kind = self._check_may_post(user, room)
        self.moderation.check_rate(sid, user, "message")
        reply = None
        if request.reply_to is not None:
            original = self.store.get(request.reply_to)
            if original is None or original.deleted or original.room != room:
                raise ChatError("not_found", "There is no such message to reply to.")
            reply = reply_of(original.id, original.client, original.text, False)
        attachments = self._attachments_to_send(user, room, request)
        message = Message(
            room=room,
            client=user.name,
            text=request.text,
            user_id=user.user_id,
            client_id=request.client_id,
            sender_id=user.id,
            reply_to=request.reply_to,
            reply=reply,
            attachments=attachments,
        )
        message = self.policy.apply_filters(
            message, user, self.config.max_message_length
        )
        if "@" in message.text:  # nothing more for a message without one
            mentions = self._resolve_mentions(user, room, kind, message.text)
            if mentions:
                message = replace(message, mentions=tuple(mentions))
        try:
            stored, created = self.publisher.publish(message)
        except AttachmentClaimError:
            raise _not_your_upload() from None
        if stored.seq is not None:
            self._read_own(user, room, stored.seq)
        if created and (stored.mentions or kind == "dm"):
            self._notify(user, stored, kind)
        return stored

    def _resolve_mentions(
        self, user: Identity, room: str, kind: str | None, text: str
    ) -> list[str]:
        """The ids of the room's members that *text* names as ``@Name``
        (:func:`~flask_chatroom.protocol.find_mentions`), never *user*, each
        one who may read the room.

        The members are the users in the room now (guests only then) and, in a
        DM or private room, its stored members, by the name they have on a
        connection of this process; in such a room, only stored members.
        """
        stored: set[str] | None = None
        if kind in MEMBERS_ONLY and self.conversations is not None:
            stored = set(self.conversations.members(room))
        people: dict[str, Identity] = {}
        for member in self.backends.presence.members(room):
            if stored is None or member.id in stored:
                people[member.id] = member
        for member_id in sorted(stored or ()):
            if member_id not in people:
                known = self._known_identity(member_id)
                if known is not None and not known.anonymous:
                    people[member_id] = known
        people.pop(user.id, None)
        names: dict[str, set[str]] = {}
        for person in people.values():
            names.setdefault(person.name.lower(), set()).add(person.id)
        return [
            found
            for found in find_mentions(text, names)
            if self._may_read(people[found], room)
        ]

    def _known_identity(self, user_id: str) -> Identity | None:
        """*user_id* as a connection of this process knows them, if one does."""
        for sid in self.connections.sids_of(user_id):
            identity = self.connections.identity_of(sid)
            if identity is not None:
                return identity
        return None

    def _notify(self, user: Identity, message: Message, kind: str | None) -> None:
        """Send ``notify`` to every connection (in every process) of each user
        *message* mentions (``"mention"``) and, in a DM, of its other members
        (``"dm"``), each of whom may read the room; never to the sender. Then
        the ``mentioned`` and ``dm_received`` signals."""
        room = message.room
        targets = dict.fromkeys(message.mentions, "mention")
        recipients: list[str] = []
        if kind == "dm" and self.conversations is not None:
            for member in self.conversations.members(room):
                if member == user.id:
                    continue
                identity = self._known_identity(member) or Identity(
                    id=member, name=member, anonymous=False
                )
                if self._may_read(identity, room):
                    recipients.append(member)
                    targets.setdefault(member, "dm")
        targets.pop(user.id, None)
        wire = message.to_wire()
        for target, why in targets.items():
            news = {"kind": why, "room": room, "message": wire}
            for sid in self.backends.presence.connections_of(target):
                self.realtime.emit(EVENT_NOTIFY, news, to=sid)
        if message.mentions:
            signals.send(
                signals.mentioned, message=message, user_ids=list(message.mentions)
            )
        if recipients:
            signals.send(signals.dm_received, message=message, recipient_ids=recipients)

    def _read_own(self, user: Identity, room: str, seq: int) -> None:
        """The sender has read their own message: their marker moves to it (for
        a signed-in user at most one write a second per room, see
        :class:`~flask_chatroom.core.readstate.ReadState`)."""
        read_state = self.read_state
        if read_state is None:
            return
        if user.anonymous:
            read_state.guest_mark(user.id, room, seq)
            return
        try:
            read_state.mark_soon(user.id, room, seq)
        except Exception:  # the message stands; the marker catches up later
            log.exception("chat: could not store %s's read marker", user.id)

    def join(
        self,
        sid: str,
        room: str,
        since: int | None = None,
        changes_since: int | None = None,
    ) -> None:
        """``join``: enter *room* and get its history, or the messages after
        *since* and the changes after *changes_since* (joining a room again
        just sends those)."""
        user = self.user_of(sid)
        self.check_may_read(user, room)
        address = self.connections.address_of(sid) or self.client_address()
        self.moderation.check_rate(sid, user, "join", address)
        if since is not None or changes_since is not None:
            self.moderation.check_rate(sid, user, "history")
        self._check_room_count(sid, room)
        self.rooms.join(sid, user, room, since, changes_since)

    def _check_room_count(self, sid: str, room: str) -> None:
        rooms = self.backends.presence.rooms_of(sid)
        if room not in rooms and len(rooms) >= self.config.max_rooms_per_connection:
            raise ChatError("too_many_rooms", "You are in too many rooms; leave one.")

    def create_room(
        self, sid: str, room: str, title: str | None = None, private: bool = False
    ) -> str:
        """``create room``: make *room* (``"private"`` or ``"public"``) in the
        conversations store, with the caller as its first stored member, and
        join the caller's connection to it.

        :raises ChatError: ``rate_limited``, ``forbidden`` (the host's
            ``can_create_room``; without one, always), ``room_exists``,
            ``too_many_rooms``.
        """
        user = self.user_of(sid)
        self.moderation.check_rate(sid, user, "create_room")
        kind = "private" if private else "public"
        if not self.policy.may_create_room(user, room, kind):
            raise ChatError("forbidden", "You may not create rooms.")
        conversations = self._conversations()
        taken = ChatError("room_exists", f"There is a room {room!r} already.")
        if self._room_taken(room):
            raise taken
        self._check_room_count(sid, room)
        info = conversations.create_room(room, kind, created_by=user.id, title=title)
        if info.created_by != user.id or info.kind != kind:
            raise taken  # someone else made it a moment ago
        with self._kinds_lock:
            self._kinds.pop(room, None)
        conversations.add_member(room, user.id)
        log.info("chat: %s created the %s room %s", user.id, kind, room)
        self.rooms.join(sid, user, room)
        return room

    def _room_taken(self, room: str) -> bool:
        """Whether *room* is in use: recorded, configured, the default room, or
        with people or messages in it."""
        if room == self.config.default_room or self.room_kind(room) is not None:
            return True
        if self.config.rooms is not None and room in self.config.rooms:
            return True
        if self.backends.presence.count(room) > 0:
            return True
        return bool(self.store.history(room, limit=1)[0])

    def leave(self, sid: str, room: str) -> None:
        """``leave``: leave a room the connection is in."""
        self.user_of(sid)
        if not self.rooms.leave(sid, room):
            raise ChatError("not_in_room", f"You are not in {room!r}.")

    def history(
        self, user: Identity, request: HistoryRequest, sid: str | None = None
    ) -> tuple[list[Message], bool]:
        """A page of *request*'s room for *user*, oldest first, and whether more
        lie beyond it. Rate-limited per user; without a connection *sid* (the
        HTTP API) per client address too."""
        self.check_may_read(user, request.room)
        address = None if sid is not None else self.client_address()
        self.moderation.check_rate(sid, user, "history", address)
        return self.page(request)

    def page(self, request: HistoryRequest) -> tuple[list[Message], bool]:
        """The page *request* names, asking nobody's permission (the host's own
        code reads through this; users through :meth:`history`)."""
        if request.after is not None:
            return self.store.since(request.room, request.after, limit=request.limit)
        return self.store.history(
            request.room, before=request.before, limit=request.limit
        )

    def room_list(self, user: Identity | None) -> list[dict[str, Any]]:
        """The rooms *user* may join (every room for ``None``: the host's own
        code), with their user counts and kinds: of the fixed ``CHATROOM_ROOMS``
        (with 0 for empty ones), or of every room someone is in with open rooms,
        but DMs and private rooms only for their stored members; then the
        rooms *user* is a stored member of (their DMs among them, with the
        other ``members``). For a user, each room has ``unread``, ``mentions``
        and ``last_seq`` too (one query for all)."""
        counts = self.backends.presence.rooms()
        conversations = self.conversations
        mine: list[RoomInfo] = []
        if user is not None and conversations is not None:
            mine = conversations.rooms_of(user.id)
        member_of = {info.room for info in mine}
        listed: list[dict[str, Any]] = []
        for name in self.config.rooms or sorted(counts):
            if name in member_of or (user is not None and name.startswith(DM_PREFIX)):
                continue
            kind = self.room_kind(name, cached=True) or "public"
            if user is not None and kind in MEMBERS_ONLY:
                continue
            if user is None or self.policy.may_join(user, name):
                listed.append(
                    {"name": name, "kind": kind, "count": counts.get(name, 0)}
                )
        for info in mine:
            if user is not None and not self.policy.may_join(user, info.room):
                continue
            entry: dict[str, Any] = {
                "name": info.room,
                "kind": info.kind,
                "count": counts.get(info.room, 0),
            }
            if info.title:
                entry["title"] = info.title
            if info.kind == "dm":
                entry["members"] = [
                    {"id": other, "name": self.connections.name_of(other)}
                    for other in info.dm_members
                    if user is None or other != user.id
                ]
            listed.append(entry)
        if user is not None:
            unread = self.unread(user, [entry["name"] for entry in listed])
            for entry in listed:
                entry.update(unread.get(entry["name"], {}))
        return listed

    def unread(self, user: Identity, rooms: Iterable[str]) -> dict[str, dict[str, int]]:
        """What *user* has not read in each of *rooms*: room ->
        ``{"unread", "mentions", "last_seq"}``, computed from ``seq`` in one
        query (a guest's markers are the ones kept for its connections; guests
        are never mentioned)."""
        conversations, read_state = self.conversations, self.read_state
        rooms = list(rooms)
        if conversations is None or read_state is None or not rooms:
            return {}
        markers: dict[str, int] = {}
        if user.anonymous:
            markers = read_state.guest_markers(user.id)
        else:
            read_state.flush(user.id)
        result: dict[str, dict[str, int]] = {}
        for room, counts in conversations.unread(user.id, rooms).items():
            unread, mentions = counts.unread, counts.mentions
            if user.anonymous:
                read = min(markers.get(room, 0), counts.last_seq)
                unread, mentions = counts.last_seq - read, 0
            result[room] = {
                "unread": unread,
                "mentions": mentions,
                "last_seq": counts.last_seq,
            }
        return result

    # -- direct messages, read state, blocks -----------------------------------------

    def _conversations(self) -> Conversations:
        if self.conversations is None:
            raise ChatError("forbidden", "This chat keeps no direct conversations.")
        return self.conversations

    def dm(self, sid: str, user_ids: list[str]) -> str:
        """``dm``: open (or find) the direct conversation between the caller and
        *user_ids*; the caller's connection joins it and every connection of its
        members (in every process) is told with a ``dm`` event.

        :raises ChatError: ``login_required`` (a guest, unless ``can_dm`` lets
            it), ``forbidden`` (``can_dm``, a block, or the caller is no longer
            a member of that conversation), ``too_many_members``,
            ``invalid_payload`` (nobody but the caller), ``too_many_rooms``,
            ``rate_limited``.
        """
        user = self.user_of(sid)
        self.moderation.check_rate(sid, user, "dm")
        others = sorted(set(user_ids) - {user.id})
        if not others:
            raise ChatError("invalid_payload", "Name someone other than yourself.")
        if len(others) + 1 > self.config.dm_max_members:
            raise ChatError(
                "too_many_members",
                f"A conversation has at most {self.config.dm_max_members} members.",
            )
        if not self.policy.may_dm(user, others):
            if user.anonymous:
                raise ChatError("login_required", "Sign in to send direct messages.")
            raise ChatError("forbidden", "You may not message them.")
        conversations = self._conversations()
        refused = ChatError("forbidden", "You may not message them.")
        if any(user.id in conversations.blocked(other) for other in others):
            raise refused  # the same refusal as the hook's: a block is not told
        room = conversations.dm_room([user.id, *others], created_by=user.id)
        if not conversations.is_member(room, user.id):
            raise refused  # they were taken out of this conversation
        self._check_room_count(sid, room)
        self.rooms.join(sid, user, room)
        members = [user.id, *others]
        news = {
            "room": room,
            "kind": "dm",
            "members": sorted(members),
            "created_by": user.id,
        }
        for member in members:
            for other in self.backends.presence.connections_of(member):
                if other != sid:
                    self.realtime.emit(EVENT_DM, news, to=other)
        return room

    def read(self, sid: str, room: str, seq: int) -> dict[str, Any]:
        """``read``: the user has read *room* up to *seq* (the marker moves only
        forward, and never past the room's last ``seq``). The user's other
        connections (in every process) get an ``unread`` event.

        :returns: ``{"room", "unread", "mentions", "last_seq"}`` after it.
        """
        user = self.user_of(sid)
        self.check_may_read(user, room)
        self.moderation.check_rate(sid, user, "read")
        self._conversations()
        read_state = self.read_state
        assert read_state is not None
        if user.anonymous:
            last_seq = self.unread(user, [room])[room]["last_seq"]
            read_state.guest_mark(user.id, room, min(seq, last_seq))
            others = [s for s in self.connections.sids_of(user.id) if s != sid]
        else:
            read_state.mark(user.id, room, seq)
            others = [
                s for s in self.backends.presence.connections_of(user.id) if s != sid
            ]
        state: dict[str, Any] = {"room": room, **self.unread(user, [room])[room]}
        for other in others:
            self.realtime.emit(EVENT_UNREAD, state, to=other)
        return state

    def _signed_in(self, sid: str, doing: str) -> Identity:
        user = self.user_of(sid)
        if user.anonymous:
            raise ChatError("login_required", f"Sign in to {doing}.")
        return user

    def block(self, sid: str, other: str, blocked: bool = True) -> list[str]:
        """``block`` / ``unblock``: a signed-in user (un)blocks *other*; the
        users they block now, sorted. Blocked users cannot open a direct
        conversation with them (and are not told why)."""
        user = self._signed_in(sid, "block users")
        self.moderation.check_rate(sid, user, "dm")
        conversations = self._conversations()
        if other == user.id:
            raise ChatError("invalid_payload", "You cannot block yourself.")
        if blocked:
            conversations.block(user.id, other)
        else:
            conversations.unblock(user.id, other)
        return sorted(conversations.blocked(user.id))

    def blocks(self, sid: str) -> list[str]:
        """``blocks``: the users a signed-in user blocks, sorted."""
        user = self._signed_in(sid, "block users")
        return sorted(self._conversations().blocked(user.id))

    def typing(self, sid: str, room: str, typing: bool) -> None:
        """``typing``: tell the room's other members."""
        user = self.user_of(sid)
        self._check_member(sid, room, "typing in it")
        self._check_may_post(user, room)
        self.moderation.check_rate(sid, user, "typing")
        self.realtime.emit(
            EVENT_TYPING,
            {
                "room": room,
                "client": user.name,
                "user_id": user.user_id,
                "typing": typing,
            },
            to=room,
            skip_sid=sid,
        )

    def rename(self, sid: str, name: str) -> Identity:
        """``nickname``: a guest picks the name others see (in every tab)."""
        user = self.user_of(sid)
        if not self.config.allow_nicknames or not user.anonymous:
            raise ChatError("nicknames_disabled", "You cannot pick a nickname here.")
        self.moderation.check_rate(sid, user, "nickname")
        if any(look_alike(name, taken) for taken in self.config.reserved_names):
            raise ChatError("name_taken", "That name is kept for the site's staff.")
        if any(look_alike(name, taken) for taken in self.connections.signed_in_names()):
            raise ChatError("name_taken", "That is the name of a signed-in user.")
        self.backends.userdata.set_nickname(user.id, name)
        renamed, sids = self.connections.rename(user.id, name)
        assert renamed is not None  # sid itself is one of them
        rooms: set[str] = set()
        for other in sids:
            rooms.update(self.backends.presence.rename(other, renamed))
            if other != sid:  # the other tabs learn their new name
                self.realtime.emit(EVENT_RENAMED, {"client": name}, to=other)
        for room in sorted(rooms):
            self.announcer.send_presence(room)
        return renamed

    # -- changes to messages: edit, delete, react ----------------------------------

    def _readable_message(self, user: Identity, message_id: str) -> Message:
        """The message *message_id*, when it is not deleted and *user* may read
        its room now. A message in a room the user may not read is refused
        exactly as one that does not exist.

        :raises ChatError: ``not_found``.
        """
        message = self.store.get(message_id)
        # check_may_read's rule, with a public room's kind from the few-seconds
        # cache as on the message path (membership of a DM or private room is
        # asked every time).
        if (
            message is not None
            and not message.deleted
            and self._may_read(user, message.room)
        ):
            return message
        raise ChatError("not_found", "There is no such message.")

    def _within_window(self, message: Message) -> bool:
        """Whether *message* is young enough for its author to change
        (``CHATROOM_EDIT_WINDOW``; ``None``: always)."""
        window = self.config.edit_window
        return window is None or now_ms() - message.ts <= window * 1000

    def _may_change(
        self, sid: str, user: Identity, message: Message, doing: str
    ) -> Identity:
        """The one rule of who may edit or delete *message*: its author within
        ``CHATROOM_EDIT_WINDOW``, or a moderator (asked of the host now, see
        :meth:`_moderator`) at any time. Returns who acts.

        :raises ChatError: ``edit_window_passed`` (the author, too late),
            ``forbidden`` (someone else's message), ``login_required``.
        """
        if message.sender_id == user.id and self._within_window(message):
            return user
        try:
            return self._moderator(sid, doing)
        except ChatError as refused:
            if refused.code == "forbidden" and message.sender_id == user.id:
                raise ChatError(
                    "edit_window_passed",
                    "This message is too old to change now.",
                ) from None
            raise

    def edit(self, sid: str, message_id: str, text: str) -> Message:
        """``edit message``: replace the text of a message (see
        :meth:`_may_change` for who may). The new text passes the host's
        ``can_post``, mutes, rate limit (a ``message`` token) and message
        filters exactly as a new message; the previous text goes to the edit
        history moderators see. The room gets ``message edited``, in
        ``change_seq`` order with the room's other changes.

        :returns: the message as it is now (unchanged for the same text).
        :raises ChatError: ``not_found``, ``edit_window_passed``, ``forbidden``,
            ``muted``, ``rate_limited``, ``rejected``.
        """
        user = self.user_of(sid)
        message = self._readable_message(user, message_id)
        room = message.room
        self._check_may_post(user, room)
        editor = self._may_change(sid, user, message, "edit messages of others")
        self.moderation.check_rate(sid, user, "message")
        filtered = self.policy.apply_filters(
            replace(message, text=text), user, self.config.max_message_length
        )
        if filtered.text == message.text:
            return message

        def store_edit() -> tuple[Message, MessageChange | None]:
            try:
                return self.store.edit(message_id, filtered.text, editor.id)
            except KeyError:
                raise ChatError("not_found", "There is no such message.") from None

        edited, _ = self.publisher.publish_change(room, store_edit)
        log.info("chat: %s edited message %s in %s", editor.id, message_id, room)
        signals.send(signals.message_edited, message=edited, editor=editor)
        return edited

    def delete(self, sid: str, message_id: str) -> Message:
        """``delete message``: its author (within ``CHATROOM_EDIT_WINDOW``) or a
        moderator removes a message. The room gets ``message deleted``, in
        ``change_seq`` order with the room's other changes; deleting a deleted
        message again changes nothing.

        :raises ChatError: ``not_found``, ``edit_window_passed``, ``forbidden``,
            ``rate_limited``.
        """
        user = self.user_of(sid)
        message = self.store.get(message_id)
        if message is not None and message.sender_id == user.id:
            if message.deleted:
                return message  # deleting it again changes nothing
            if not self._may_read(user, message.room):
                raise ChatError("not_found", "There is no such message.")
            actor = self._may_change(sid, user, message, "delete messages")
            if actor is user:
                self.moderation.check_rate(sid, user, "message")
        else:
            actor = self._moderator(sid, "delete messages")
            if message is None:
                raise ChatError("not_found", "There is no such message.")
        room = message.room

        def store_delete() -> tuple[Message, MessageChange | None]:
            done = self.store.delete(message_id, actor.id)
            if done is None:
                raise ChatError("not_found", "There is no such message.")
            return done

        deleted, change = self.publisher.publish_change(room, store_delete)
        if change is not None and message.attachments and self.attachments:
            # Its files go with it (housekeeping would find them otherwise).
            self.attachments.remove_ids(a.id for a in message.attachments)
        if change is not None:
            log.info("chat: %s deleted message %s in %s", actor.id, message_id, room)
            signals.send(signals.message_deleted, message=deleted, moderator=actor)
        return deleted

    def react(
        self, sid: str, message_id: str, emoji: str, on: bool
    ) -> tuple[tuple[Reaction, ...], MessageChange | None]:
        """``react``: add (*on*) or remove the user's *emoji* reaction (one of
        ``CHATROOM_REACTIONS``) to a message in a room they may post in. The
        room gets ``reactions`` when something changed.

        :raises ChatError: ``invalid_payload`` (an emoji not offered),
            ``not_found``, ``forbidden``, ``muted``, ``rate_limited``.
        """
        user = self.user_of(sid)
        if emoji not in self.config.reactions:
            raise ChatError("invalid_payload", "That is not one of the reactions here.")
        message = self._readable_message(user, message_id)
        room = message.room
        self._check_may_post(user, room)
        self.moderation.check_rate(sid, user, "react")

        def store_react() -> tuple[tuple[Reaction, ...], MessageChange | None]:
            try:
                return self.store.react(message_id, emoji, user.id, on)
            except KeyError:
                raise ChatError("not_found", "There is no such message.") from None

        return self.publisher.publish_change(room, store_react)

    def changes(
        self, sid: str, room: str, since: int
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """``changes``: the changes of *room* after *since* (a ``change_seq``),
        at most :data:`~flask_chatroom.core.rooms.CATCHUP_CHANGES`, as clients
        get them; the last one's ``change_seq`` (or *since*); and whether more
        follow. Takes a ``history`` token."""
        return self.changes_for(self.user_of(sid), room, since, sid)

    def changes_for(
        self, user: Identity, room: str, since: int, sid: str | None = None
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """:meth:`changes` for *user*; without a connection *sid* (the HTTP
        API) rate-limited per client address too."""
        self.check_may_read(user, room)
        address = None if sid is not None else self.client_address()
        self.moderation.check_rate(sid, user, "history", address)
        return changes_page(self.store, room, since, user.id)

    def edit_history(self, sid: str | None, message_id: str) -> list[Edit]:
        """``edit history`` (and the HTTP API): the texts a message had before
        each edit, oldest first; for moderators only (*sid* ``None``: the
        current request's user, for the HTTP API).

        :raises ChatError: ``forbidden``, ``not_found``.
        """
        if sid is not None:
            self._moderator(sid, "read edit histories")
        else:
            user = self.current_user()
            if not self.policy.is_moderator(user):
                raise ChatError("forbidden", "Only moderators can read edit histories.")
        if self.store.get(message_id) is None:
            raise ChatError("not_found", "There is no such message.")
        return self.store.edit_history(message_id)

    def mute(self, sid: str, room: str, user_id: str, seconds: int) -> int | None:
        """``mute``: a moderator mutes *user_id* in *room* (0 seconds lifts it);
        until when, in epoch ms (``None`` once lifted)."""
        user = self._moderator(sid, "mute users")
        until = self.moderation.mute(room, user_id, seconds)
        log.info("chat: %s muted %s in %s for %ss", user.id, user_id, room, seconds)
        signals.send(
            signals.user_muted, room=room, user_id=user_id, until=until, moderator=user
        )
        return until

    # -- attachments ----------------------------------------------------------------

    def _keeper(self) -> AttachmentKeeper:
        if self.attachments is None:
            raise ChatError(
                "unsupported", "This chat's message store keeps no attachments."
            )
        return self.attachments

    def _attachments_to_send(
        self, user: Identity, room: str, request: SendRequest
    ) -> tuple[Attachment, ...]:
        """The attachments a ``message broadcast`` names: uploads of *user* to
        *room* that no message carries yet (the store claims them for the
        message in the transaction that stores it, so two messages never
        carry one upload). A retry of a stored message (same ``client_id``)
        may name uploads its first attempt claimed.

        :raises ChatError: ``invalid_attachment``, ``unsupported``.
        """
        if not request.attachments:
            return ()
        keeper = self._keeper()
        found: list[Attachment] = []
        for upload_id in request.attachments[:MAX_ATTACHMENTS]:
            upload = keeper.uploads.get(upload_id)
            if (
                upload is None
                or upload.uploader_id != user.id
                or upload.room != room
                or (upload.message_id is not None and request.client_id is None)
            ):
                raise _not_your_upload()
            found.append(upload.attachment)
        return tuple(found)

    def upload(
        self, user: Identity, room: str, name: str, data: bytes, urls: UrlsFor
    ) -> Attachment:
        """An upload to *room* (``POST .../attachments``), kept until a message
        carries it (or for an hour). Who may: whoever may post in the room
        (its ``can_post``, mutes; a DM or private room's members only), signed
        in unless ``CHATROOM_ATTACHMENT_GUESTS``; rate-limited (``upload``,
        and the client address), within ``CHATROOM_ATTACHMENT_DAILY_BYTES`` a
        day. The content decides the type; images are re-encoded (see
        :func:`~flask_chatroom.uploads.check_upload`).

        :param urls: an upload id -> the URLs of its file and its thumbnail.
        :raises ChatError: ``login_required``, ``unknown_room``, ``forbidden``,
            ``muted``, ``rate_limited``, ``attachment_refused`` (with a
            ``reason``), ``unsupported``.
        """
        keeper = self._keeper()
        config = self.config
        if user.user_id is None and not config.attachment_guests:
            raise ChatError("login_required", "Sign in to share files.")
        self.check_may_read(user, room)  # as joining it: can_join too
        self._check_may_post(user, room)
        self.moderation.check_rate(None, user, "upload", self.client_address())
        quota = config.attachment_daily_bytes
        if quota is not None:
            used = keeper.uploads.uploaded_since(user.id, now_ms() - DAY_MS)
            if used + len(data) > quota:
                log.info("chat: %s is over the daily upload quota", user.id)
                raise ChatError(
                    "attachment_refused",
                    f"You can share {_size(quota)} a day; you have shared "
                    f"{_size(used)} in the last 24 hours.",
                    reason="quota",
                )
        try:
            libmagic()
        except RuntimeError:
            log.error("chat: an upload was refused: libmagic is not installed")
            raise ChatError(
                "unsupported", "This server cannot take files at the moment."
            ) from None
        try:
            # Decoding and re-encoding an image takes the CPU for a while:
            # never in the server's event loop.
            checked = self.realtime.offload(
                partial(
                    check_upload,
                    data,
                    name,
                    config.attachment_types,
                    max_bytes=config.attachment_max_bytes,
                    max_pixels=config.attachment_max_pixels,
                )
            )
        except UploadRefused as refused:
            log.info(
                "chat: refused an upload from %s to %s: %s", user.id, room, refused.code
            )
            raise ChatError(
                "attachment_refused", refused.message, reason=refused.code
            ) from None
        upload = keeper.keep(checked, room, user.id, urls)
        log.info(
            "chat: %s uploaded %s (%s, %d bytes) to %s",
            user.id,
            upload.id,
            upload.attachment.type,
            upload.attachment.size,
            room,
        )
        return upload.attachment

    def attachment(
        self, user: Identity, upload_id: str, thumbnail: bool = False
    ) -> Upload:
        """The record of an uploaded file (or of its thumbnail), for *user*:
        only who may read its room now (the URL is no capability), and before
        it is sent only its uploader. A removed upload, one of a deleted
        message and one in a room the user may not read are refused alike.

        :raises ChatError: ``not_found``.
        """
        upload = self._keeper().uploads.get(upload_id)
        if (
            upload is not None
            and (upload.thumbnail or not thumbnail)
            and (
                upload.uploader_id == user.id
                if upload.message_id is None
                else self._may_read(user, upload.room)
            )
        ):
            return upload
        raise ChatError("not_found", "There is no such file.")

    def attachment_content(self, upload: Upload, thumbnail: bool = False) -> bytes:
        """The bytes of *upload* (see :meth:`attachment` for who may).

        :raises ChatError: ``not_found`` (removed meanwhile).
        """
        content = self._keeper().content(upload, thumbnail)
        if content is None:
            raise ChatError("not_found", "There is no such file.")
        return content

    def sweep_attachments(self) -> int:
        """Remove uploads nobody sent within the hour, and those of deleted
        or purged messages (the housekeeping task does it every few minutes;
        ``flask chatroom purge`` too); returns how many."""
        return self.attachments.sweep() if self.attachments is not None else 0

    # -- search -----------------------------------------------------------------------

    def readable_rooms(self, user: Identity) -> list[str]:
        """Every room *user* may read now, by the one rule
        (:meth:`check_may_read`): the configured rooms (with open rooms, every
        room that has messages), their DMs and private rooms, less what the
        host's ``can_join`` refuses."""
        conversations = self.conversations
        mine = (
            {info.room for info in conversations.rooms_of(user.id)}
            if conversations is not None
            else set()
        )
        candidates = set(self.config.rooms or ()) | set(self.store.rooms()) | mine
        return sorted(
            room for room in candidates if self._may_read(user, room, member_of=mine)
        )

    def search(
        self, user: Identity, request: SearchRequest, sid: str | None = None
    ) -> tuple[list[tuple[Message, list[tuple[int, int]]]], str | None]:
        """``search``: messages that match *request*, newest first, each with
        where its words matched; only from rooms *user* may read now (DMs for
        their members), never deleted ones, edited ones by their current text.
        Rate-limited (``search``; without a connection *sid*, the HTTP API, per
        client address too).

        :returns: the results and the cursor of the next page (``None``: no more).
        :raises ChatError: ``invalid_payload`` (a malformed filter),
            ``unknown_room`` (a ``room`` or ``in:`` the user may not read),
            ``rate_limited``, ``unsupported``.
        """
        address = None if sid is not None else self.client_address()
        self.moderation.check_rate(sid, user, "search", address)
        try:
            query = parse_query(request.query)
        except ValueError as exc:
            raise ChatError("invalid_payload", str(exc)) from None
        rooms = self.readable_rooms(user)
        for wanted in (request.room, query.room):
            if wanted is not None:
                if wanted not in rooms:
                    raise ChatError("unknown_room", f"There is no room {wanted!r}.")
                rooms = [wanted]
        if query.empty or not rooms:
            return [], None
        try:
            found, cursor = self.store.search(
                query, rooms, before=request.before, limit=request.limit
            )
        except NotImplementedError:
            raise ChatError(
                "unsupported", "This chat's message store cannot search."
            ) from None
        except ValueError:  # a cursor this store did not give
            raise ChatError(
                "invalid_payload", '"before" must be the "next" of an earlier page.'
            ) from None
        return [(m, highlights(m.text, query)) for m in found], cursor

    # -- the host's own code --------------------------------------------------------

    def send(self, room: str, text: str, sender: str | Identity) -> Message:
        """Post *text* to *room* from host code (see :meth:`Chat.send
        <flask_chatroom.facade.Chat.send>`)."""
        self.ensure_ready()
        if not self.room_exists(room):
            raise ChatError("unknown_room", f"There is no room {room!r}.")
        cleaned = message_text(text, self.config.max_message_length)
        identity = (
            sender
            if isinstance(sender, Identity)
            else Identity(id=SYSTEM_SENDER_ID, name=sender, anonymous=True)
        )
        message = Message(
            room=room,
            client=identity.name,
            text=cleaned,
            user_id=identity.user_id,
            sender_id=identity.id,
        )
        stored, _ = self.publisher.publish(message)
        return stored

    def online(self, room: str) -> list[Identity]:
        """The users in *room* now, one entry per user, in the order they came."""
        self.ensure_ready()
        return self.backends.presence.members(room)


#: The key of the chat in ``app.extensions``.
EXTENSION_KEY = "chatroom"


def _not_your_upload() -> ChatError:
    return ChatError(
        "invalid_attachment",
        "An attachment is not one of your uploads to this room, or it was sent "
        "or removed already.",
    )


def _size(count: int) -> str:
    """*count* bytes for people: ``"10.0 MB"``, ``"12 KB"``."""
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MB"
    return f"{count / 1024:.0f} KB"


def get_service(app: Flask | None = None) -> ChatService:
    """The chat service of *app* (default: the current app).

    :raises RuntimeError: flask-chatroom is not registered on that app.
    """
    target = app if app is not None else current_app
    try:
        service: ChatService = target.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "flask-chatroom is not registered on this app: call "
            "register_chat(app, socketio) or Chatroom(app, socketio) first."
        ) from None
    return service
