"""Direct messages, stored membership, read markers, unread counts and blocks,
through every door: Socket.IO events, catch-up, the HTTP API and the room list.
Users sign in through the host's Flask-Login, as in test_identity.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login import LoginManager, UserMixin, login_user
from flask_socketio import SocketIOTestClient

from flask_chatroom import Chatroom, ConfigError

from .conftest import events, make_chat_app

NS = "/chat"


class User(UserMixin):
    def __init__(self, user_id: str, name: str) -> None:
        self.id = user_id
        self.name = name


USERS = {
    u.id: u
    for u in [User("ada", "Ada"), User("grace", "Grace"), User("linus", "Linus")]
}


def login_site(
    users: dict[str, Any] | None = None, **config: Any
) -> tuple[Flask, Chatroom]:
    """A host app with Flask-Login, ``/login/<id>`` for each of *users*
    (default :data:`USERS`), and the chat on an SQLite file (in the test's
    instance folder)."""
    users = USERS if users is None else users
    config.setdefault("CHATROOM_DATABASE_URL", None)
    config.setdefault("CHATROOM_RATE_LIMITS", None)
    app, chat = make_chat_app("threading", **config)
    login_manager = LoginManager(app)
    login_manager.user_loader(users.get)

    @app.route("/login/<user_id>")
    def login(user_id: str) -> str:
        login_user(users[user_id])
        return "ok"

    return app, chat


class Site:
    """One host app and the clients a test opens on it (closed at the end)."""

    def __init__(self, users: dict[str, Any] | None = None, **config: Any) -> None:
        self.app, self.chat = login_site(users, **config)
        self.clients: list[SocketIOTestClient] = []
        self.http: dict[int, FlaskClient] = {}
        self.ids: dict[int, str] = {}
        self.welcomes: dict[int, dict[str, Any]] = {}

    def connect(self, user_id: str | None = None, **kwargs: Any) -> SocketIOTestClient:
        """A chat connection of *user_id* (signed in through the host), or of a
        new guest for ``None``."""
        http = self.app.test_client()
        if user_id is not None:
            assert http.get(f"/login/{user_id}").status_code == 200
        client = self.app.extensions["socketio"].test_client(
            self.app, namespace=NS, flask_test_client=http, **kwargs
        )
        assert client.is_connected(NS)
        welcome = events(client, "welcome")[0]
        assert welcome["user_id"] == user_id
        self.clients.append(client)
        self.http[id(client)] = http
        self.ids[id(client)] = welcome["id"]
        self.welcomes[id(client)] = welcome
        return client

    def id_of(self, client: SocketIOTestClient) -> str:
        """The id the server gave *client* in its ``welcome``."""
        return self.ids[id(client)]

    def http_of(self, client: SocketIOTestClient) -> FlaskClient:
        """The HTTP client (with the session) *client* connected with."""
        return self.http[id(client)]

    @property
    def conversations(self) -> Any:
        return self.app.extensions["chatroom"].conversations

    def close(self) -> None:
        for client in self.clients:
            if client.is_connected(NS):
                client.disconnect(NS)


@pytest.fixture
def site() -> Iterator[Site]:
    made = Site()
    yield made
    made.close()


def call(client: SocketIOTestClient, event: str, payload: Any = None) -> Any:
    args = () if payload is None else (payload,)
    return client.emit(event, *args, namespace=NS, callback=True)


def code(ack: Any) -> str:
    assert ack["ok"] is False, ack
    return str(ack["error"]["code"])


def room_names(client: SocketIOTestClient) -> list[str]:
    return [room["name"] for room in call(client, "rooms")["rooms"]]


def rooms_by_name(client: SocketIOTestClient) -> dict[str, dict[str, Any]]:
    return {room["name"]: room for room in call(client, "rooms")["rooms"]}


def open_dm(site: Site) -> tuple[SocketIOTestClient, SocketIOTestClient, str]:
    """Ada opens a DM with Grace; both are in it, with Ada's first message."""
    ada, grace = site.connect("ada"), site.connect("grace")
    ack = call(ada, "dm", {"user_id": "grace"})
    assert ack["ok"] is True and ack["room"].startswith("dm-"), ack
    room = ack["room"]
    assert call(grace, "join", {"room": room}) == {"ok": True, "room": room}
    assert call(ada, "message broadcast", {"message": "psst", "room": room})["ok"]
    return ada, grace, room


# -- direct messages ---------------------------------------------------------------


def test_a_dm_reaches_its_two_members_and_nobody_else(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    linus, guest = site.connect("linus"), site.connect()
    ack = call(ada, "dm", {"user_id": "grace"})
    room = ack["room"]
    assert ack == {"ok": True, "room": room} and room.startswith("dm-")
    # Grace's open connection learns of it, wherever she is; nobody else does.
    (news,) = events(grace, "dm")
    assert news == {
        "room": room,
        "kind": "dm",
        "members": ["ada", "grace"],
        "created_by": "ada",
    }
    assert events(linus, "dm") == [] and events(guest, "dm") == []
    # The same two users always get the same room, whoever asks.
    assert call(ada, "dm", {"user_id": "grace"})["room"] == room
    assert call(grace, "dm", {"user_ids": ["ada", "ada"]})["room"] == room
    assert call(ada, "dm", {"user_ids": ["grace", "linus"]})["room"] != room

    for client in (ada, grace, linus, guest):
        client.get_received(NS)
    assert call(ada, "message broadcast", {"message": "psst", "room": room})["ok"]
    assert [m["message"] for m in events(grace, "message receive")] == ["psst"]
    assert events(linus, "message receive") == []
    assert events(guest, "message receive") == []


def test_a_dm_shows_in_its_members_room_lists_with_the_other_member(
    site: Site,
) -> None:
    _ada, _grace, room = open_dm(site)
    later = site.connect("grace")  # a new tab, after the DM was made
    entry = rooms_by_name(later)[room]
    assert entry["kind"] == "dm"
    assert entry["members"] == [{"id": "ada", "name": "Ada"}]
    assert (entry["unread"], entry["last_seq"]) == (1, 1)
    assert room not in room_names(site.connect("linus"))
    assert room not in room_names(site.connect())


@pytest.mark.parametrize("outsider", ["linus", None], ids=["signed-in", "guest"])
def test_outsiders_cannot_reach_a_dm_through_any_door(
    site: Site, outsider: str | None
) -> None:
    _ada, _grace, room = open_dm(site)
    stranger = site.connect(outsider)
    made_up = "dm-" + "0" * 32  # no such DM: refused the same way
    for name in (room, made_up):
        assert code(call(stranger, "join", {"room": name})) == "unknown_room"
        assert (
            code(call(stranger, "join", {"room": name, "since": 0})) == "unknown_room"
        )
        assert code(call(stranger, "history", {"room": name})) == "unknown_room"
        assert code(call(stranger, "read", {"room": name, "seq": 1})) == "unknown_room"
        response = site.http_of(stranger).get(f"/chat/api/rooms/{name}/messages")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "unknown_room"
    # Posting and typing need the room joined, which they cannot.
    ack = call(stranger, "message broadcast", {"message": "hi", "room": room})
    assert code(ack) == "not_in_room"
    assert code(call(stranger, "typing", {"room": room, "typing": True})) == (
        "not_in_room"
    )
    assert room not in room_names(stranger)
    listed = site.http_of(stranger).get("/chat/api/rooms").get_json()["rooms"]
    assert room not in [r["name"] for r in listed]
    assert all(not r["name"].startswith("dm-") for r in listed)


def test_members_read_a_dm_through_every_door(site: Site) -> None:
    _ada, grace, room = open_dm(site)
    page = call(grace, "history", {"room": room})
    assert [m["message"] for m in page["messages"]] == ["psst"]
    response = site.http_of(grace).get(f"/chat/api/rooms/{room}/messages")
    assert response.status_code == 200
    assert [m["message"] for m in response.get_json()["messages"]] == ["psst"]
    call(grace, "leave", {"room": room})
    grace.get_received(NS)
    assert call(grace, "join", {"room": room, "since": 0})["ok"] is True
    (caught_up,) = events(grace, "history")
    assert [m["message"] for m in caught_up["messages"]] == ["psst"]


def test_a_former_member_is_refused_everywhere(site: Site) -> None:
    ada, grace, room = open_dm(site)
    assert site.conversations.remove_member(room, "grace") is True
    # Still in the Socket.IO room from before, but every door asks the store.
    ack = call(grace, "message broadcast", {"message": "still here?", "room": room})
    assert code(ack) == "unknown_room"
    assert code(call(grace, "typing", {"room": room, "typing": True})) == (
        "unknown_room"
    )
    assert code(call(grace, "history", {"room": room})) == "unknown_room"
    assert code(call(grace, "join", {"room": room, "since": 0})) == "unknown_room"
    assert code(call(grace, "read", {"room": room, "seq": 1})) == "unknown_room"
    response = site.http_of(grace).get(f"/chat/api/rooms/{room}/messages")
    assert response.status_code == 404
    assert room not in room_names(grace)
    # Asking for the same DM again does not bring her back.
    assert code(call(grace, "dm", {"user_id": "ada"})) == "forbidden"
    # Ada, still a member, goes on.
    assert call(ada, "message broadcast", {"message": "ok", "room": room})["ok"]


def test_group_dms_are_limited_in_size() -> None:
    site = Site(CHATROOM_DM_MAX_MEMBERS=3)
    try:
        ada = site.connect("ada")
        ack = call(ada, "dm", {"user_ids": ["grace", "linus"]})
        assert ack["ok"] is True
        too_big = call(ada, "dm", {"user_ids": ["grace", "linus", "someone"]})
        assert code(too_big) == "too_many_members"
        # The caller counts once, however they are named.
        assert (
            call(ada, "dm", {"user_ids": ["ada", "grace", "linus"]})["room"]
            == (ack["room"])
        )
        assert code(call(ada, "dm", {"user_id": "ada"})) == "invalid_payload"
        assert code(call(ada, "dm", {"user_id": "grace", "user_ids": []})) == (
            "invalid_payload"
        )
    finally:
        site.close()
    with pytest.raises(ConfigError, match="CHATROOM_DM_MAX_MEMBERS"):
        login_site(CHATROOM_DM_MAX_MEMBERS=1)


def test_guests_cannot_dm_unless_the_host_lets_them(site: Site) -> None:
    guest = site.connect()
    assert code(call(guest, "dm", {"user_id": "ada"})) == "login_required"
    assert site.conversations.rooms_of("ada") == []

    site.chat.can_dm(lambda user, user_ids: user_ids == ["ada"])
    ack = call(guest, "dm", {"user_id": "ada"})
    assert ack["ok"] is True
    assert ack["room"] in room_names(guest)
    assert code(call(site.connect("grace"), "dm", {"user_id": "linus"})) == (
        "forbidden"
    )


def test_a_blocked_caller_is_refused_like_any_refusal(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    assert call(grace, "block", {"user_id": "ada"}) == {
        "ok": True,
        "user_id": "ada",
        "blocked": ["ada"],
    }
    assert call(grace, "blocks") == {"ok": True, "blocked": ["ada"]}
    refused = call(ada, "dm", {"user_id": "grace"})
    assert refused["error"]["code"] == "forbidden"
    assert "block" not in refused["error"]["message"].lower()
    # In a group too, one member's block refuses it.
    assert code(call(ada, "dm", {"user_ids": ["grace", "linus"]})) == "forbidden"
    assert site.conversations.rooms_of("grace") == []
    # Grace herself may still write to Ada.
    assert call(grace, "dm", {"user_id": "ada"})["ok"] is True
    assert call(grace, "unblock", {"user_id": "ada"})["blocked"] == []
    assert call(ada, "dm", {"user_id": "grace"})["ok"] is True


def test_guests_have_no_block_list(site: Site) -> None:
    guest = site.connect()
    assert code(call(guest, "block", {"user_id": "ada"})) == "login_required"
    assert code(call(guest, "blocks")) == "login_required"
    ada = site.connect("ada")
    assert code(call(ada, "block", {"user_id": "ada"})) == "invalid_payload"
    assert code(call(ada, "block", {"user_id": ""})) == "invalid_payload"


def test_dms_take_their_own_rate_limit() -> None:
    site = Site(CHATROOM_RATE_LIMITS={"dm": (0.01, 2)})
    try:
        ada = site.connect("ada")
        assert call(ada, "dm", {"user_id": "grace"})["ok"] is True
        assert call(ada, "dm", {"user_id": "linus"})["ok"] is True
        assert code(call(ada, "dm", {"user_id": "grace"})) == "rate_limited"
    finally:
        site.close()


# -- read state ----------------------------------------------------------------------


def post(client: SocketIOTestClient, text: str, room: str = "lobby") -> int:
    ack = call(client, "message broadcast", {"message": text, "room": room})
    assert ack["ok"] is True, ack
    return int(ack["seq"])


def test_read_markers_move_forward_only_and_unread_counts_are_exact(
    site: Site,
) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    for n in range(3):
        post(grace, f"m{n}")
    assert rooms_by_name(ada)["lobby"] == {
        "name": "lobby",
        "kind": "public",
        "count": 2,
        "unread": 3,
        "mentions": 0,
        "last_seq": 3,
    }
    state = {"room": "lobby", "mentions": 0, "last_seq": 3}
    assert call(ada, "read", {"room": "lobby", "seq": 2}) == {
        "ok": True,
        "unread": 1,
        **state,
    }
    # Backwards is ignored; past the end stops at the end.
    assert call(ada, "read", {"room": "lobby", "seq": 1})["unread"] == 1
    assert call(ada, "read", {"room": "lobby", "seq": 99})["unread"] == 0
    assert site.conversations.read_markers("ada") == {"lobby": 3}
    post(grace, "m3")
    post(grace, "m4")
    assert rooms_by_name(ada)["lobby"]["unread"] == 2
    # The sender's own messages are read: Grace's marker followed her posts.
    assert rooms_by_name(grace)["lobby"]["unread"] == 0
    # After a reconnect the counts are the same, from the store.
    ada.disconnect(NS)
    again = site.connect("ada")
    lobby = rooms_by_name(again)["lobby"]
    assert (lobby["unread"], lobby["last_seq"]) == (2, 5)


def test_a_senders_own_messages_count_as_read_even_in_quick_succession(
    site: Site,
) -> None:
    ada = site.connect("ada")
    last = 0
    for n in range(5):  # faster than one marker write a second
        last = post(ada, f"quick {n}")
    assert rooms_by_name(ada)["lobby"]["unread"] == 0
    assert site.conversations.read_markers("ada") == {"lobby": last}


def test_unread_reaches_the_users_other_connections(site: Site) -> None:
    grace = site.connect("grace")
    ada_1, ada_2 = site.connect("ada"), site.connect("ada")
    post(grace, "one")
    post(grace, "two")
    for client in (ada_1, ada_2):
        client.get_received(NS)
    call(ada_1, "read", {"room": "lobby", "seq": 1})
    assert events(ada_2, "unread") == [
        {"room": "lobby", "unread": 1, "mentions": 0, "last_seq": 2}
    ]
    assert events(ada_1, "unread") == []
    assert events(grace, "unread") == []


def test_dm_unread_counts_for_the_recipient(site: Site) -> None:
    ada, grace, room = open_dm(site)
    post(ada, "second", room)
    assert rooms_by_name(grace)[room]["unread"] == 2
    assert rooms_by_name(ada)[room]["unread"] == 0
    assert call(grace, "read", {"room": room, "seq": 2})["unread"] == 0


def test_a_guests_markers_live_in_memory_through_a_reload(site: Site) -> None:
    grace, guest = site.connect("grace"), site.connect()
    post(grace, "one")
    post(grace, "two")
    assert rooms_by_name(guest)["lobby"]["unread"] == 2
    ack = call(guest, "read", {"room": "lobby", "seq": 1})
    assert (ack["unread"], ack["last_seq"]) == (1, 2)
    assert call(guest, "read", {"room": "lobby", "seq": 0})["unread"] == 1
    assert rooms_by_name(guest)["lobby"]["unread"] == 1
    post(guest, "mine")
    assert rooms_by_name(guest)["lobby"]["unread"] == 0
    # Nothing of it is stored, and it goes with the guest's last connection.
    guest_id = site.id_of(guest)
    assert guest_id.startswith("guest:")
    assert site.conversations.read_markers(guest_id) == {}
    read_state = site.app.extensions["chatroom"].read_state
    assert read_state.guest_markers(guest_id) == {"lobby": 3}
    # A reload: the connection goes, and the same guest (its token) comes back
    # to find its markers.
    token = site.welcomes[id(guest)]["guest_token"]
    guest.disconnect(NS)
    again = site.connect(auth={"guest_token": token})
    assert site.id_of(again) == guest_id
    post(grace, "three")
    assert rooms_by_name(again)["lobby"]["unread"] == 1
    # Once gone for longer than CHATROOM_GUEST_TTL, they are dropped.
    again.disconnect(NS)
    read_state._guest_ttl = 0.0
    read_state.guest_left("guest:someone-else")  # any departure prunes
    assert read_state.guest_markers(guest_id) == {}


def test_guests_markers_are_bounded() -> None:
    """A process keeps the markers of at most GUEST_MARKERS_MAX guests (the
    least recently used go) and GUEST_ROOMS_MAX rooms per guest."""
    from flask_chatroom.core import readstate

    state = readstate.ReadState(None, None, clock=lambda: 0.0)  # type: ignore[arg-type]
    for n in range(readstate.GUEST_ROOMS_MAX + 5):
        state.guest_mark("guest:a", f"room-{n}", n + 1)
    kept = state.guest_markers("guest:a")
    assert len(kept) == readstate.GUEST_ROOMS_MAX
    assert "room-0" not in kept and f"room-{readstate.GUEST_ROOMS_MAX + 4}" in kept
    for n in range(readstate.GUEST_MARKERS_MAX + 1):
        state.guest_mark(f"guest:{n}", "lobby", 1)
    assert state.guest_markers("guest:a") == {}  # the least recently used
    assert state.guest_markers(f"guest:{readstate.GUEST_MARKERS_MAX}") == {"lobby": 1}


def test_read_payloads_are_checked(site: Site) -> None:
    ada = site.connect("ada")
    for payload in (None, {"room": "lobby"}, {"room": "lobby", "seq": -1}, {"seq": 1}):
        assert code(call(ada, "read", payload)) in ("invalid_payload", "invalid_room")


# -- the marker writes on the message path -----------------------------------------


class CountingConversations:
    """A conversations store that records every read-marker write."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: list[tuple[str, str, int]] = []

    def mark_read(self, user_id: str, room: str, seq: int) -> int:
        self.writes.append((user_id, room, seq))
        return int(self.inner.mark_read(user_id, room, seq))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ManualRealtime:
    """Runs background tasks only when the test says so."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def start_task(self, target: Any, *args: Any) -> None:
        self.tasks.append((target, args))

    def sleep(self, seconds: float) -> None:
        pass

    def run_tasks(self) -> None:
        tasks, self.tasks = self.tasks, []
        for target, args in tasks:
            target(*args)


def test_own_message_markers_are_written_at_most_once_a_second() -> None:
    from flask_chatroom.backends.memory import MemoryStore
    from flask_chatroom.core.readstate import ReadState
    from flask_chatroom.protocol import Message

    store = MemoryStore()
    for n in range(6):
        store.add(Message(room="lobby", client="Ada", text=f"m{n}", sender_id="ada"))
    conversations = CountingConversations(store.conversations)
    realtime = ManualRealtime()
    now = [100.0]
    state = ReadState(conversations, realtime, clock=lambda: now[0])  # type: ignore[arg-type]

    state.mark_soon("ada", "lobby", 1)  # the first write is at once
    assert conversations.writes == [("ada", "lobby", 1)]
    now[0] += 0.3
    state.mark_soon("ada", "lobby", 2)
    state.mark_soon("ada", "lobby", 3)
    state.mark_soon("grace", "lobby", 2)  # another user's own marker: at once
    assert conversations.writes[1:] == [("grace", "lobby", 2)]
    assert len(realtime.tasks) == 1  # one background task for everything pending
    realtime.run_tasks()
    assert conversations.writes[2:] == [("ada", "lobby", 3)]
    assert conversations.read_markers("ada") == {"lobby": 3}

    now[0] += 0.5  # within a second of that write: pending again
    state.mark_soon("ada", "lobby", 4)
    assert len(conversations.writes) == 3
    state.flush("ada")  # asking for the room list writes it first
    assert conversations.writes[3:] == [("ada", "lobby", 4)]
    state.flush("ada")  # nothing left to write
    assert len(conversations.writes) == 4

    now[0] += 2
    state.mark_soon("ada", "lobby", 6)
    assert conversations.writes[4:] == [("ada", "lobby", 6)]
    realtime.run_tasks()  # the task from before finds nothing and ends
    assert len(conversations.writes) == 5
