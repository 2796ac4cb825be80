"""Attachments on real servers: two processes of the example app sharing
PostgreSQL (and Redis for the message queue) share the files kept in the
database — uploaded on one, fetched on the other — and a file outlives the
process that took it."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from .conftest import ChatClient, LiveServer, stop_server
from .test_scaleout import sign_in

NS = "/chat"


def png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def fetch(url: str, cookie: str, data: bytes | None = None, **headers: str) -> Any:
    request = urllib.request.Request(
        url, data=data, headers={"Cookie": cookie, **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def upload(server: LiveServer, cookie: str, data: bytes, name: str) -> dict[str, Any]:
    """Upload as the widget does: multipart, the guard header, and the host's
    CSRF token (the example app uses Flask-WTF) from the page's meta tag."""
    _, _, page = fetch(server.url + "/chat/", cookie)
    token = re.search(rb'name="csrf-token" content="([^"]+)"', page)
    assert token, "the chat page carries no CSRF token"
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, answer = fetch(
        server.url + "/chat/api/rooms/lobby/attachments",
        cookie,
        body,
        **{
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-Chatroom": "1",
            "X-CSRFToken": token.group(1).decode(),
        },
    )
    assert status == 201, answer
    return dict(json.loads(answer)["attachment"])


@pytest.mark.server
@pytest.mark.slow
def test_files_are_shared_by_two_processes_and_outlive_them(
    live_server_factory: Callable[..., LiveServer],
    redis_url: str,
    postgres_url: str,
    clients: Callable[..., ChatClient],
) -> None:
    config = {
        "SECRET_KEY": "one-secret-for-every-process",
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "CHATROOM_DATABASE_URL": postgres_url,
        "CHATROOM_RATE_LIMITS": None,
    }
    a = live_server_factory("gevent", config)
    b = live_server_factory("gevent", config)
    ada, grace = sign_in(a.url, "ada"), sign_in(b.url, "grace")
    watcher = clients(
        b.url,
        transports=["websocket"],
        headers={"Cookie": grace},
        events=["message receive"],
    )
    assert watcher.next("welcome")["user_id"] == "grace"
    sender = clients(a.url, transports=["websocket"], headers={"Cookie": ada})
    assert sender.next("welcome")["user_id"] == "ada"
    picture = png((800, 400))
    attachment = upload(a, ada, picture, "wide.png")
    # Before it is sent, only Ada gets it, on either process.
    assert fetch(b.url + attachment["url"], grace)[0] == 404
    assert fetch(b.url + attachment["url"], ada)[0] == 200
    ack = sender.client.call(
        "message broadcast",
        {"message": "from a", "attachments": [attachment["id"]]},
        namespace=NS,
        timeout=15,
    )
    assert ack["ok"] is True, ack
    received = watcher.next("message receive")
    assert received["attachments"] == [attachment]
    status, headers, body = fetch(b.url + attachment["url"], grace)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(body)).size == (800, 400)
    thumb = fetch(b.url + attachment["thumbnail_url"], grace)
    assert thumb[0] == 200 and Image.open(io.BytesIO(thumb[2])).size == (320, 160)
    # The process that took the file goes; a new one serves it.
    stop_server(a)
    c = live_server_factory("gevent", config)
    assert fetch(c.url + attachment["url"], grace)[2] == body
