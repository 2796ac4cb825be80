"""Search through every door: the ``search`` event and ``GET /chat/api/search``
find only what the user may read now (public rooms, their DMs and private
rooms), never deleted messages, edited ones by their current text, with the
matched words marked as ranges — for members, guests, non-members and former
members alike."""

from __future__ import annotations

from typing import Any

import pytest
from flask_socketio import SocketIOTestClient

from . import test_message_actions as actions
from .test_conversations import Site, call, code, open_dm
from .test_message_actions import USERS, post, private_room

# The signed-in users and the site of the message-actions tests.
site = actions.site


def search(
    client: SocketIOTestClient, query: str, **extra: Any
) -> list[dict[str, Any]]:
    ack = call(client, "search", {"query": query, **extra})
    assert ack["ok"] is True, ack
    return list(ack["results"])


def texts(results: list[dict[str, Any]]) -> list[str]:
    return [r["message"] for r in results]


def marked(result: dict[str, Any]) -> list[str]:
    text = result["message"]
    return [text[start:end] for start, end in result["highlights"]]


def test_search_finds_words_newest_first_with_the_matches_marked(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    post(ada, "The deploy failed on Friday")
    post(grace, "lunch?")
    post(grace, "Redeploying now, the deployment is back")
    post(ada, "Café au lait for everyone")
    # A word matches words it starts: "deployment", not "Redeploying".
    results = search(grace, "deploy")
    assert texts(results) == [
        "Redeploying now, the deployment is back",
        "The deploy failed on Friday",
    ]
    assert marked(results[0]) == ["deployment"]
    assert texts(search(grace, "deployment")) == [
        "Redeploying now, the deployment is back"
    ]
    (cafe,) = search(grace, "cafe")
    assert marked(cafe) == ["Café"]
    (both,) = search(ada, "deploy friday")
    assert marked(both) == ["deploy", "Friday"]
    assert both["client"] == "Ada" and both["room"] == "lobby" and both["seq"] == 1
    # The HTTP API answers the same.
    answer = site.http_of(grace).get("/chat/api/search?q=cafe").get_json()
    assert answer["ok"] is True and answer["results"] == [cafe]


def test_search_pages_with_next(site: Site) -> None:
    ada = site.connect("ada")
    for n in range(7):
        post(ada, f"needle number {n}")
    seen: list[str] = []
    before = None
    while True:
        payload: dict[str, Any] = {"query": "needle", "limit": 3}
        if before is not None:
            payload["before"] = before
        ack = call(ada, "search", payload)
        assert ack["ok"] is True and len(ack["results"]) <= 3
        seen += texts(ack["results"])
        before = ack["next"]
        if before is None:
            break
    assert seen == [f"needle number {n}" for n in reversed(range(7))]


def test_deleted_messages_are_never_found_and_edits_by_their_new_text(
    site: Site,
) -> None:
    ada, mod = site.connect("ada"), site.connect("mod")
    gone = post(ada, "secret password hunter2")
    edited = post(ada, "meet at the old bridge")
    assert call(mod, "delete message", {"id": gone["id"]})["ok"]
    assert call(
        ada, "edit message", {"id": edited["id"], "message": "meet at the new tower"}
    )["ok"]
    assert search(ada, "hunter2") == []
    assert search(ada, "bridge") == []
    (found,) = search(ada, "tower")
    assert found["id"] == edited["id"] and "edited_ts" in found


@pytest.mark.parametrize("who", ["linus", None, "former"])
def test_nobody_finds_what_they_may_not_read(site: Site, who: str | None) -> None:
    room = private_room(site, "ada", "grace")
    ada, grace = site.connect("ada"), site.connect("grace")
    for client in (ada, grace):
        assert call(client, "join", {"room": room})["ok"]
    post(ada, "walrus plans inside", room=room)
    post(ada, "walrus in the lobby")
    assert texts(search(grace, "walrus")) == [
        "walrus in the lobby",
        "walrus plans inside",
    ]
    if who == "former":
        assert site.conversations.remove_member(room, "grace") is True
        outsider = grace
    else:
        outsider = site.connect(who)
    assert texts(search(outsider, "walrus")) == ["walrus in the lobby"]
    # Naming the room is refused as a room that does not exist.
    assert code(call(outsider, "search", {"query": "walrus", "room": room})) == (
        "unknown_room"
    )
    assert code(call(outsider, "search", {"query": f"walrus in:{room}"})) == (
        "unknown_room"
    )
    http = site.http_of(outsider)
    answer = http.get(f"/chat/api/search?q=walrus&room={room}")
    assert answer.status_code == 404
    assert texts(http.get("/chat/api/search?q=walrus").get_json()["results"]) == [
        "walrus in the lobby"
    ]


def test_direct_messages_are_found_by_their_members_only(site: Site) -> None:
    ada, grace, room = open_dm(site)
    post(ada, "the quokka surprise", room=room)
    assert texts(search(grace, "quokka")) == ["the quokka surprise"]
    linus = site.connect("linus")
    assert search(linus, "quokka") == []


def test_filters_from_in_and_dates(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    assert call(ada, "join", {"room": "dev"})["ok"]
    post(ada, "ticket one", room="dev")
    post(grace, "ticket two")
    post(ada, "ticket three")
    assert texts(search(grace, "ticket from:ada")) == ["ticket three", "ticket one"]
    assert texts(search(grace, "ticket from:Grace")) == ["ticket two"]
    assert texts(search(grace, "ticket in:dev")) == ["ticket one"]
    assert texts(search(grace, "ticket", room="lobby")) == [
        "ticket three",
        "ticket two",
    ]
    assert search(grace, "ticket before:2000-01-01") == []
    assert len(search(grace, "ticket after:2000-01-01")) == 3
    bad = call(grace, "search", {"query": "ticket after:yesterday-ish"})
    assert code(bad) == "invalid_payload" and bad["error"]["message"]


def test_a_fixed_room_list_still_searches_the_rooms_people_made() -> None:
    site = Site(USERS, CHATROOM_ROOMS=["lobby"])
    try:
        policy = site.app.extensions["chatroom"].policy
        policy.can_create_room = lambda user, room, kind: True
        ada, grace = site.connect("ada"), site.connect("grace")
        made = call(ada, "create room", {"room": "bikeshed"})
        assert made["ok"] is True, made
        post(ada, "the ocelot colour", room="bikeshed")
        assert texts(search(grace, "ocelot")) == ["the ocelot colour"]
    finally:
        site.close()


def test_bad_searches_get_clear_errors(site: Site) -> None:
    ada = site.connect("ada")
    for payload in (
        None,
        {},
        {"query": ""},
        {"query": 5},
        {"query": "x" * 201},
        {"query": "a", "limit": 0},
        {"query": "a", "before": "../x"},
        {"query": "a", "room": "no such room!"},
    ):
        ack = call(ada, "search", payload)
        assert ack["ok"] is False and ack["error"]["code"] in {
            "invalid_payload",
            "invalid_room",
        }, (payload, ack)
    # Filters alone are no search.
    assert search(ada, "from:ada") == []
    assert site.http_of(ada).get("/chat/api/search").status_code == 400


def test_searches_are_rate_limited() -> None:
    site = Site(USERS, CHATROOM_RATE_LIMITS={"search": (0.001, 2)})
    try:
        ada = site.connect("ada")
        for _ in range(2):
            assert call(ada, "search", {"query": "x"})["ok"]
        refused = call(ada, "search", {"query": "x"})
        assert code(refused) == "rate_limited" and refused["error"]["retry_after"] > 0
    finally:
        site.close()
