"""Two gunicorn processes (gevent workers) behind nginx with ip_hash, sharing a real
Redis and PostgreSQL: everything the chat promises still holds."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ChatClient
from .deploy import Process, start_gunicorn, start_nginx

pytestmark = [pytest.mark.server, pytest.mark.slow]

EXPIRY = 3  # seconds: CHATROOM_PRESENCE_EXPIRY, short for the test


@pytest.fixture
def cluster(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> Iterator[tuple[Process, Process, Process]]:
    env = {
        "FLASK_SECRET_KEY": "one-secret-for-every-process",
        "FLASK_SOCKETIO_MESSAGE_QUEUE": redis_url,
        "FLASK_CHATROOM_DATABASE_URL": postgres_url,
        "FLASK_CHATROOM_PRESENCE_EXPIRY": str(EXPIRY),
        "FLASK_CHATROOM_RATE_LIMITS": json.dumps({"message": [2, 4]}),
    }
    started: list[Process] = []
    try:
        a = start_gunicorn(tmp_path, env)
        started.append(a)
        b = start_gunicorn(tmp_path, env)
        started.append(b)
        nginx = start_nginx(
            tmp_path, [a.url[len("http://") :], b.url[len("http://") :]]
        )
        started.append(nginx)
        yield a, b, nginx
    finally:
        for process in started:
            process.stop()


def sign_in(url: str, user: str) -> str:
    """Sign in on the example app (its form's CSRF token first); returns the
    session cookie header."""
    opener = urllib.request.build_opener(NoRedirect)
    with opener.open(url + "/login", timeout=5) as page:
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        form = page.read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token, "the sign-in form has no CSRF token"
    data = urllib.parse.urlencode({"user": user, "csrf_token": token.group(1)})
    request = urllib.request.Request(
        url + "/login", data=data.encode(), headers={"Cookie": cookie}
    )
    with pytest.raises(urllib.error.HTTPError) as redirect:  # not followed
        opener.open(request, timeout=5)
    assert redirect.value.code == 302, redirect.value.code
    return str(redirect.value.headers["Set-Cookie"]).split(";", 1)[0]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def latest_presence(
    client: ChatClient, expect: int, timeout: float = 15, allow: int | None = None
) -> list[str]:
    """Wait for a presence list of *expect* (to *allow*) users; return the names."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        try:
            name, data = client.inbox.get(timeout=0.5)
        except Exception:
            continue
        if name == "presence" and data["room"] == "lobby":
            names = sorted(u["name"] for u in data["users"])
            if expect <= len(names) <= (allow or expect):
                return names
    raise AssertionError(f"presence never had {expect} users; last: {names}")


def test_two_processes_behind_nginx_keep_every_promise(
    cluster: tuple[Process, Process, Process], browser: Any
) -> None:
    a, b, nginx = cluster
    clients = {
        "a1": ChatClient(a.url, transports=["websocket"], events=["presence"]),
        "a2": ChatClient(a.url, transports=["websocket"]),
        "b1": ChatClient(b.url, transports=["websocket"]),
        "b2": ChatClient(b.url, transports=["websocket"]),
        "n1": ChatClient(nginx.url),  # through nginx: polling, then the upgrade
    }
    names = {key: c.next("welcome")["client"] for key, c in clients.items()}

    # Every member of the room, on either process, gets every message once.
    acks = []
    for key, client in clients.items():
        for i in range(3):
            ack = client.send({"message": f"{key}-{i}"})
            assert ack["ok"] is True, ack
            acks.append(ack)
    assert sorted(ack["seq"] for ack in acks) == list(range(1, 16))  # one PostgreSQL
    for key, client in clients.items():
        got = [client.next("message receive")["id"] for _ in range(15)]
        assert sorted(got) == sorted(ack["id"] for ack in acks), key
        time.sleep(0.3)
        assert all(name != "message receive" for name, _ in list(client.inbox.queue)), (
            key
        )

    # One user on both processes shares one rate-limit budget (burst 4).
    cookie = sign_in(a.url, "ada")
    ada_a = ChatClient(a.url, transports=["websocket"], headers={"Cookie": cookie})
    ada_b = ChatClient(
        b.url,
        transports=["websocket"],
        headers={"Cookie": cookie},
        events=["unread"],
    )
    assert ada_a.next("welcome")["client"] == ada_b.next("welcome")["client"] == "Ada"
    # Presence lists the users of both processes.
    assert latest_presence(clients["a1"], 6) == sorted([*names.values(), "Ada"])
    results = [
        (ada_a if i % 2 else ada_b).send({"message": f"ada {i}"}) for i in range(6)
    ]
    assert [r["ok"] for r in results] == [True, True, True, True, False, False]
    assert results[4]["error"]["code"] == "rate_limited"

    # A DM opened on process A reaches its member on process B, and the read
    # state of one user's tab reaches their tab on the other process.
    grace_b = ChatClient(
        b.url,
        transports=["websocket"],
        headers={"Cookie": sign_in(a.url, "grace")},
        events=["dm", "notify"],
    )
    assert grace_b.next("welcome")["user_id"] == "grace"
    opened = ada_a.client.call("dm", {"user_id": "grace"}, namespace="/chat")
    assert opened["ok"] is True, opened
    news = grace_b.next("dm")
    assert (news["room"], news["members"]) == (opened["room"], ["ada", "grace"])
    rooms = grace_b.client.call("rooms", namespace="/chat")["rooms"]
    assert {r["name"]: r["kind"] for r in rooms}[opened["room"]] == "dm"
    # A message in the DM, and a mention in the lobby, reach Grace on process B
    # as notify events (she has not joined the DM).
    time.sleep(1.5)  # Ada's message bucket (2/s) refills after the burst above
    said = ada_a.client.call(
        "message broadcast",
        {"message": "psst", "room": opened["room"]},
        namespace="/chat",
    )
    assert said["ok"] is True, said
    note = grace_b.next("notify")
    assert (note["kind"], note["room"]) == ("dm", opened["room"])
    assert note["message"]["message"] == "psst"
    said = ada_a.send({"message": "@grace look"})
    assert said["ok"] is True, said
    note = grace_b.next("notify")
    assert (note["kind"], note["room"]) == ("mention", "lobby")
    assert note["message"]["mentions"] == ["grace"]
    read = ada_a.client.call("read", {"room": "lobby", "seq": 1}, namespace="/chat")
    assert read["ok"] is True, read
    assert ada_b.next("unread") == {key: read[key] for key in read if key != "ok"}
    grace_b.client.disconnect()

    # The browser, through nginx, talks with users on both processes.
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(nginx.url + "/chat/")
    page.wait_for_selector("[data-chatroom][data-state='online']", timeout=15_000)
    page.fill("[data-chatroom-input]", "hello from the browser")
    page.press("[data-chatroom-input]", "Enter")
    for key in ("a1", "b1"):
        texts = []
        while "hello from the browser" not in texts:
            texts.append(clients[key].next("message receive")["message"])
        assert texts.count("hello from the browser") == 1
    clients["b2"].send({"message": "hello from process B"})
    page.wait_for_selector("text=hello from process B", timeout=10_000)
    assert errors == []
    page.close()

    # Process B dies: its users leave the presence list within the expiry. (Where
    # nginx sent n1 depends on ip_hash, so it may go too.)
    b.kill()
    started = time.monotonic()
    on_a = {names["a1"], names["a2"], "Ada"}
    after = set(latest_presence(clients["a1"], 3, timeout=EXPIRY * 4, allow=4))
    assert after in (on_a, on_a | {names["n1"]}), after
    assert time.monotonic() - started < EXPIRY * 4
    for client in (*clients.values(), ada_a):
        if client.client.connected:
            client.client.disconnect()
