"""Messages people can act on: edit and delete their own, reply, react, format,
and every change replayed exactly once, through every door (Socket.IO events,
catch-up with ``since``/``changes_since``, ``changes``, the HTTP API), as the
author, another user, a guest, a non-member and a former member."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from flask_login import UserMixin
from flask_socketio import SocketIOTestClient

from flask_chatroom import service as service_module
from flask_chatroom.core import rooms as rooms_module
from flask_chatroom.protocol import Message

from .changeview import View
from .conftest import events
from .test_conversations import NS, Site, call, code


class User(UserMixin):
    def __init__(self, user_id: str, name: str, roles: tuple[str, ...] = ()) -> None:
        self.id = user_id
        self.name = name
        self.roles = roles


USERS = {
    u.id: u
    for u in [
        User("ada", "Ada"),
        User("grace", "Grace"),
        User("linus", "Linus"),
        User("mod", "Mo", roles=("moderator",)),
    ]
}


def make_site(**config: Any) -> Site:
    return Site(USERS, **config)


@pytest.fixture
def site() -> Iterator[Site]:
    made = make_site()
    yield made
    made.close()


def post(sender: SocketIOTestClient, text: str, **extra: Any) -> dict[str, Any]:
    ack = call(sender, "message broadcast", {"message": text, **extra})
    assert ack["ok"] is True, ack
    return dict(ack)


def drain(*clients: SocketIOTestClient) -> None:
    for client in clients:
        client.get_received(NS)


def history(client: SocketIOTestClient, room: str = "lobby") -> list[dict[str, Any]]:
    ack = call(client, "history", {"room": room})
    assert ack["ok"] is True, ack
    return list(ack["messages"])


def by_id(client: SocketIOTestClient, message_id: str, room: str = "lobby") -> Any:
    return next(m for m in history(client, room) if m["id"] == message_id)


def private_room(site: Site, *members: str) -> str:
    """A private room whose stored members are *members*."""
    conversations = site.conversations
    conversations.create_room("secret", "private", created_by=members[0])
    for member in members:
        conversations.add_member("secret", member)
    return "secret"


# -- editing -----------------------------------------------------------------------


def test_the_author_edits_and_the_room_sees_it_once(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    sent = post(ada, "helo wrold")
    drain(ada, grace)
    ack = call(ada, "edit message", {"id": sent["id"], "message": "hello **world**"})
    assert ack["ok"] is True and ack["id"] == sent["id"] and ack["change_seq"] == 1
    for client in (ada, grace):
        (edited,) = events(client, "message edited")
        assert edited == {
            "kind": "edit",
            "id": sent["id"],
            "room": "lobby",
            "change_seq": 1,
            "seq": sent["seq"],
            "message": "hello **world**",
            "edited_ts": ack["edited_ts"],
            "html": "<p>hello <strong>world</strong></p>",
        }
    stored = by_id(grace, sent["id"])
    assert stored["message"] == "hello **world**"
    assert stored["edited_ts"] == ack["edited_ts"] and stored["change_seq"] == 1
    # The same text again changes nothing and tells nobody.
    again = call(ada, "edit message", {"id": sent["id"], "message": "hello **world**"})
    assert again["ok"] is True and again["change_seq"] == 1
    assert events(grace, "message edited") == []


def test_only_the_author_or_a_moderator_edits(site: Site) -> None:
    ada, grace, guest = site.connect("ada"), site.connect("grace"), site.connect()
    mod = site.connect("mod")
    sent = post(ada, "mine")
    for other in (grace, guest):
        refused = call(other, "edit message", {"id": sent["id"], "message": "theirs"})
        assert code(refused) == "forbidden"
    assert by_id(ada, sent["id"])["message"] == "mine"
    assert call(mod, "edit message", {"id": sent["id"], "message": "[removed link]"})[
        "ok"
    ]
    # A guest edits its own message like anyone.
    own = post(guest, "typo")
    assert call(guest, "edit message", {"id": own["id"], "message": "fixed"})["ok"]
    assert by_id(ada, own["id"])["message"] == "fixed"
    # No such message, and a made-up id: the same answer.
    assert code(call(ada, "edit message", {"id": "0" * 32, "message": "x"})) == (
        "not_found"
    )


def test_the_edit_window_closes_for_authors_but_not_for_moderators(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, mod = site.connect("ada"), site.connect("mod")
    sent = post(ada, "first")
    later = service_module.now_ms() + 15 * 60 * 1000 + 1
    monkeypatch.setattr(service_module, "now_ms", lambda: later)
    for event, payload in [
        ("edit message", {"id": sent["id"], "message": "too late"}),
        ("delete message", {"id": sent["id"]}),
    ]:
        assert code(call(ada, event, payload)) == "edit_window_passed"
    assert call(mod, "edit message", {"id": sent["id"], "message": "mod's"})["ok"]
    assert call(mod, "delete message", {"id": sent["id"]})["ok"]


def test_no_edit_window_means_always() -> None:
    site = make_site(CHATROOM_EDIT_WINDOW=None)
    try:
        ada = site.connect("ada")
        assert events(ada, "welcome") == []  # taken by connect
        assert site.welcomes[id(ada)]["edit_window"] is None
        sent = post(ada, "old")
        service = site.app.extensions["chatroom"]
        assert service._within_window(
            Message(room="lobby", client="Ada", text="x", ts=0)
        )
        assert call(ada, "edit message", {"id": sent["id"], "message": "new"})["ok"]
    finally:
        site.close()


def test_filters_and_mutes_apply_to_edits_as_to_new_messages() -> None:
    site = make_site()
    try:

        @site.chat.message_filter
        def no_shouting(message: Message, user: Any) -> Message | None:
            if "BAD" in message.text:
                return None
            return Message(
                **{**message.__dict__, "text": message.text.replace("darn", "d*rn")}
            )

        ada, mod = site.connect("ada"), site.connect("mod")
        sent = post(ada, "fine")
        assert code(
            call(ada, "edit message", {"id": sent["id"], "message": "BAD"})
        ) == ("rejected")
        assert call(ada, "edit message", {"id": sent["id"], "message": "darn it"})["ok"]
        assert by_id(ada, sent["id"])["message"] == "d*rn it"
        assert call(mod, "mute", {"room": "lobby", "user_id": "ada", "seconds": 60})[
            "ok"
        ]
        assert code(call(ada, "edit message", {"id": sent["id"], "message": "x"})) == (
            "muted"
        )
    finally:
        site.close()


def test_moderators_read_the_edit_history_and_nobody_else(site: Site) -> None:
    ada, mod = site.connect("ada"), site.connect("mod")
    sent = post(ada, "one")
    for text in ("two", "three"):
        assert call(ada, "edit message", {"id": sent["id"], "message": text})["ok"]
    ack = call(mod, "edit history", {"id": sent["id"]})
    assert ack["ok"] is True
    assert [(e["n"], e["message"], e["editor_id"]) for e in ack["edits"]] == [
        (1, "one", "ada"),
        (2, "two", "ada"),
    ]
    assert code(call(ada, "edit history", {"id": sent["id"]})) == "forbidden"
    url = f"/chat/api/messages/{sent['id']}/edits"
    assert site.http_of(ada).get(url).status_code == 403
    answer = site.http_of(mod).get(url)
    assert answer.status_code == 200
    assert [e["message"] for e in answer.get_json()["edits"]] == ["one", "two"]
    missing = site.http_of(mod).get(f"/chat/api/messages/{'0' * 32}/edits")
    assert missing.status_code == 404


def test_retention_purges_edit_history_with_the_message(site: Site) -> None:
    ada = site.connect("ada")
    sent = post(ada, "one")
    assert call(ada, "edit message", {"id": sent["id"], "message": "two"})["ok"]
    store = site.app.extensions["chatroom"].store
    assert len(store.edit_history(sent["id"])) == 1
    assert store.purge(service_module.now_ms() + 1) >= 1
    assert store.edit_history(sent["id"]) == []
    assert store.changes_since("lobby", 0) == []


# -- deleting one's own ------------------------------------------------------------


def test_authors_delete_their_own_messages_and_nobody_elses(site: Site) -> None:
    ada, grace, guest = site.connect("ada"), site.connect("grace"), site.connect()
    sent = post(ada, "oops")
    drain(ada, grace, guest)
    for other in (grace, guest):
        assert code(call(other, "delete message", {"id": sent["id"]})) == "forbidden"
    assert call(ada, "delete message", {"id": sent["id"]}) == {
        "ok": True,
        "id": sent["id"],
    }
    for client in (ada, grace, guest):
        assert events(client, "message deleted") == [
            {
                "kind": "delete",
                "id": sent["id"],
                "room": "lobby",
                "change_seq": 1,
                "seq": sent["seq"],
            }
        ]
    assert by_id(grace, sent["id"])["deleted"] is True
    # Deleting again changes nothing; editing or reacting to it: not found.
    assert call(ada, "delete message", {"id": sent["id"]}) == {
        "ok": True,
        "id": sent["id"],
    }
    assert code(call(ada, "edit message", {"id": sent["id"], "message": "x"})) == (
        "not_found"
    )
    assert code(call(ada, "react", {"id": sent["id"], "emoji": "👍"})) == "not_found"
    assert events(grace, "message deleted") == []


# -- members only: non-members, guests and former members --------------------------


@pytest.mark.parametrize("who", ["linus", None, "former"])
def test_nobody_outside_a_room_acts_on_its_messages(
    site: Site, who: str | None
) -> None:
    room = private_room(site, "ada", "grace")
    ada = site.connect("ada")
    assert call(ada, "join", {"room": room})["ok"]
    sent = post(ada, "inside", room=room)
    if who == "former":
        grace = site.connect("grace")
        assert call(grace, "join", {"room": room})["ok"]
        mine = post(grace, "grace's", room=room)
        assert site.conversations.remove_member(room, "grace") is True
        outsider = grace
    else:
        outsider = site.connect(who)
        mine = None
    drain(ada)
    attempts = [
        ("edit message", {"id": sent["id"], "message": "x"}),
        ("delete message", {"id": sent["id"]}),
        ("react", {"id": sent["id"], "emoji": "👍"}),
        ("message broadcast", {"message": "re", "reply_to": sent["id"]}),
    ]
    if mine is not None:  # their own message, in a room they left
        attempts += [
            ("edit message", {"id": mine["id"], "message": "x"}),
            ("delete message", {"id": mine["id"]}),
            ("react", {"id": mine["id"], "emoji": "👍"}),
        ]
    for event, payload in attempts:
        refused = code(call(outsider, event, payload))
        assert refused in {"not_found", "forbidden"}, (event, refused)
        if event != "delete message" or payload["id"] == (mine or {}).get("id"):
            assert refused == "not_found", (event, refused)
    assert code(call(outsider, "changes", {"room": room, "since": 0})) == (
        "unknown_room"
    )
    assert (
        site.http_of(outsider).get(f"/chat/api/rooms/{room}/changes").status_code == 404
    )
    assert code(call(outsider, "join", {"room": room, "changes_since": 0})) == (
        "unknown_room"
    )
    # Nothing happened in the room.
    assert events(ada, "message edited") == events(ada, "reactions") == []
    assert events(ada, "message deleted") == []
    assert by_id(ada, sent["id"], room)["message"] == "inside"


# -- reactions ---------------------------------------------------------------------


def test_reactions_from_two_users(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    sent = post(ada, "ship it?")
    drain(ada, grace)
    ack = call(grace, "react", {"id": sent["id"], "emoji": "👍", "on": True})
    assert ack == {
        "ok": True,
        "id": sent["id"],
        "reactions": [{"emoji": "👍", "count": 1, "user_ids": ["grace"], "me": True}],
        "change_seq": 1,
    }
    ack = call(ada, "react", {"id": sent["id"], "emoji": "👍"})
    assert ack["reactions"] == [
        {"emoji": "👍", "count": 2, "user_ids": ["ada", "grace"], "me": True}
    ]
    for client in (ada, grace):
        got = events(client, "reactions")
        assert [(r["change_seq"], r["user_id"], r["emoji"], r["on"]) for r in got] == [
            (1, "grace", "👍", True),
            (2, "ada", "👍", True),
        ]
        assert got[-1]["reactions"] == [
            {"emoji": "👍", "count": 2, "user_ids": ["ada", "grace"]}
        ]
    # One reaction per user per emoji: again is no change and no broadcast.
    again = call(ada, "react", {"id": sent["id"], "emoji": "👍", "on": True})
    assert again["ok"] is True and "change_seq" not in again
    assert events(grace, "reactions") == []
    off = call(grace, "react", {"id": sent["id"], "emoji": "👍", "on": False})
    assert off["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": ["ada"]}]
    # History carries them, with "me" for whoever asks.
    assert by_id(ada, sent["id"])["reactions"] == [
        {"emoji": "👍", "count": 1, "user_ids": ["ada"], "me": True}
    ]
    assert by_id(grace, sent["id"])["reactions"] == [
        {"emoji": "👍", "count": 1, "user_ids": ["ada"]}
    ]
    api = site.http_of(ada).get("/chat/api/rooms/lobby/messages").get_json()
    assert api["messages"][-1]["reactions"][0]["me"] is True


def test_only_the_offered_emoji_and_at_the_message_rate() -> None:
    site = make_site(
        CHATROOM_REACTIONS=["+1", "🎉"], CHATROOM_RATE_LIMITS={"react": (0.1, 2)}
    )
    try:
        ada = site.connect("ada")
        assert site.welcomes[id(ada)]["reactions"] == ["+1", "🎉"]
        sent = post(ada, "hi")
        assert code(call(ada, "react", {"id": sent["id"], "emoji": "👍"})) == (
            "invalid_payload"
        )
        assert call(ada, "react", {"id": sent["id"], "emoji": "+1"})["ok"]
        assert call(ada, "react", {"id": sent["id"], "emoji": "🎉"})["ok"]
        refused = call(ada, "react", {"id": sent["id"], "emoji": "+1", "on": False})
        assert code(refused) == "rate_limited" and refused["error"]["retry_after"] > 0
    finally:
        site.close()


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "👍",
        {},
        {"id": 5, "emoji": "👍"},
        {"id": "x", "emoji": ""},
        {"id": "x", "emoji": "👍" * 40},
        {"id": "x", "emoji": "👍", "on": "yes"},
    ],
)
def test_malformed_reactions_are_refused(site: Site, payload: Any) -> None:
    ada = site.connect("ada")
    assert code(call(ada, "react", payload)) == "invalid_payload"
    assert events(ada, "chat error")[0]["code"] == "invalid_payload"


# -- replies -----------------------------------------------------------------------


def test_a_reply_quotes_the_servers_excerpt_of_the_original(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    original = post(ada, "what   about\n" + "x" * 300)
    drain(ada, grace)
    post(grace, "agreed", reply_to=original["id"], excerpt="forged", client="Mallory")
    (got,) = events(ada, "message receive")
    assert got["reply_to"] == {
        "id": original["id"],
        "client": "Ada",
        "excerpt": "what about " + "x" * 108 + "…",
    }
    assert len(got["reply_to"]["excerpt"]) == 120
    assert by_id(ada, got["id"])["reply_to"] == got["reply_to"]
    # Once the original is deleted, the reply says so everywhere.
    assert call(ada, "delete message", {"id": original["id"]})["ok"]
    assert by_id(grace, got["id"])["reply_to"] == {
        "id": original["id"],
        "deleted": True,
    }
    # A reply to a deleted message, or to one in another room, is refused.
    assert code(
        call(grace, "message broadcast", {"message": "re", "reply_to": original["id"]})
    ) == ("not_found")
    assert call(grace, "join", {"room": "dev"})["ok"]
    elsewhere = post(grace, "in dev", room="dev")
    assert code(
        call(grace, "message broadcast", {"message": "re", "reply_to": elsewhere["id"]})
    ) == ("not_found")
    assert code(call(grace, "message broadcast", {"message": "re", "reply_to": 7})) == (
        "invalid_payload"
    )


# -- formatting --------------------------------------------------------------------

XSS = [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&#58;alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
    '<http://a"onmouseover="alert(1)>',
    "`<script>alert(1)</script>`",
    "```\n<img src=x onerror=alert(1)>\n```",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "***<b onclick=alert(1)>x</b>***",
    "[<img src=x onerror=alert(1)>](http://example.com)",
    '[x](http://example.com "onmouseover=alert(1)")',
    "![x](http://example.com/x.png)",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "*_~~`[x](javascript:alert(1))`~~_*",
]


class Elements(HTMLParser):
    """Every element of an HTML fragment, with its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


ALLOWED = {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol"}
ALLOWED |= {"li", "a"}


@pytest.mark.parametrize("payload", XSS)
def test_markdown_renders_nothing_executable(site: Site, payload: str) -> None:
    ada = site.connect("ada")
    drain(ada)
    post(ada, payload)
    (got,) = events(ada, "message receive")
    assert got["message"] == payload  # the raw text stays the truth
    for tag, attrs in Elements(got.get("html", "")).found:
        assert tag in ALLOWED, (payload, got["html"])
        if tag == "a":
            assert set(attrs) == {"href", "rel"}, got["html"]
            assert str(attrs["href"]).startswith(("http://", "https://"))
            assert attrs["rel"] == "nofollow noopener noreferrer ugc"
        elif tag == "ol":
            assert set(attrs) <= {"start"}
        else:
            assert attrs == {}, (payload, got["html"])


def test_formatting_is_rendered_once_per_message_and_plain_text_has_none(
    site: Site,
) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    drain(ada, grace)
    post(ada, "just words, 3 of them")
    post(
        ada,
        "**bold** _it_ ~~gone~~ `code`\n> quoted\n\n- one\n- two\n\nhttps://example.com",
    )
    plain, rich = events(grace, "message receive")
    assert "html" not in plain
    assert rich["html"] == (
        "<p><strong>bold</strong> <em>it</em> <s>gone</s> <code>code</code></p>\n"
        "<blockquote>\n<p>quoted</p>\n</blockquote>\n<ul>\n<li>one</li>\n"
        '<li>two</li>\n</ul>\n<p><a href="https://example.com" '
        'rel="nofollow noopener noreferrer ugc">https://example.com</a></p>'
    )
    assert events(ada, "message receive")[1]["html"] == rich["html"]


def test_piles_of_markup_are_not_rendered(site: Site) -> None:
    ada = site.connect("ada")
    drain(ada)
    post(ada, "~~a" * 70)  # 140 markup characters: rendered
    post(ada, "~~a" * 101)  # 202: shown as plain text
    post(ada, "see https://example.com " * 21)  # 21 addresses: plain
    rendered, piled, linked = events(ada, "message receive")
    assert "<s>" in rendered["html"]
    assert "html" not in piled and "html" not in linked
    assert piled["message"] == "~~a" * 101


# -- every change replays exactly once ----------------------------------------------


def connect_keeping(
    site: Site, user_id: str, **kwargs: Any
) -> tuple[SocketIOTestClient, dict[str, Any]]:
    """A connection of *user_id* and the ``history`` it was sent on connecting
    (:meth:`Site.connect` drops it with the rest of what came first)."""
    http = site.app.test_client()
    assert http.get(f"/login/{user_id}").status_code == 200
    client = site.app.extensions["socketio"].test_client(
        site.app, namespace=NS, flask_test_client=http, **kwargs
    )
    site.clients.append(client)
    site.http[id(client)] = http
    (history,) = events(client, "history")
    return client, history


def live_changes(client: SocketIOTestClient) -> list[dict[str, Any]]:
    names = {"message edited", "message deleted", "reactions"}
    return sorted(
        (e["args"][0] for e in client.get_received(NS) if e["name"] in names),
        key=lambda c: c["change_seq"],
    )


def act(ada: SocketIOTestClient, grace: SocketIOTestClient, ids: list[str]) -> None:
    """Edits, a deletion and reactions by two users."""
    assert call(ada, "edit message", {"id": ids[0], "message": "first, *edited*"})["ok"]
    assert call(grace, "react", {"id": ids[0], "emoji": "🎉"})["ok"]
    assert call(ada, "react", {"id": ids[1], "emoji": "👍"})["ok"]
    assert call(ada, "delete message", {"id": ids[1]})["ok"]
    assert call(grace, "edit message", {"id": ids[2], "message": "third!"})["ok"]
    assert call(ada, "react", {"id": ids[2], "emoji": "👀"})["ok"]
    assert call(grace, "react", {"id": ids[2], "emoji": "👀"})["ok"]
    assert call(ada, "react", {"id": ids[2], "emoji": "👀", "on": False})["ok"]
    assert call(ada, "edit message", {"id": ids[0], "message": "first, again"})["ok"]


def test_a_client_that_was_away_ends_with_the_same_view(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    ids = [post(ada, "first")["id"], post(ada, "second")["id"]]
    ids.append(post(grace, "third")["id"])
    stayed, joined = connect_keeping(site, "linus")
    view = View(joined, "linus")
    away, seen = connect_keeping(site, "linus")
    away_view = View(seen, "linus")
    away.disconnect(NS)
    act(ada, grace, ids)
    for change in live_changes(stayed):
        view.apply(change)
    # Back, with the last seq and change_seq it had: exactly what it missed.
    last_seq = max(m["seq"] for m in away_view.messages.values())
    back, catch_up = connect_keeping(
        site,
        "linus",
        auth={
            "since": {"lobby": last_seq},
            "changes_since": {"lobby": away_view.cursor},
        },
    )
    assert catch_up["messages"] == []
    assert [c["change_seq"] for c in catch_up["changes"]] == list(range(1, 10))
    assert catch_up["changes_more"] is False and catch_up["change_seq"] == 9
    for change in catch_up["changes"]:
        away_view.apply(change)
    assert away_view.shown() == view.shown()
    assert away_view.cursor == view.cursor == 9
    # A newcomer's history is that state too.
    _newcomer, fresh = connect_keeping(site, "grace")
    assert View(fresh, "grace").shown() == view.shown() and fresh["change_seq"] == 9
    # And the HTTP API's changes are the same list.
    api = site.http_of(back).get("/chat/api/rooms/lobby/changes?since=0").get_json()
    assert [c["change_seq"] for c in api["changes"]] == list(range(1, 10))


def test_changes_come_in_pages(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rooms_module, "CATCHUP_CHANGES", 4)
    ada, grace = site.connect("ada"), site.connect("grace")
    ids = [post(ada, "first")["id"], post(ada, "second")["id"]]
    ids.append(post(grace, "third")["id"])
    act(ada, grace, ids)
    assert call(ada, "join", {"room": "lobby", "since": 3, "changes_since": 2})["ok"]
    (catch_up,) = events(ada, "history")
    assert [c["change_seq"] for c in catch_up["changes"]] == [3, 4, 5, 6]
    assert catch_up["changes_more"] is True
    seen, since, more = [], 6, True
    while more:
        ack = call(ada, "changes", {"room": "lobby", "since": since})
        seen += [c["change_seq"] for c in ack["changes"]]
        since, more = ack["change_seq"], ack["has_more"]
    assert seen == [7, 8, 9] and since == 9
    done = call(ada, "changes", {"room": "lobby", "since": 9})
    assert done == {
        "ok": True,
        "room": "lobby",
        "changes": [],
        "change_seq": 9,
        "has_more": False,
    }
    for bad in (None, {"room": "lobby"}, {"room": "lobby", "since": -1}):
        assert code(call(ada, "changes", bad)) == "invalid_payload"


def test_a_changes_me_flag_is_the_askers(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    sent = post(ada, "hi")
    assert call(grace, "react", {"id": sent["id"], "emoji": "👍"})["ok"]
    (theirs,) = call(grace, "changes", {"room": "lobby", "since": 0})["changes"]
    (mine,) = call(ada, "changes", {"room": "lobby", "since": 0})["changes"]
    assert theirs["reactions"] == [
        {"emoji": "👍", "count": 1, "user_ids": ["grace"], "me": True}
    ]
    assert mine["reactions"] == [{"emoji": "👍", "count": 1, "user_ids": ["grace"]}]
    assert (mine["user_id"], mine["emoji"], mine["on"]) == ("grace", "👍", True)
