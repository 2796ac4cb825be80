"""Mentions, the ``notify`` event, the ``mentioned`` and ``dm_received``
signals, and made rooms (``create room``, private rooms) through every door.
Users sign in through the host's Flask-Login, as in test_conversations.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask_login import UserMixin
from flask_socketio import SocketIOTestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_chatroom import get_chat, signals
from flask_chatroom.protocol import ERROR_CODES, MAX_MENTIONS, find_mentions

from .conftest import events
from .test_conversations import NS, Site, call, code, rooms_by_name
from .test_fuzz import EXAMPLES, huge, json_values, scalars


class User(UserMixin):
    def __init__(self, user_id: str, name: str) -> None:
        self.id = user_id
        self.name = name


USERS = {
    u.id: u
    for u in [
        User("ada", "Ada"),
        User("lovelace", "Ada Lovelace"),
        User("grace", "Grace Hopper"),
        User("linus", "Linus"),
    ]
}


class MentionSite(Site):
    """:class:`Site` with users whose names hold spaces and share a start."""

    def __init__(self, **config: Any) -> None:
        super().__init__(USERS, **config)


@pytest.fixture
def site() -> Iterator[MentionSite]:
    made = MentionSite()
    yield made
    made.close()


def post(client: SocketIOTestClient, text: str, room: str = "lobby") -> dict[str, Any]:
    ack = call(client, "message broadcast", {"message": text, "room": room})
    assert ack["ok"] is True, ack
    return dict(ack)


def received(client: SocketIOTestClient) -> list[dict[str, Any]]:
    return list(events(client, "message receive"))


def drain(*clients: SocketIOTestClient) -> None:
    for client in clients:
        client.get_received(NS)


# -- resolution ------------------------------------------------------------------------


def test_find_mentions_takes_the_longest_name_at_a_word_boundary() -> None:
    names = {"ada": {"ada"}, "ada lovelace": {"lovelace"}, "grace": {"grace"}}
    text = "@ada lovelace, @ADA! mail@grace @adam @grace"
    assert find_mentions(text, names) == ["lovelace", "ada", "grace"]
    assert find_mentions("no at sign", names) == []
    assert find_mentions("@", names) == []


def test_find_mentions_is_capped_and_cheap_for_hostile_text() -> None:
    names = {f"user {n}": {f"u{n}"} for n in range(50)}
    text = " ".join(f"@user {n}" for n in range(50))
    assert len(find_mentions(text, names)) == MAX_MENTIONS
    for hostile in ("@" * 10_000, "@user " * 5_000, "@" * 9_999 + "@user 1"):
        started = time.perf_counter()
        find_mentions(hostile, names)
        assert time.perf_counter() - started < 0.2


def test_mentions_resolve_members_names_and_travel_with_the_message(
    site: MentionSite,
) -> None:
    ada, lovelace = site.connect("ada"), site.connect("lovelace")
    grace, linus = site.connect("grace"), site.connect("linus")
    call(linus, "leave", {"room": "lobby"})  # not a member now
    drain(ada, lovelace, grace, linus)
    text = "hi @ada lovelace and @ADA, @Grace Hopper @Linus @nobody mail@ada"
    seq = post(grace, text)["seq"]
    (message,) = received(ada)
    # Sorted ids; never the sender, never someone not in the room.
    assert message["mentions"] == ["ada", "lovelace"]
    assert message["message"] == text  # the text is unchanged
    assert "mentions" not in post(grace, "no one named")  # acks stay as they were
    assert [m.get("mentions") for m in received(lovelace)] == [
        ["ada", "lovelace"],
        None,
    ]
    page = call(ada, "history", {"room": "lobby"})["messages"]
    assert [m.get("mentions") for m in page] == [["ada", "lovelace"], None]
    drain(ada)
    call(ada, "leave", {"room": "lobby"})
    call(ada, "join", {"room": "lobby", "since": seq - 1})
    (caught_up,) = events(ada, "history")
    assert caught_up["messages"][0]["mentions"] == ["ada", "lovelace"]
    with site.app.app_context():
        stored = get_chat().history("lobby")
    assert stored[0].mentions == ("ada", "lovelace")


def test_guests_are_mentioned_by_their_nickname_while_present(
    site: MentionSite,
) -> None:
    ada, guest = site.connect("ada"), site.connect()
    assert call(guest, "nickname", {"name": "Zed"})["ok"] is True
    drain(ada, guest)
    post(ada, "@zed hello")
    (message,) = received(guest)
    assert message["mentions"] == [site.id_of(guest)]


def test_unread_mentions_count_and_reset_after_read(site: MentionSite) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    post(grace, "@Ada look")
    post(grace, "and this")
    last = post(grace, "@ada again")["seq"]
    lobby = rooms_by_name(ada)["lobby"]
    assert (lobby["unread"], lobby["mentions"]) == (3, 2)
    assert rooms_by_name(grace)["lobby"]["mentions"] == 0
    ack = call(ada, "read", {"room": "lobby", "seq": last})
    assert (ack["unread"], ack["mentions"]) == (0, 0)
    assert rooms_by_name(ada)["lobby"]["mentions"] == 0


# -- notify ----------------------------------------------------------------------------


def test_notify_reaches_every_connection_of_the_mentioned_user_only(
    site: MentionSite,
) -> None:
    ada_here, ada_away = site.connect("ada"), site.connect("ada")
    grace, linus = site.connect("grace"), site.connect("linus")
    call(ada_away, "leave", {"room": "lobby"})
    assert call(ada_away, "join", {"room": "dev"})["ok"] is True
    drain(ada_here, ada_away, grace, linus)
    post(grace, "@Ada ping")
    for client in (ada_here, ada_away):
        (news,) = events(client, "notify")
        assert news["kind"] == "mention" and news["room"] == "lobby"
        assert news["message"]["message"] == "@Ada ping"
        assert news["message"]["mentions"] == ["ada"]
        assert news["message"]["user_id"] == "grace"
    assert events(linus, "notify") == [] and events(grace, "notify") == []
    post(grace, "nobody named")
    assert events(ada_here, "notify") == [] and events(ada_away, "notify") == []


def test_a_dm_notifies_its_other_members_wherever_they_are(site: MentionSite) -> None:
    ada, grace, linus = (
        site.connect("ada"),
        site.connect("grace"),
        site.connect("linus"),
    )
    room = call(ada, "dm", {"user_id": "grace"})["room"]
    drain(ada, grace, linus)
    post(ada, "psst", room)  # Grace has not joined it: only the notify reaches her
    (news,) = events(grace, "notify")
    assert news["kind"] == "dm" and news["room"] == room
    assert news["message"]["message"] == "psst"
    assert events(ada, "notify") == [] and events(linus, "notify") == []
    post(ada, "@grace hopper look", room)
    assert [n["kind"] for n in events(grace, "notify")] == ["mention"]
    # The recipient's answer notifies the sender of the first message.
    call(grace, "join", {"room": room})
    drain(ada)
    post(grace, "hi @Linus", room)  # Linus is no member: not mentioned
    (news,) = events(ada, "notify")
    assert news["kind"] == "dm" and "mentions" not in news["message"]
    assert events(linus, "notify") == []


def test_a_former_member_of_a_dm_is_neither_mentioned_nor_notified(
    site: MentionSite,
) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    room = call(ada, "dm", {"user_id": "grace"})["room"]
    call(grace, "join", {"room": room})
    site.conversations.remove_member(room, "grace")
    drain(ada, grace)
    post(ada, "@Grace Hopper still there?", room)
    assert events(grace, "notify") == []
    assert [m.get("mentions") for m in received(grace)] in ([], [None])


def test_hostile_mentions_are_cheap_and_bounded() -> None:
    site = MentionSite(CHATROOM_MAX_MESSAGE_LENGTH=20_000)
    try:
        ada, lovelace, grace = (site.connect(u) for u in ("ada", "lovelace", "grace"))
        drain(ada, lovelace, grace)
        for text in ("@" * 10_000, "@Ada @Ada Lovelace @Grace Hopper " * 300):
            started = time.perf_counter()
            post(ada, text)
            assert time.perf_counter() - started < 1.0
        plain, named = received(grace)
        assert "mentions" not in plain
        assert named["mentions"] == ["grace", "lovelace"]
        assert len(events(lovelace, "notify")) == 1
    finally:
        site.close()


# -- signals ---------------------------------------------------------------------------


def test_mentioned_and_dm_received_are_sent_once_with_their_arguments(
    site: MentionSite,
) -> None:
    sent: list[tuple[str, Any, dict[str, Any]]] = []

    def on_mentioned(sender: Any, **kwargs: Any) -> None:
        sent.append(("mentioned", sender, kwargs))

    def on_dm(sender: Any, **kwargs: Any) -> None:
        sent.append(("dm_received", sender, kwargs))

    signals.mentioned.connect(on_mentioned)
    signals.dm_received.connect(on_dm)
    try:
        ada, _grace = site.connect("ada"), site.connect("grace")
        post(ada, "nobody named here")
        assert sent == []
        mention = call(
            ada, "message broadcast", {"message": "@grace hopper hi", "client_id": "c1"}
        )
        # A retry of the same client_id is not a new message: no second signal.
        call(
            ada, "message broadcast", {"message": "@grace hopper hi", "client_id": "c1"}
        )
        ((name, sender, kwargs),) = sent
        assert (name, sender) == ("mentioned", site.app)
        assert kwargs["user_ids"] == ["grace"]
        assert kwargs["message"].id == mention["id"]
        sent.clear()
        room = call(ada, "dm", {"user_id": "grace"})["room"]
        post(ada, "in private", room)
        ((name, _sender, kwargs),) = sent
        assert name == "dm_received" and kwargs["recipient_ids"] == ["grace"]
        assert kwargs["message"].room == room
        sent.clear()
        post(ada, "@Grace Hopper both", room)
        assert sorted(name for name, _, _ in sent) == ["dm_received", "mentioned"]
    finally:
        signals.mentioned.disconnect(on_mentioned)
        signals.dm_received.disconnect(on_dm)


# -- rooms recorded in the store count with a fixed CHATROOM_ROOMS -------------------


def test_recorded_rooms_exist_for_their_members_with_fixed_rooms() -> None:
    site = MentionSite(CHATROOM_ROOMS=["lobby"])
    try:
        ada, grace = site.connect("ada"), site.connect("grace")
        linus = site.connect("linus")
        room = call(ada, "dm", {"user_id": "grace"})["room"]
        assert call(grace, "join", {"room": room})["ok"] is True
        assert site.http_of(ada).get(f"/chat/{room}").status_code == 200
        assert site.http_of(linus).get(f"/chat/{room}").status_code == 404
        assert site.http_of(ada).get("/chat/elsewhere").status_code == 404
        with site.app.app_context():
            chat = get_chat()
            sent = chat.send(room, "from the host")
            assert [m.text for m in chat.history(room)] == ["from the host"]
            assert sent.seq == 1
        assert [m["message"] for m in received(grace)] == ["from the host"]
    finally:
        site.close()


# -- create room -----------------------------------------------------------------------


def test_nobody_creates_rooms_without_the_hook(site: MentionSite) -> None:
    ada = site.connect("ada")
    assert code(call(ada, "create room", {"room": "book-club"})) == "forbidden"
    assert site.conversations.room_info("book-club") is None


def test_a_hook_lets_users_create_rooms(site: MentionSite) -> None:
    asked: list[tuple[str, str, str]] = []

    @site.chat.can_create_room
    def signed_in_only(user: Any, room: str, kind: str) -> bool:
        asked.append((user.id, room, kind))
        return not user.anonymous

    ada, guest = site.connect("ada"), site.connect()
    ack = call(ada, "create room", {"room": "book-club", "title": " Book club "})
    assert ack == {"ok": True, "room": "book-club"}
    assert asked == [("ada", "book-club", "public")]
    info = site.conversations.room_info("book-club")
    assert (info.kind, info.title, info.created_by) == ("public", "Book club", "ada")
    assert site.conversations.members("book-club") == ["ada"]
    entry = rooms_by_name(ada)["book-club"]
    assert (entry["kind"], entry["title"], entry["count"]) == ("public", "Book club", 1)
    post(ada, "first", "book-club")  # the maker is in it
    assert code(call(guest, "create room", {"room": "guests"})) == "forbidden"
    # Anyone may join a public room that was made.
    assert call(guest, "join", {"room": "book-club"})["ok"] is True
    for taken in ("book-club", "lobby"):
        assert code(call(ada, "create room", {"room": taken})) == "room_exists"
    assert code(call(ada, "create room", {"room": "dm-x"})) == "invalid_room"
    assert code(call(ada, "create room", {"room": "a b"})) == "invalid_room"
    bad = {"room": "ok", "private": "yes"}
    assert code(call(ada, "create room", bad)) == "invalid_payload"
    assert code(call(ada, "create room", {"room": "ok", "title": "x\ny"})) == (
        "invalid_payload"
    )


def test_creating_rooms_takes_its_own_rate_limit() -> None:
    site = MentionSite(CHATROOM_RATE_LIMITS={"create_room": (0.01, 2)})
    try:
        site.chat.can_create_room(lambda user, room, kind: True)
        ada = site.connect("ada")
        assert call(ada, "create room", {"room": "one"})["ok"] is True
        assert call(ada, "create room", {"room": "two"})["ok"] is True
        ack = call(ada, "create room", {"room": "three"})
        assert code(ack) == "rate_limited" and ack["error"]["retry_after"] > 0
    finally:
        site.close()


def test_a_fixed_room_list_is_unchanged_without_the_hook() -> None:
    site = MentionSite(CHATROOM_ROOMS=["lobby", "dev"])
    try:
        ada = site.connect("ada")
        assert code(call(ada, "create room", {"room": "new"})) == "forbidden"
        assert [r["name"] for r in call(ada, "rooms")["rooms"]] == ["lobby", "dev"]
        site.chat.can_create_room(lambda user, room, kind: True)
        assert code(call(ada, "create room", {"room": "dev"})) == "room_exists"
        assert call(ada, "create room", {"room": "new"})["ok"] is True
        assert call(site.connect("grace"), "join", {"room": "new"})["ok"] is True
    finally:
        site.close()


@pytest.mark.parametrize("outsider", ["linus", None, "former"])
def test_a_private_room_is_invisible_to_outsiders_through_every_door(
    site: MentionSite, outsider: str | None
) -> None:
    site.chat.can_create_room(lambda user, room, kind: True)
    ada, grace = site.connect("ada"), site.connect("grace")
    ack = call(ada, "create room", {"room": "secret", "private": True})
    assert ack == {"ok": True, "room": "secret"}
    assert site.conversations.room_info("secret").kind == "private"
    site.conversations.add_member("secret", "grace")
    assert call(grace, "join", {"room": "secret"})["ok"] is True
    post(ada, "for members", "secret")
    assert [m["message"] for m in received(grace)][-1] == "for members"
    if outsider == "former":
        site.conversations.remove_member("secret", "grace")
        stranger = grace
    else:
        stranger = site.connect(outsider)
    for payload in ({"room": "secret"}, {"room": "secret", "since": 0}):
        assert code(call(stranger, "join", payload)) == "unknown_room"
    assert code(call(stranger, "history", {"room": "secret"})) == "unknown_room"
    response = site.http_of(stranger).get("/chat/api/rooms/secret/messages")
    assert response.status_code == 404
    assert site.http_of(stranger).get("/chat/secret").status_code == 404
    assert "secret" not in rooms_by_name(stranger)
    listed = site.http_of(stranger).get("/chat/api/rooms").get_json()["rooms"]
    assert "secret" not in [r["name"] for r in listed]
    # A connect with a catch-up of the room gets nothing of it either.
    again = site.connect(outsider if outsider != "former" else "grace")
    assert code(call(again, "join", {"room": "secret", "since": 0})) == "unknown_room"
    assert "secret" in rooms_by_name(ada)


def test_create_room_survives_arbitrary_payloads(
    site: MentionSite, caplog: pytest.LogCaptureFixture
) -> None:
    site.chat.can_create_room(lambda user, room, kind: True)
    fuzzer, normal = site.connect("ada"), site.connect("grace")
    fields = st.sampled_from(["room", "title", "private"]) | st.text(max_size=4)
    payloads = (
        st.dictionaries(fields, scalars | huge | json_values, max_size=4) | json_values
    )

    @settings(
        max_examples=min(EXAMPLES, 300),
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(args=st.lists(payloads, max_size=2))
    def fuzz(args: list[Any]) -> None:
        with caplog.at_level(logging.ERROR, logger="flask_chatroom"):
            ack = fuzzer.emit("create room", *args, namespace=NS, callback=True)
        assert isinstance(ack, dict), ack
        if ack["ok"]:
            assert set(ack) == {"ok", "room"}
            call(fuzzer, "leave", {"room": ack["room"]})
        else:
            assert ack["error"]["code"] in ERROR_CODES
            assert ack["error"]["code"] != "internal_error", ack
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        fuzzer.get_received(NS)
        assert post(normal, "ping")["ok"] is True
        normal.get_received(NS)

    fuzz()
