"""The holes a red-team review found in identity, limits and announcements,
each closed and kept closed on a real server: a guest is one identity for its
connection, connects and catch-ups are limited per user and per address, a
client that honours ``retry_after`` is never cut off, churn is coalesced, the
room list and ``typing`` obey the host's hooks, caches are bounded, and
privileged actions see the user as they are now."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import redis
import websocket
from flask import Flask
from flask_socketio import SocketIOTestClient

from flask_chatroom import Chatroom, get_chat
from flask_chatroom.core import rooms as core_rooms
from flask_chatroom.core.announcer import ANNOUNCE_BURST, ANNOUNCE_RATE
from flask_chatroom.service import get_service

from .conftest import ChatClient, LiveServer, call, events, make_chat_app

Factory = Callable[..., LiveServer]


class RawChat:
    """A Socket.IO client written by hand over one WebSocket, without cookies:
    it sends exactly what a hostile script would."""

    def __init__(self, url: str, headers: list[str] | None = None) -> None:
        self.ws = websocket.create_connection(
            url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
            origin=url,
            timeout=10,
            header=headers or [],
        )
        assert self.ws.recv().startswith("0{")
        self.next_id = 0
        self.seen: list[tuple[str, Any]] = []

    def frame(self) -> str:
        """The next frame that is not a ping (pings are answered)."""
        while True:
            data = self.ws.recv()
            if data == "2":
                self.ws.send("3")
                continue
            return str(data)

    def _until(self, done: Callable[[str], Any]) -> Any:
        while True:
            data = self.frame()
            if data.startswith('42/chat,["'):
                event, *args = json.loads(data[len("42/chat,") :])
                self.seen.append((event, args[0] if args else None))
            result = done(data)
            if result is not None:
                return result

    def connect(self, auth: dict[str, Any] | None = None) -> dict[str, Any]:
        """Connect the chat's namespace: ``{"welcome": ...}`` or
        ``{"refused": data}``."""
        self.seen.clear()
        self.ws.send("40/chat," + (json.dumps(auth) if auth else ""))

        def done(data: str) -> dict[str, Any] | None:
            if data.startswith("40/chat,{"):
                welcome = [a for e, a in self.seen if e == "welcome"]
                return {"welcome": welcome[0] if welcome else None}
            if data.startswith("44/chat,"):
                return {"refused": json.loads(data[len("44/chat,") :])}
            return None

        result: dict[str, Any] = self._until(done)
        return result

    def leave(self) -> None:
        self.ws.send("41/chat,")

    def call(self, event: str, payload: Any) -> Any:
        ack_id = self.next_id
        self.next_id += 1
        self.ws.send(f"42/chat,{ack_id}" + json.dumps([event, payload]))
        prefix = f"43/chat,{ack_id}["
        return self._until(
            lambda data: (
                json.loads(data[len(prefix) - 1 :])[0]
                if data.startswith(prefix)
                else None
            )
        )

    def close(self) -> None:
        self.ws.close()


def refused_code(result: dict[str, Any]) -> str | None:
    refused = result.get("refused")
    return refused["data"]["code"] if refused else None


# -- a guest is one identity ---------------------------------------------------------


def test_a_namespace_reconnect_keeps_the_guest_and_its_buckets(
    live_server: LiveServer,
) -> None:
    raw = RawChat(live_server.url)
    guest = raw.connect()["welcome"]["id"]
    accepted = 0
    start = time.monotonic()
    for cycle in range(4):
        if cycle:
            raw.leave()
            assert raw.connect()["welcome"]["id"] == guest
        for i in range(10):
            ack = raw.call("message broadcast", {"message": f"{cycle}.{i}"})
            accepted += ack["ok"] is True
    elapsed = time.monotonic() - start
    # One bucket (5 a second, burst 10) for all four namespace sessions: before,
    # each reconnect was a new guest with a full bucket (40 accepted).
    assert accepted <= 10 + 5 * elapsed + 1, (accepted, elapsed)
    raw.close()


def test_a_guest_token_brings_the_same_guest_back(
    live_server: LiveServer, clients: Callable[..., ChatClient]
) -> None:
    first = clients(live_server.url).next("welcome")
    assert isinstance(first["guest_token"], str)
    again = clients(live_server.url, auth={"guest_token": first["guest_token"]})
    assert again.next("welcome")["id"] == first["id"]
    forged = first["guest_token"][:-2] + (
        "AA" if first["guest_token"][-2:] != "AA" else "BB"
    )
    other = clients(live_server.url, auth={"guest_token": forged})
    assert other.next("welcome")["id"] != first["id"]


def test_connects_are_limited_and_churn_is_announced_coalesced(
    live_server: LiveServer, clients: Callable[..., ChatClient]
) -> None:
    watcher = clients(live_server.url, events=["notice", "presence"])
    watcher.next("welcome")
    watcher.next("presence")
    raw = RawChat(live_server.url)
    raw.connect()
    start = time.monotonic()
    outcomes = []
    for _ in range(60):
        raw.leave()
        outcomes.append(refused_code(raw.connect()))
    elapsed = time.monotonic() - start
    raw.close()
    # The connect bucket (1 a second, burst 10) refuses most of the 60.
    assert outcomes.count("rate_limited") >= 60 - 10 - int(elapsed) - 2, outcomes
    time.sleep(2.5)  # the last coalesced announcement goes out
    told = []
    while not watcher.inbox.empty():
        name, _ = watcher.inbox.get()
        if name in ("notice", "presence"):
            told.append(name)
    window = elapsed + 2.5
    budget = ANNOUNCE_BURST + ANNOUNCE_RATE * window + window + 2
    # Before: two notices and two member lists per cycle (240 here).
    assert len(told) <= 2 * budget, (len(told), told)


def test_a_catch_up_is_bounded_and_rate_limited(live_server_factory: Factory) -> None:
    server = live_server_factory(
        config={
            "CHATROOM_RATE_LIMITS": {
                "message": [1000, 1000],
                "event": [1000, 1000],
                "connect": [1000, 1000],
                "history": [0.1, 3],
            }
        }
    )
    seeder = RawChat(server.url)
    seeder.connect()
    for i in range(250):
        assert seeder.call("message broadcast", {"message": f"m{i}"})["ok"] is True
    raw = RawChat(server.url)
    codes = []
    for attempt in range(4):
        if attempt:
            raw.leave()
        result = raw.connect({"since": {"lobby": 0}})
        codes.append(refused_code(result))
        if result.get("welcome"):
            [history] = [a for e, a in raw.seen if e == "history"]
            assert len(history["messages"]) == 200  # not all 250 at once
            assert history["has_more"] is True
    # Three catch-ups (the history burst), then rate_limited.
    assert codes == [None, None, None, "rate_limited"]
    seeder.close()
    raw.close()


def test_connects_are_limited_per_client_address(live_server_factory: Factory) -> None:
    config = {"CHATROOM_RATE_LIMITS": {"address": [0.01, 5]}}
    direct = live_server_factory(config=config)
    codes = []
    for _ in range(6):  # six scripts, each a new guest, from one address
        raw = RawChat(direct.url)
        codes.append(refused_code(raw.connect()))
        raw.close()
    assert codes == [None] * 5 + ["rate_limited"]

    # Behind a proxy, the address is the one ProxyFix takes from the proxy.
    proxied = live_server_factory(config={**config, "TEST_PROXY_FIX": True})
    codes = []
    for n in range(6):
        raw = RawChat(proxied.url, headers=[f"X-Forwarded-For: 10.0.0.{n}"])
        codes.append(refused_code(raw.connect()))
        raw.close()
    assert codes == [None] * 6
    codes = []
    for _ in range(6):
        raw = RawChat(proxied.url, headers=["X-Forwarded-For: 10.0.1.1"])
        codes.append(refused_code(raw.connect()))
        raw.close()
    assert codes == [None] * 5 + ["rate_limited"]


# -- strikes -------------------------------------------------------------------------


def test_a_client_that_honours_retry_after_is_never_cut_off(
    live_server_factory: Factory, clients: Callable[..., ChatClient]
) -> None:
    server = live_server_factory(
        config={
            "CHATROOM_RATE_LIMITS": {"message": [5, 2]},
            "CHATROOM_RATE_LIMIT_DISCONNECT": 3,
        }
    )
    client = clients(server.url, transports=["websocket"])
    client.next("welcome")
    sent = refused = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        ack = client.send({"message": f"m{sent}"})
        if ack["ok"]:
            sent += 1
        else:
            assert ack["error"]["code"] == "rate_limited"
            refused += 1
            time.sleep(ack["error"]["retry_after"])
    # Before, every refusal was a strike: at about 5 a second against 3 strikes
    # refilled 1 a second, this client was cut off within two seconds.
    assert client.client.connected
    assert refused > 3 and sent >= 15, (sent, refused)


# -- the room list, typing, caches ----------------------------------------------------


def hooked_app(**config: Any) -> tuple[Flask, Chatroom]:
    app, chat = make_chat_app(CHATROOM_ROOMS=["lobby", "staff", "news"], **config)

    @chat.can_join
    def only_staff_in_staff(user: Any, room: str) -> bool:
        return room != "staff" or "staff" in user.roles

    @chat.can_post
    def news_is_read_only(user: Any, room: str) -> bool:
        return room != "news"

    return app, chat


def connected(app: Flask) -> SocketIOTestClient:
    socketio = app.extensions["socketio"]
    client: SocketIOTestClient = socketio.test_client(app, namespace="/chat")
    return client


def test_the_room_list_names_only_rooms_the_caller_may_join() -> None:
    app, _ = hooked_app()
    client = connected(app)
    ack = call(client, "rooms", None)
    assert [room["name"] for room in ack["rooms"]] == ["lobby", "news"]
    listed = app.test_client().get("/chat/api/rooms").get_json()
    assert [room["name"] for room in listed["rooms"]] == ["lobby", "news"]
    # Host code asks nobody's permission.
    assert [r["name"] for r in get_chat(app).rooms()] == ["lobby", "staff", "news"]


def test_typing_is_refused_where_posting_is() -> None:
    app, _ = hooked_app()
    typist, member = connected(app), connected(app)
    typist_id = events(typist, "welcome")[0]["id"]
    for client in (typist, member):
        assert call(client, "join", {"room": "news"})["ok"] is True
        client.get_received("/chat")
    ack = call(typist, "typing", {"room": "news", "typing": True})
    assert ack["error"]["code"] == "forbidden"
    assert events(member, "typing") == []
    # Nor does a muted user's.
    assert call(typist, "typing", {"room": "lobby", "typing": True})["ok"] is True
    assert len(events(member, "typing")) == 1
    with app.app_context():
        get_service(app).moderation.mute("lobby", typist_id, 60)
    ack = call(typist, "typing", {"room": "lobby", "typing": False})
    assert ack["error"]["code"] == "muted"
    assert events(member, "typing") == []


def test_the_join_history_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_rooms, "HISTORY_CACHE_ROOMS", 50)
    app, _ = make_chat_app(CHATROOM_RATE_LIMITS=None)
    client = connected(app)
    for n in range(120):
        assert call(client, "join", {"room": f"r{n}"})["ok"] is True
        assert call(client, "leave", {"room": f"r{n}"})["ok"] is True
    assert len(get_service(app).rooms.recent) <= 50


def test_a_guests_nickname_expires_with_the_guest(redis_url: str) -> None:
    app, _ = make_chat_app(CHATROOM_REDIS_URL=redis_url, CHATROOM_GUEST_TTL=120)
    client = connected(app)
    guest = events(client, "welcome")[0]["id"]
    assert call(client, "nickname", {"name": "Nova"})["ok"] is True
    keys = redis.Redis.from_url(redis_url)
    key = f"chatroom:/chat:nick:{guest}"
    assert 0 < keys.ttl(key) <= 120  # before: 30 days
    keys.expire(key, 5)
    client.disconnect("/chat")
    assert 100 < keys.ttl(key) <= 120  # kept for a TTL past the last connection
    get_service(app).announcer.stop_housekeeping()


# -- the HTTP API ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["before=%C2%B2", "before=99999999999999999999", "limit=" + "9" * 5000]
)
def test_the_history_api_answers_malformed_numbers_with_400(
    live_server: LiveServer, query: str
) -> None:
    url = f"{live_server.url}/chat/api/rooms/lobby/messages?{query}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"]["code"] == "invalid_payload"


def api_statuses(url: str, times: int, opener: Any = None) -> list[int]:
    """The statuses of *times* requests; each refusal must be a JSON
    ``rate_limited`` with a ``Retry-After``."""
    opener = opener or urllib.request.build_opener()
    statuses = []
    refusals = []
    for _ in range(times):
        try:
            with opener.open(url, timeout=10) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as refused:
            statuses.append(refused.code)
            body = json.loads(refused.read())
            refusals.append((refused.headers["Retry-After"], body))
    for retry_after, body in refusals:
        assert int(retry_after) >= 1
        assert body["error"]["code"] == "rate_limited"
    return statuses


def test_the_history_api_is_rate_limited(live_server_factory: Factory) -> None:
    server = live_server_factory(
        config={"CHATROOM_RATE_LIMITS": {"address": [0.5, 24]}}
    )
    url = f"{server.url}/chat/api/rooms/lobby/messages"
    # A browser (one guest, from its session): the user's history bucket.
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    browser.open(f"{server.url}/chat/", timeout=10).read()
    statuses = api_statuses(url, 25, browser)
    assert statuses[:20] == [200] * 20 and 429 in statuses[20:], statuses
    # Scripts without a session (a new guest each time): the address bucket,
    # which the browser's 20 answered requests took from too.
    statuses = api_statuses(url, 10)
    assert 429 in statuses, statuses


# -- privileged actions see the user as they are now -----------------------------------


def signed_in_app() -> tuple[Flask, dict[str, dict[str, Any]]]:
    users: dict[str, dict[str, Any]] = {
        "ada": {"id": "ada", "name": "Ada", "roles": ["moderator"]}
    }
    app, chat = make_chat_app()

    @chat.identity_loader
    def who() -> Any:
        return users.get("ada")

    return app, users


def test_a_moderator_who_lost_the_role_cannot_delete_or_mute() -> None:
    app, users = signed_in_app()
    moderator = connected(app)
    assert events(moderator, "welcome")[0]["moderator"] is True
    # Someone else's message (one's own could be deleted as its author).
    with app.app_context():
        message = {"id": get_chat(app).send("lobby", "oops", sender="Bot").id}
    users["ada"]["roles"] = []  # the host took the role away
    ack = call(moderator, "delete message", {"id": message["id"]})
    assert ack["error"]["code"] == "forbidden"
    ack = call(moderator, "mute", {"room": "lobby", "user_id": "bob", "seconds": 60})
    assert ack["error"]["code"] == "forbidden"


def test_a_signed_out_user_cannot_act_and_is_disconnected() -> None:
    app, users = signed_in_app()
    moderator = connected(app)
    with app.app_context():
        message = {"id": get_chat(app).send("lobby", "oops", sender="Bot").id}
    del users["ada"]  # signed out (or deleted): the loader no longer knows them
    ack = call(moderator, "delete message", {"id": message["id"]})
    assert ack["error"]["code"] == "login_required"
    assert not moderator.is_connected("/chat")


def test_disconnect_user_ends_connections_in_every_process(
    live_server_factory: Factory,
    redis_url: str,
    clients: Callable[..., ChatClient],
) -> None:
    config = {"SOCKETIO_MESSAGE_QUEUE": redis_url, "SECRET_KEY": "shared"}
    a, b = live_server_factory(config=config), live_server_factory(config=config)
    target = clients(b.url, transports=["websocket"])
    bystander = clients(b.url, transports=["websocket"])
    user = target.next("welcome")["id"]
    bystander.next("welcome")
    request = urllib.request.Request(
        f"{a.url}/_test/disconnect_user/{user}", b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {"closed": 1}
    deadline = time.monotonic() + 10
    while target.client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not target.client.connected
    assert bystander.client.connected


def test_a_client_that_keeps_reconnecting_too_fast_is_cut_off(
    live_server_factory: Factory,
) -> None:
    server = live_server_factory(
        config={
            "CHATROOM_RATE_LIMITS": {"connect": [0.01, 1]},
            "CHATROOM_RATE_LIMIT_DISCONNECT": 2,
        }
    )
    raw = RawChat(server.url)
    assert raw.connect()["welcome"] is not None
    codes: list[str | None] = []

    def reconnect_until_closed() -> None:
        for _ in range(10):
            raw.leave()
            codes.append(refused_code(raw.connect()))

    with pytest.raises(websocket.WebSocketConnectionClosedException):
        reconnect_until_closed()
    # The first refusal says when to come back; two early retries are
    # tolerated; the next one closes the whole connection.
    assert codes == ["rate_limited"] * 3, codes
    assert "Traceback" not in server.log()


def test_coalesced_changes_are_announced_as_their_net_effect() -> None:
    from flask_chatroom.backends.interfaces import Change
    from flask_chatroom.core.announcer import net_changes
    from flask_chatroom.identity import Identity

    a, b, c, d = (Identity(id=n, name=n.upper()) for n in "abcd")
    changes = [
        Change("lobby", a, "join"),
        Change("lobby", b, "join"),
        Change("lobby", a, "leave"),  # a came and went: nothing to tell
        Change("lobby", c, "leave"),
        Change("lobby", c, "join"),  # c went and came back: nothing either
        Change("lobby", d, "join"),
        Change("lobby", d, None),  # another tab of d
        Change("lobby", d, "leave"),
        Change("lobby", d, "join"),
    ]
    assert [(x.identity.id, x.kind) for x in net_changes(changes)] == [
        ("b", "join"),
        ("d", "join"),
    ]


def test_a_crowd_joining_at_once_gets_a_member_list_not_a_notice_each() -> None:
    app, _ = make_chat_app()
    watcher = connected(app)
    watcher.get_received("/chat")
    crowd = [connected(app) for _ in range(3 * ANNOUNCE_BURST)]
    time.sleep(2.5)  # the coalesced announcement goes out after a second
    received = watcher.get_received("/chat")
    notices = [e for e in received if e["name"] == "notice"]
    lists = [e["args"][0] for e in received if e["name"] == "presence"]
    assert len(notices) <= ANNOUNCE_BURST, len(notices)
    assert lists[-1]["count"] == len(crowd) + 1
    assert len(lists) <= ANNOUNCE_BURST + 3, len(lists)


def test_no_event_is_free_to_flood() -> None:
    app, _ = make_chat_app(CHATROOM_RATE_LIMITS={"event": (1, 5)})
    client = connected(app)
    answers = [call(client, "rooms", None) for _ in range(7)]
    answers += [call(client, "no such event", None) for _ in range(2)]
    refused = [a["error"]["code"] for a in answers if not a.get("ok")]
    # Five rooms requests in the burst, then every one refused.
    assert [a.get("ok") for a in answers[:5]] == [True] * 5
    assert refused == ["rate_limited"] * 4, answers
    # The HTTP room list takes a token of the client address's bucket.
    app, _ = make_chat_app(CHATROOM_RATE_LIMITS={"address": (0.01, 2)})
    listing = app.test_client()
    codes = [listing.get("/chat/api/rooms").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_joins_take_from_the_address_they_connected_from(
    live_server_factory: Factory,
) -> None:
    server = live_server_factory(
        config={"CHATROOM_RATE_LIMITS": {"address": [0.01, 3]}}
    )
    raw = RawChat(server.url)
    assert raw.connect()["welcome"] is not None  # one token for the connect
    acks = [raw.call("join", {"room": room}) for room in ("a", "b", "c")]
    assert [a.get("ok") for a in acks[:2]] == [True, True]
    assert acks[2]["error"]["code"] == "rate_limited"
    raw.close()


@pytest.mark.parametrize("freeze", [True, False])
def test_the_start_up_heap_is_frozen_once_per_process(
    live_server_factory: Factory, clients: Callable[..., ChatClient], freeze: bool
) -> None:
    server = live_server_factory(
        config={"TEST_CHAT_LOG": "INFO", "CHATROOM_FREEZE_HEAP": freeze}
    )
    for _ in range(2):
        clients(server.url).next("welcome")
    assert server.log().count("froze") == (1 if freeze else 0), server.log()
