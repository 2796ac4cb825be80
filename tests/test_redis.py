"""The Redis backends: presence, rate limits and user data shared by processes.

Two backend objects stand for two worker processes; a real redis-server is
started by the tests."""

from __future__ import annotations

import time

import redis

from flask_chatroom import Identity
from flask_chatroom.backends.redis import RedisLimiter, RedisPresence, RedisUserData
from flask_chatroom.limits import Limit

from .conftest import make_app

ADA = Identity(id="1", name="Ada", anonymous=False)
BOB = Identity(id="2", name="Bob", anonymous=False)


def two_processes(url: str, expiry: float = 15) -> tuple[RedisPresence, RedisPresence]:
    client = redis.Redis.from_url(url)
    return (
        RedisPresence(client, "test", expiry),
        RedisPresence(client, "test", expiry),
    )


def test_presence_spans_processes_with_one_entry_per_user(redis_url: str) -> None:
    a, b = two_processes(redis_url)
    assert a.join("lobby", "a1", ADA).kind == "join"
    assert b.join("lobby", "b1", BOB).kind == "join"
    assert b.join("lobby", "b2", ADA).kind is None  # Ada's second tab, elsewhere
    assert [u.name for u in a.members("lobby")] == ["Ada", "Bob"]
    assert a.rooms() == {"lobby": 2}
    assert a.rooms_of("a1") == {"lobby"} and a.rooms_of("b1") == set()
    assert a.leave("lobby", "a1").kind is None  # Ada is still here through b2
    assert b.leave("lobby", "b2").kind == "leave"
    assert [u.name for u in a.members("lobby")] == ["Bob"]
    assert [c.kind for c in b.disconnect("b1")] == ["leave"]
    assert a.rooms() == {}


def test_a_dead_process_disappears_and_a_live_one_sweeps_it(redis_url: str) -> None:
    a, b = two_processes(redis_url, expiry=1)
    a.join("lobby", "a1", ADA)
    b.join("lobby", "b1", BOB)
    b.join("dev", "b2", BOB)
    assert len(a.members("lobby")) == 2
    time.sleep(0.7)
    a.heartbeat()  # a keeps beating; b was killed and stops
    time.sleep(0.5)
    assert [u.name for u in a.members("lobby")] == ["Ada"]  # ignored at once
    changes = a.sweep()
    assert sorted((c.room, c.kind, c.identity.name) for c in changes) == [
        ("dev", "leave", "Bob"),
        ("lobby", "leave", "Bob"),
    ]
    assert a.sweep() == []  # swept once only
    assert a.rooms() == {"lobby": 1}


def test_rename_updates_the_shared_entries(redis_url: str) -> None:
    a, b = two_processes(redis_url)
    guest = Identity(id="guest:1", name="Guest 1234")
    a.join("lobby", "a1", guest)
    assert a.rename("a1", Identity(id="guest:1", name="Nova")) == ["lobby"]
    assert [u.name for u in b.members("lobby")] == ["Nova"]


def test_rate_limits_are_shared_by_processes(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limits = {"message": Limit(1.0, 3)}
    a, b = RedisLimiter(client, "test", limits), RedisLimiter(client, "test", limits)
    results = [(a if i % 2 else b).hit("ada", "message") for i in range(4)]
    assert results[:3] == [None, None, None]
    assert 0 < results[3] <= 1.0
    assert a.hit("bob", "message") is None
    assert a.hit("ada", "typing") is None


def test_nicknames_and_mutes_are_shared_and_mutes_expire(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    a, b = RedisUserData(client, "test"), RedisUserData(client, "test")
    a.set_nickname("guest:1", "Nova")
    assert b.nickname("guest:1") == "Nova"
    assert b.nickname("guest:2") is None
    until = int(time.time() * 1000) + 300
    a.set_mute("lobby", "1", until)
    assert b.muted_until("lobby", "1") == until
    time.sleep(0.4)
    assert b.muted_until("lobby", "1") is None
    a.set_mute("lobby", "1", until + 60_000)
    a.set_mute("lobby", "1", None)
    assert b.muted_until("lobby", "1") is None


def test_the_chat_picks_redis_from_the_message_queue_or_its_own_setting(
    redis_url: str,
) -> None:
    app = make_app(CHATROOM_REDIS_URL=redis_url)
    state = app.extensions["chatroom"]
    assert isinstance(state.backends.presence, RedisPresence)
    assert isinstance(state.backends.limiter, RedisLimiter)
    assert isinstance(state.backends.userdata, RedisUserData)
    client = app.extensions["socketio"].test_client(app, namespace="/chat")
    ack = client.emit(
        "message broadcast", {"message": "hi"}, namespace="/chat", callback=True
    )
    assert ack["ok"] is True
    assert [u.name for u in state.backends.presence.members("lobby")] == [
        client.get_received("/chat")[0]["args"][0]["client"]
    ]
    state.announcer.stop_housekeeping()  # its Redis goes away when the tests end
    from flask_chatroom.presence import LocalPresence

    assert isinstance(
        make_app().extensions["chatroom"].backends.presence, LocalPresence
    )


def test_a_message_queue_given_after_the_chat_is_still_used(redis_url: str) -> None:
    from flask import Flask
    from flask_socketio import SocketIO

    from flask_chatroom import register_chat
    from flask_chatroom.fastpath.middleware import WebSocketTransport

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", CHATROOM_DATABASE_URL="memory://")
    socketio = SocketIO()
    register_chat(app, socketio)  # the chat first ...
    socketio.init_app(app, async_mode="threading", message_queue=redis_url)  # ... then
    state = app.extensions["chatroom"]
    assert not state.ready
    assert app.test_client().get("/chat/").status_code == 200  # the first request
    assert state.ready
    assert isinstance(state.backends.presence, RedisPresence)
    assert isinstance(state.backends.limiter, RedisLimiter)
    assert isinstance(app.wsgi_app, WebSocketTransport)
    state.announcer.stop_housekeeping()


def test_a_nickname_lives_as_long_in_memory_as_in_redis(redis_url: str) -> None:
    from flask_chatroom.backends.local import LocalUserData

    ttl = 3600
    shared = RedisUserData(redis.Redis.from_url(redis_url), "ttl-test", ttl)
    shared.set_nickname("guest:1", "Nova")
    assert ttl - 5 <= shared.redis.ttl("ttl-test:nick:guest:1") <= ttl
    shared.redis.expire("ttl-test:nick:guest:1", 10)
    shared.touch_nickname("guest:1")  # the guest connected again
    assert ttl - 5 <= shared.redis.ttl("ttl-test:nick:guest:1") <= ttl
    shared.touch_nickname("guest:2")  # no nickname: nothing is made up
    assert shared.nickname("guest:2") is None

    now = [1000.0]
    local = LocalUserData(ttl, clock=lambda: now[0])
    local.set_nickname("guest:1", "Nova")
    now[0] += ttl - 1
    local.touch_nickname("guest:1")
    now[0] += ttl - 1
    assert local.nickname("guest:1") == "Nova"
    now[0] += 1
    assert local.nickname("guest:1") is None
    # Expired names are dropped, not only hidden: memory stays bounded.
    for n in range(2, 1001):
        local.set_nickname(f"guest:{n}", "Someone")
    assert len(local) == 999
