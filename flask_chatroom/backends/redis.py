"""Shared state in Redis, for a chat served by many worker processes.

Presence, rate limits, nicknames and mutes must hold across every process that
serves the chat. These backends keep them in Redis; the chat picks them when
Flask-SocketIO's ``message_queue`` is a Redis URL, or when ``CHATROOM_REDIS_URL``
is set. Install them with ``pip install "flask-chatroom[redis]"``.

Each process announces that it is alive with a key that expires after
``CHATROOM_PRESENCE_EXPIRY`` seconds and is renewed a third of that often. Presence
entries of a process whose key expired (it was killed) are ignored at once and
removed by the next sweep of a live process, which tells the rooms.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from typing import Any

import redis

from ..config import Limit
from ..identity import Identity
from .interfaces import Change, Presence, RateLimiter, UserData


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _identity_to_json(identity: Identity) -> dict[str, Any]:
    return {
        "id": identity.id,
        "name": identity.name,
        "anonymous": identity.anonymous,
        "avatar_url": identity.avatar_url,
        "roles": sorted(identity.roles),
    }


def _identity_from_json(data: dict[str, Any]) -> Identity:
    return Identity(
        id=data["id"],
        name=data["name"],
        anonymous=data["anonymous"],
        avatar_url=data.get("avatar_url"),
        roles=frozenset(data.get("roles") or ()),
    )


class RedisPresence(Presence):
    """Presence shared by every process through Redis.

    Keys (under *prefix*): ``room:<room>`` a hash sid -> entry (identity, process,
    joined at); ``rooms`` the set of rooms with entries; ``user:<user id>`` a
    hash sid -> process of the user's open connections; ``alive:<process>`` a key
    that expires when the process stops renewing it. Which rooms a connection is
    in is also kept in this process (a connection lives in one process), so
    checking membership on each message costs no round trip.

    :param client: a ``redis.Redis`` client.
    :param prefix: the key prefix, e.g. ``chatroom:/chat``.
    :param expiry: seconds after which a silent process's entries are ignored.
    """

    def __init__(self, client: redis.Redis, prefix: str, expiry: float = 15.0) -> None:
        self.redis = client
        self.prefix = prefix
        self.expiry = expiry
        self._lock = threading.Lock()
        self._local: dict[str, set[str]] = {}
        self._user_of: dict[str, str] = {}
        self._pid = 0
        self._process = ""

    @property
    def process(self) -> str:
        """This process's id (new after a fork, so preloaded apps work)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._process = uuid.uuid4().hex
            self.heartbeat()
        return self._process

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def heartbeat(self) -> None:
        """Say this process is alive for another ``expiry`` seconds."""
        self.redis.set(
            self._key("alive", self.process), "1", px=int(self.expiry * 1000)
        )

    def _entries(self, room: str) -> list[tuple[str, dict[str, Any]]]:
        """The live entries of *room*: (sid, entry), oldest first."""
        raw = self.redis.hgetall(self._key("room", room))
        entries = [(_text(sid), json.loads(value)) for sid, value in raw.items()]
        processes = sorted({entry["p"] for _, entry in entries})
        if processes:
            alive = self.redis.mget([self._key("alive", p) for p in processes])
            live = {p for p, flag in zip(processes, alive, strict=True) if flag}
            entries = [(sid, entry) for sid, entry in entries if entry["p"] in live]
        entries.sort(key=lambda item: item[1]["t"])
        return entries

    def _others_of(self, room: str, user_id: str, sid: str) -> bool:
        return any(
            entry["u"]["id"] == user_id and other != sid
            for other, entry in self._entries(room)
        )

    def join(self, room: str, sid: str, identity: Identity) -> Change:
        entry = {
            "u": _identity_to_json(identity),
            "p": self.process,
            "t": time.time_ns(),
        }
        pipe = self.redis.pipeline()
        pipe.hset(self._key("room", room), sid, json.dumps(entry))
        pipe.sadd(self._key("rooms"), room)
        pipe.execute()
        with self._lock:
            self._local.setdefault(sid, set()).add(room)
        first = not self._others_of(room, identity.id, sid)
        return Change(room, identity, "join" if first else None)

    def leave(self, room: str, sid: str) -> Change | None:
        with self._lock:
            rooms = self._local.get(sid)
            if rooms is None or room not in rooms:
                return None
            rooms.discard(room)
        key = self._key("room", room)
        raw = self.redis.hget(key, sid)
        if raw is None or not self.redis.hdel(key, sid):
            return None
        identity = _identity_from_json(json.loads(raw)["u"])
        last = not self._others_of(room, identity.id, sid)
        return Change(room, identity, "leave" if last else None)

    def connect(self, sid: str, identity: Identity) -> None:
        self.redis.hset(self._key("user", identity.id), sid, self.process)
        with self._lock:
            self._user_of[sid] = identity.id

    def connections_of(self, user_id: str) -> list[str]:
        key = self._key("user", user_id)
        raw = {_text(sid): _text(p) for sid, p in self.redis.hgetall(key).items()}
        processes = sorted(set(raw.values()))
        if not processes:
            return []
        alive = self.redis.mget([self._key("alive", p) for p in processes])
        live = {p for p, flag in zip(processes, alive, strict=True) if flag}
        dead = [sid for sid, p in raw.items() if p not in live]
        if dead:  # connections of processes that died
            self.redis.hdel(key, *dead)
        return sorted(sid for sid, p in raw.items() if p in live)

    def disconnect(self, sid: str) -> list[Change]:
        with self._lock:
            rooms = sorted(self._local.get(sid, ()))
            user_id = self._user_of.pop(sid, None)
        if user_id is not None:
            self.redis.hdel(self._key("user", user_id), sid)
        changes = [self.leave(room, sid) for room in rooms]
        with self._lock:
            self._local.pop(sid, None)
        return [change for change in changes if change is not None]

    def rename(self, sid: str, identity: Identity) -> list[str]:
        with self._lock:
            rooms = sorted(self._local.get(sid, ()))
        for room in rooms:
            key = self._key("room", room)
            raw = self.redis.hget(key, sid)
            if raw is not None:
                entry = json.loads(raw)
                entry["u"] = _identity_to_json(identity)
                self.redis.hset(key, sid, json.dumps(entry))
        return rooms

    def members(self, room: str) -> list[Identity]:
        users: dict[str, Identity] = {}
        for _, entry in self._entries(room):
            users.setdefault(entry["u"]["id"], _identity_from_json(entry["u"]))
        return list(users.values())

    def rooms(self) -> dict[str, int]:
        counts = {}
        for raw in self.redis.smembers(self._key("rooms")):
            room = _text(raw)
            count = len(self.members(room))
            if count:
                counts[room] = count
        return counts

    def rooms_of(self, sid: str) -> set[str]:
        with self._lock:
            return set(self._local.get(sid, ()))

    def is_member(self, sid: str, room: str) -> bool:
        return room in self._local.get(sid, ())

    def sweep(self) -> list[Change]:
        """Remove the entries of dead processes and empty rooms; renew our own."""
        self.heartbeat()
        changes: list[Change] = []
        for raw_room in self.redis.smembers(self._key("rooms")):
            room = _text(raw_room)
            key = self._key("room", room)
            raw = self.redis.hgetall(key)
            if not raw:
                self.redis.srem(self._key("rooms"), room)
                continue
            live_sids = {sid for sid, _ in self._entries(room)}
            for sid_bytes, value in raw.items():
                sid = _text(sid_bytes)
                if sid in live_sids or not self.redis.hdel(key, sid):
                    continue  # alive, or another process swept it first
                identity = _identity_from_json(json.loads(value)["u"])
                last = not self._others_of(room, identity.id, sid)
                changes.append(Change(room, identity, "leave" if last else None))
        return changes


# A token bucket, atomically in Redis; time from the Redis server's clock.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(bucket[1]) or burst
local ts = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local retry = 0
if tokens >= 1 then tokens = tokens - 1 else retry = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(retry)
"""


class RedisLimiter(RateLimiter):
    """Token buckets in Redis, shared by every process (one round trip a hit).

    :param client: a ``redis.Redis`` client.
    :param prefix: the key prefix.
    :param limits: action -> :class:`~flask_chatroom.limits.Limit`.
    """

    def __init__(self, client: redis.Redis, prefix: str, limits: dict[str, Limit]):
        self.redis = client
        self.prefix = prefix
        self.limits = limits
        self._script = client.register_script(_TOKEN_BUCKET)

    def hit(self, key: str, action: str) -> float | None:
        limit = self.limits.get(action)
        if limit is None:
            return None
        retry = float(
            self._script(
                keys=[f"{self.prefix}:limit:{action}:{key}"],
                args=[limit.rate, limit.burst],
            )
        )
        return retry if retry > 0 else None


class RedisUserData(UserData):
    """Nicknames and mutes in Redis, shared by every process; they expire.

    :param ttl: ``CHATROOM_GUEST_TTL``: seconds a nickname is kept after it was
        last set or touched.
    """

    def __init__(self, client: redis.Redis, prefix: str, ttl: int = 24 * 3600) -> None:
        self.redis = client
        self.prefix = prefix
        self.ttl = ttl

    def nickname(self, guest_id: str) -> str | None:
        value = self.redis.get(f"{self.prefix}:nick:{guest_id}")
        return _text(value) if value is not None else None

    def set_nickname(self, guest_id: str, name: str) -> None:
        self.redis.set(f"{self.prefix}:nick:{guest_id}", name, ex=self.ttl)

    def touch_nickname(self, guest_id: str) -> None:
        self.redis.expire(f"{self.prefix}:nick:{guest_id}", self.ttl)

    def muted_until(self, room: str, user_id: str) -> int | None:
        value = self.redis.get(f"{self.prefix}:mute:{room}:{user_id}")
        return int(value) if value is not None else None

    def set_mute(self, room: str, user_id: str, until: int | None) -> None:
        key = f"{self.prefix}:mute:{room}:{user_id}"
        if until is None:
            self.redis.delete(key)
        else:
            self.redis.set(key, str(until), pxat=until)
