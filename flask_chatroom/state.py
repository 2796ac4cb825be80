"""Per-app runtime state, kept in ``app.extensions["chatroom"]``: who is connected,
who is in which room, and the operations that change it and tell the room."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from socketio import PubSubManager

from . import signals
from .identity import (
    Identity,
    from_flask_login,
    from_loader_result,
    guest_from_session,
    new_guest,
)
from .limits import Limit, LocalLimiter, RateLimiter
from .presence import Change, LocalPresence, Presence
from .protocol import (
    EVENT_HISTORY,
    EVENT_MESSAGE,
    EVENT_NOTICE,
    EVENT_PRESENCE,
    EVENT_RENAMED,
    ChatError,
    Message,
    SharedPayload,
    now_ms,
)
from .store import MessageStore
from .userdata import LocalUserData, UserData

log = logging.getLogger("flask_chatroom")

#: The most missed messages a ``join`` with ``since`` sends at once; a client
#: asks for the rest with ``history`` ``{"after": seq}``.
CATCHUP_LIMIT = 500
#: The most messages one ``history`` request (event or HTTP) returns.
MAX_HISTORY_PAGE = 200
#: Rooms with more users than this get no join/leave notices; their ``presence``
#: lists this many users (with the full ``count``), at most once per
#: :data:`PRESENCE_INTERVAL` seconds.
LARGE_ROOM = 100
PRESENCE_INTERVAL = 1.0
#: A large room's list goes to about this many members a second at most: a
#: room of 5,000 gets one every 5 seconds (see :func:`presence_interval`).
PRESENCE_FANOUT = 1000
#: How long (seconds) a room's recent history, as sent on join, is kept in
#: memory. Every message and deletion made through this process replaces it at
#: once; the limit bounds how late a joiner sees what another process wrote
#: without a message queue (``flask chatroom purge``, a script). With a message
#: queue (several processes) it is not kept at all.
HISTORY_CACHE_SECONDS = 2.0
_ROOM_LOCKS = 64

if TYPE_CHECKING:
    from flask_socketio import SocketIO

    from .config import ChatConfig
    from .extension import Chatroom


class ChatState:
    """Everything one Flask app's chat holds at run time.

    :param extension: the :class:`~flask_chatroom.Chatroom` that set it up.
    :param socketio: the host's ``SocketIO`` object.
    :param config: the validated ``CHATROOM_*`` configuration.
    :param store: where messages are kept.
    :param presence: the presence backend (default: in this process).
    :param limiter: the rate limiter (default: in this process).
    :param userdata: nicknames and mutes (default: in this process).
    """

    def __init__(
        self,
        extension: Chatroom,
        socketio: SocketIO,
        config: ChatConfig,
        store: MessageStore,
        presence: Presence | None = None,
        limiter: RateLimiter | None = None,
        userdata: UserData | None = None,
    ) -> None:
        self.extension = extension
        self.socketio = socketio
        self.config = config
        self.store = store
        self.presence = presence or LocalPresence()
        self.limiter = limiter or LocalLimiter(config.rate_limits)
        self.userdata = userdata or LocalUserData()
        # Refusals by the rate limiter, per connection: a bucket of
        # CHATROOM_RATE_LIMIT_DISCONNECT strikes that refills one a second.
        self._strikes = LocalLimiter(
            {"strike": Limit(1.0, config.rate_limit_disconnect or 1)}
        )
        # Publishing to a room and joining it take the room's lock, so a joining
        # client gets every earlier message from the store and every later one
        # live: none twice, none missing, in order (within this process).
        self._room_locks = [threading.Lock() for _ in range(_ROOM_LOCKS)]
        self._identities: dict[str, Identity] = {}
        # user id -> that user's connections in this process
        self._sids_of: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._housekeeping = False
        #: whether :mod:`flask_chatroom.transport` is in front of Socket.IO
        self.transport_ready = False
        #: whether :mod:`flask_chatroom.websocket` serves the WebSocket transport
        self.fast_websocket = False
        #: whether :meth:`Chatroom.finish_setup` ran
        self.setup_finished = False
        self._presence_due: set[str] = set()
        # room -> messages waiting to be stored and broadcast (see publish)
        self._publishing: dict[str, list[_Publishing]] = {}
        # room -> (monotonic time, the history payload sent on join)
        self._recent: dict[str, tuple[float, SharedPayload]] = {}

    # -- identity -------------------------------------------------------------------

    def identify(self) -> Identity | None:
        """Who the current request is, or ``None`` for a visitor who is not signed in.

        Uses the extension's identity loader, else Flask-Login; see
        :mod:`flask_chatroom.identity`.
        """
        loader = self.extension.identity_loader_callback
        if loader is not None:
            return from_loader_result(loader())
        return from_flask_login(self.config.user_name_attribute)

    def guest(self) -> Identity:
        """The current visitor as a guest: from the session, or new; with the
        nickname they picked, if any."""
        guest = guest_from_session(self.config.guest_prefix, create=False) or new_guest(
            self.config.guest_prefix
        )
        nickname = self.userdata.nickname(guest.id)
        return replace(guest, name=nickname) if nickname else guest

    # -- connections ----------------------------------------------------------------

    def start_housekeeping(self) -> None:
        """Start the background task that keeps shared presence fresh (once).

        Every third of ``CHATROOM_PRESENCE_EXPIRY`` it renews this process's
        heartbeat and removes the presence of processes that died, telling their
        rooms. Only backends shared between processes need it.
        """
        if self._housekeeping or type(self.presence).sweep is Presence.sweep:
            return
        self._housekeeping = True
        self.socketio.start_background_task(self._housekeep, app_object())

    def stop_housekeeping(self) -> None:
        """End the housekeeping task (after its current sleep)."""
        self._housekeeping = False

    def _housekeep(self, app: Flask) -> None:
        interval = self.config.presence_expiry / 3
        while self._housekeeping:
            self.socketio.sleep(interval)
            if not self._housekeeping:
                return
            try:
                changes = self.presence.sweep()
                with app.app_context():
                    for change in changes:
                        self._announce(change)
            except Exception:
                log.exception("chat: presence housekeeping failed; retrying")

    def connect(self, sid: str, identity: Identity) -> None:
        """Record connection *sid* as *identity* (it is in no room yet).

        :raises ChatError: ``too_many_connections`` when the user already has
            ``CHATROOM_MAX_CONNECTIONS_PER_USER`` connections.
        """
        self.start_housekeeping()
        self._forget_gone(identity.id)
        with self._lock:
            sids = self._sids_of.setdefault(identity.id, set())
            if len(sids) >= self.config.max_connections_per_user:
                raise ChatError(
                    "too_many_connections", "You have too many chat windows open."
                )
            sids.add(sid)
            self._identities[sid] = identity

    def _forget_gone(self, user_id: str) -> None:
        """Forget this user's connections that Socket.IO no longer has.

        They exist when a host's own ``disconnect`` handler on a shared namespace
        (``CHATROOM_NAMESPACE = "/"``) ran instead of the chat's.
        """
        manager = self.socketio.server.manager
        namespace = self.config.namespace
        gone = [
            sid
            for sid in list(self._sids_of.get(user_id, ()))
            if not manager.is_connected(sid, namespace)
            and sid not in manager.pending_connect.get(namespace, ())
        ]
        for sid in gone:
            self.disconnect(sid)

    def identity_of(self, sid: str) -> Identity | None:
        """Who connection *sid* speaks as, if it is connected."""
        return self._identities.get(sid)

    def disconnect(self, sid: str) -> None:
        """Connection *sid* went away: it leaves its rooms and is forgotten.

        The rooms are told from a task of its own: emitting here could find
        another connection past its ping timeout, whose close runs this handler
        again, inside this one (a deep recursion when many clients time out at
        once).
        """
        changes = self.presence.disconnect(sid)
        with self._lock:
            identity = self._identities.pop(sid, None)
            if identity is not None:
                sids = self._sids_of.get(identity.id, set())
                sids.discard(sid)
                if not sids:
                    self._sids_of.pop(identity.id, None)
        if changes:
            self.socketio.start_background_task(
                self._announce_all, changes, app_object()
            )

    def _announce_all(self, changes: list[Change], app: Flask) -> None:
        with app.app_context():
            for change in changes:
                self._announce(change)

    @property
    def connection_count(self) -> int:
        """How many connections the chat namespace has in this process."""
        return len(self._identities)

    def set_nickname(self, sid: str, name: str) -> Identity:
        """Give the guest behind *sid* the nickname *name* (in every tab)."""
        identity = self._identities[sid]
        renamed = replace(identity, name=name)
        self.userdata.set_nickname(identity.id, name)
        with self._lock:
            sids = list(self._sids_of.get(identity.id, ()))
            for other in sids:
                self._identities[other] = renamed
        rooms: set[str] = set()
        for other in sids:
            rooms.update(self.presence.rename(other, renamed))
            if other != sid:  # the other tabs learn their new name
                self.emit(EVENT_RENAMED, {"client": name}, to=other)
        for room in sorted(rooms):
            self.emit_presence(room)
        return renamed

    def signed_in_names(self) -> set[str]:
        """The display names (case-folded) of signed-in users connected now."""
        identities = list(self._identities.values())
        return {i.name.casefold() for i in identities if not i.anonymous}

    # -- limits -------------------------------------------------------------------

    def check_rate(self, sid: str, identity: Identity, action: str) -> None:
        """Take a token for *action* from the user's bucket.

        :raises ChatError: ``rate_limited`` with ``retry_after``. A connection
            refused more than ``CHATROOM_RATE_LIMIT_DISCONNECT`` times, faster
            than once a second, is disconnected: it keeps going far past the limit.
        """
        retry_after = self.limiter.hit(identity.id, action)
        if retry_after is None:
            return
        if (
            self.config.rate_limit_disconnect is not None
            and self._strikes.hit(sid, "strike") is not None
        ):
            self.drop_connection(sid)
        raise ChatError(
            "rate_limited",
            "You are doing that too fast; wait a moment.",
            retry_after=retry_after,
        )

    def drop_connection(self, sid: str) -> None:
        """Close the whole Engine.IO connection behind *sid* (not just the chat's
        namespace), so an abusive client stops costing the server anything."""
        server = self.socketio.server
        eio_sid = server.manager.eio_sid_from_sid(sid, self.config.namespace)
        log.warning("chat: disconnected sid %s for ignoring rate limits", sid)
        if eio_sid is not None and eio_sid in server.eio.sockets:
            server.eio.disconnect(eio_sid)
        else:  # no Engine.IO socket of its own (Flask-SocketIO's test client)
            server.disconnect(sid, namespace=self.config.namespace)

    def mute(self, room: str, user_id: str, seconds: int) -> int:
        """Mute *user_id* in *room* for *seconds* (0 unmutes); returns until (ms)."""
        until = now_ms() + seconds * 1000
        self.userdata.set_mute(room, user_id, until if seconds else None)
        return until

    def check_not_muted(self, room: str, identity: Identity) -> None:
        """:raises ChatError: ``muted`` while *identity* is muted in *room*."""
        until = self.userdata.muted_until(room, identity.id)
        left = 0 if until is None else until - now_ms()
        if left <= 0:
            return
        raise ChatError(
            "muted", "A moderator muted you in this room.", retry_after=left / 1000
        )

    # -- rooms ----------------------------------------------------------------------

    def _room_lock(self, room: str) -> threading.Lock:
        return self._room_locks[hash(room) % _ROOM_LOCKS]

    def join(self, sid: str, room: str, since: int | None = None) -> None:
        """Put connection *sid* in *room*, send it the room's history (the last
        ``CHATROOM_HISTORY_LIMIT`` messages, or those after *since*), and tell the
        room if the user is new there."""
        identity = self._identities[sid]
        with self._room_lock(room):
            self.socketio.server.enter_room(sid, room, namespace=self.config.namespace)
            history: dict[str, Any]
            if since is None:
                history = self.recent_history(room)
            else:
                messages, more = self.store.since(room, since, limit=CATCHUP_LIMIT)
                history = {
                    "room": room,
                    "messages": [m.to_wire() for m in messages],
                    "has_more": more,
                    "since": since,
                }
            self.emit(EVENT_HISTORY, history, to=sid)
        change = self.presence.join(room, sid, identity)
        if change.kind is None:
            # Another tab of the same user was already here: only this tab
            # needs the member list.
            self.emit_presence(room, to=sid)
        else:
            self._announce(change)

    def recent_history(self, room: str) -> SharedPayload:
        """The ``history`` payload a newcomer to *room* gets: its last
        :data:`CHATROOM_HISTORY_LIMIT` messages. Call it under the room's lock.

        Kept for :data:`HISTORY_CACHE_SECONDS` in a single process, so a crowd
        joining costs one query and one encoding, not one each."""
        now = time.monotonic()
        cached = self._recent.get(room)
        if cached is not None and now - cached[0] < HISTORY_CACHE_SECONDS:
            return cached[1]
        messages, more = self.store.history(room, limit=self.config.history_limit)
        history = SharedPayload(
            room=room,
            messages=[m.to_wire() for m in messages],
            has_more=more,
            since=None,
        )
        if not isinstance(self.socketio.server.manager, PubSubManager):
            self._recent[room] = (now, history)
        return history

    def forget_history(self, room: str | None = None) -> None:
        """Drop the kept history of *room* (of every room if ``None``) after a
        change to it."""
        if room is None:
            self._recent.clear()
        else:
            self._recent.pop(room, None)

    def mark_deleted(self, message_id: str) -> Message | None:
        """Mark a message deleted in the store; ``None`` if there is none."""
        deleted = self.store.mark_deleted(message_id)
        if deleted is not None:
            with self._room_lock(deleted.room):
                self.forget_history(deleted.room)
        return deleted

    def leave(self, sid: str, room: str) -> bool:
        """Take connection *sid* out of *room*; ``False`` if it was not there."""
        change = self.presence.leave(room, sid)
        if change is None:
            return False
        self.socketio.server.leave_room(sid, room, namespace=self.config.namespace)
        self._announce(change)
        return True

    def is_member(self, sid: str, room: str) -> bool:
        """Whether connection *sid* is in *room*."""
        return self.presence.is_member(sid, room)

    def _announce(self, change: Change) -> None:
        """Tell *change*'s room: a ``notice`` and the new ``presence``.

        Every join or leave costs a delivery to every member, so rooms with more
        than :data:`LARGE_ROOM` users get no notices, and their presence list
        (capped, with the full count) at most once per :data:`PRESENCE_INTERVAL`.
        """
        large = self.presence.count(change.room) > LARGE_ROOM
        if change.kind is not None:
            if not large:
                self.emit(
                    EVENT_NOTICE,
                    {
                        "room": change.room,
                        "kind": change.kind,
                        "client": change.identity.name,
                        "user_id": change.identity.user_id,
                        "ts": now_ms(),
                    },
                    to=change.room,
                )
            signal = signals.user_joined if change.kind == "join" else signals.user_left
            _send_signal(signal, room=change.room, user=change.identity)
        if large:
            self._presence_soon(change.room)
        else:
            self._send_presence(
                change.room, self.presence.members(change.room), change.room
            )

    def _presence_soon(self, room: str) -> None:
        with self._lock:
            if room in self._presence_due:
                return
            self._presence_due.add(room)
        self.socketio.start_background_task(self._presence_later, room, app_object())

    def _presence_later(self, room: str, app: Flask) -> None:
        self.socketio.sleep(presence_interval(self.presence.count(room)))
        with self._lock:
            self._presence_due.discard(room)
        with app.app_context():
            self.emit_presence(room)

    def emit_presence(self, room: str, to: str | None = None) -> None:
        """Send the member list of *room* to the room (or to one connection)."""
        self._send_presence(room, self.presence.members(room), to or room)

    def _send_presence(self, room: str, members: list[Identity], to: str) -> None:
        users = [identity.to_wire() for identity in members[:LARGE_ROOM]]
        self.emit(
            EVENT_PRESENCE, {"room": room, "users": users, "count": len(members)}, to=to
        )

    # -- messages -------------------------------------------------------------------

    def publish(self, message: Message) -> tuple[Message, bool]:
        """Store *message*, then broadcast it to every member of its room, sender
        included.

        Messages for the same room that arrive together are committed together
        (:meth:`~flask_chatroom.store.MessageStore.add_many`) and broadcast in
        ``seq`` order; each is acknowledged once its commit is done.

        :returns: the stored message (with its ``seq``) and whether it is new;
            a retry of a message already stored is not broadcast again.
        """
        entry = _Publishing(message)
        with self._lock:
            self._publishing.setdefault(message.room, []).append(entry)
        # Let other messages that have arrived join this one: whoever takes the
        # room's lock first stores everything waiting for the room in one
        # commit, then broadcasts it in seq order.
        self.socketio.sleep(0)
        with self._room_lock(message.room):
            if entry.result is None and entry.error is None:
                with self._lock:
                    batch = self._publishing.pop(message.room, [])
                self._publish_batch(batch)
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        stored, created = entry.result
        if created:
            _send_signal(signals.message_sent, message=stored)
        return stored, created

    def _publish_batch(self, batch: list[_Publishing]) -> None:
        """Store *batch* (one room's waiting messages) and broadcast the new
        ones; every entry gets its result or the error. Under the room's lock."""
        try:
            results = self.store.add_many([entry.message for entry in batch])
        except Exception as error:  # each publisher raises it for its message
            for entry in batch:
                entry.error = error
            return
        for entry, result in zip(batch, results, strict=True):
            entry.result = result
        for stored, created in results:
            if created:
                self.forget_history(stored.room)
                self.emit(EVENT_MESSAGE, stored.to_wire(), to=stored.room)

    def emit(self, event: str, data: Any, to: str, skip_sid: str | None = None) -> None:
        """Emit *event* on the chat's namespace to a room or one connection."""
        self.socketio.emit(
            event, data, to=to, skip_sid=skip_sid, namespace=self.config.namespace
        )


class _Publishing:
    """A message waiting in :meth:`ChatState.publish` for its room's lock."""

    __slots__ = ("error", "message", "result")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.result: tuple[Message, bool] | None = None
        self.error: Exception | None = None


def presence_interval(members: int) -> float:
    """Seconds between two ``presence`` lists of a large room of *members*:
    :data:`PRESENCE_INTERVAL`, longer in rooms of over :data:`PRESENCE_FANOUT`
    members, so that a list reaches about that many members a second."""
    return PRESENCE_INTERVAL * max(1.0, members / PRESENCE_FANOUT)


def _send_signal(signal: Any, **kwargs: Any) -> None:
    """Send *signal*; a failing receiver is logged, and what happened stands (the
    message is stored and broadcast, the user joined)."""
    try:
        signal.send(app_object(), **kwargs)
    except Exception:
        log.exception("chat: a receiver of the %s signal failed", signal.name)


def app_object() -> Flask:
    """The current app itself (not the proxy), as signals want their sender."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def get_state(app: Flask | None = None) -> ChatState:
    """The chat state of *app* (default: the current app).

    :raises RuntimeError: flask-chatroom is not registered on that app.
    """
    target = app if app is not None else current_app
    try:
        state: ChatState = target.extensions["chatroom"]
    except KeyError:
        raise RuntimeError(
            "flask-chatroom is not registered on this app: call "
            "register_chat(app, socketio) or Chatroom(app, socketio) first."
        ) from None
    return state
