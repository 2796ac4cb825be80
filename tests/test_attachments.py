"""Attachments: upload over HTTP, send with a message, fetch as someone who may
read the room — and every door closed to everyone else (the file URL, the
thumbnail, history, catch-up, search), as another user, a guest, a non-member
and a former member. Files are real images, PDFs, text and zips made here."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Collection
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient
from PIL import Image

from flask_chatroom.backends.interfaces import FileStorage
from flask_chatroom.core import attachments as attachments_module
from flask_chatroom.protocol import now_ms

from . import test_message_actions as actions
from .conftest import events
from .test_conversations import Site, call, code
from .test_message_actions import drain, history, make_site, private_room

GPS_IFD = 0x8825


# The signed-in users and the site of the message-actions tests.
site = actions.site


def image(fmt: str = "PNG", size: tuple[int, int] = (40, 30), **save: Any) -> bytes:
    mode = "RGBA" if fmt == "PNG" else "RGB"
    picture = Image.new(mode, size, (200, 30, 60))
    out = io.BytesIO()
    picture.save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[GPS_IFD] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    return image("JPEG", (64, 48), exif=exif.tobytes())


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return out.getvalue()


def pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, "PDF")
    return out.getvalue()


def upload(
    http: FlaskClient,
    data: bytes,
    name: str,
    room: str = "lobby",
    headers: dict[str, str] | None = None,
) -> Any:
    return http.post(
        f"/chat/api/rooms/{room}/attachments",
        data={"file": (io.BytesIO(data), name)},
        headers={"X-Chatroom": "1"} if headers is None else headers,
        content_type="multipart/form-data",
    )


def uploaded(
    site: Site, client: SocketIOTestClient, data: bytes, name: str, room: str = "lobby"
) -> dict[str, Any]:
    answer = upload(site.http_of(client), data, name, room)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["ok"] is True
    return dict(body["attachment"])


def send(
    client: SocketIOTestClient,
    ids: list[str],
    text: str = "",
    room: str = "lobby",
    **extra: Any,
) -> Any:
    return call(
        client,
        "message broadcast",
        {"message": text, "attachments": ids, "room": room, **extra},
    )


def keeper(site: Site) -> attachments_module.AttachmentKeeper:
    found = site.app.extensions["chatroom"].attachments
    assert found is not None
    return found


# -- uploading and sending ------------------------------------------------------------


ALLOWED = [
    ("shot.png", image("PNG"), "image/png", True),
    ("photo.jpg", image("JPEG"), "image/jpeg", True),
    ("anim.gif", image("GIF"), "image/gif", True),
    ("pic.webp", image("WEBP"), "image/webp", True),
    ("report.pdf", pdf(), "application/pdf", False),
    ("notes.txt", "Grüße, 東京 🎉\n".encode(), "text/plain", False),
    ("bundle.zip", zip_file(), "application/zip", False),
]


@pytest.mark.parametrize(("name", "data", "mimetype", "inline"), ALLOWED)
def test_each_allowed_type_is_shared_and_served_safely(
    site: Site, name: str, data: bytes, mimetype: str, inline: bool
) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    attachment = uploaded(site, ada, data, name)
    assert attachment["type"] == mimetype and attachment["name"] == name
    assert attachment["url"] == f"/chat/files/{attachment['id']}"
    if inline:
        assert (attachment["width"], attachment["height"]) == (40, 30)
    drain(ada, grace)
    ack = send(ada, [attachment["id"]])
    assert ack["ok"] is True, ack
    (received,) = events(grace, "message receive")
    assert received["attachments"] == [attachment] and received["message"] == ""
    served = site.http_of(grace).get(attachment["url"])
    assert served.status_code == 200
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "sandbox"
    assert served.mimetype == mimetype
    disposition = served.headers["Content-Disposition"]
    assert disposition.startswith("inline" if inline else "attachment"), disposition
    assert len(served.data) == attachment["size"]
    if not inline:
        assert served.data == data  # kept as sent
    # History carries it too.
    assert history(grace)[-1]["attachments"] == [attachment]


def test_a_large_image_gets_a_thumbnail_and_exif_is_gone(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    big = uploaded(site, ada, image("PNG", (1000, 500)), "wide.png")
    assert big["thumbnail_url"] == big["url"] + "/thumbnail"
    assert send(ada, [big["id"]], "look")["ok"]
    thumb = site.http_of(grace).get(big["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.mimetype == "image/webp"
    assert Image.open(io.BytesIO(thumb.data)).size == (320, 160)
    small = uploaded(site, ada, jpeg_with_gps(), "holiday.jpg")
    assert "thumbnail_url" not in small
    assert site.http_of(ada).get(small["url"] + "/thumbnail").status_code == 404
    served = site.http_of(ada).get(small["url"])
    exif = Image.open(io.BytesIO(served.data)).getexif()
    assert GPS_IFD not in exif and 0x010F not in exif
    assert b"PhoneMaker" not in served.data


def test_a_message_may_carry_several_files_and_text(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    ids = [uploaded(site, ada, image(), f"{n}.png")["id"] for n in range(3)]
    drain(grace)
    assert send(ada, ids, "three **shots**")["ok"]
    (received,) = events(grace, "message receive")
    assert [a["id"] for a in received["attachments"]] == ids
    assert received["html"] == "<p>three <strong>shots</strong></p>"


# -- refusals ------------------------------------------------------------------------

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def bomb_png() -> bytes:
    """A PNG that claims 100,000 x 100,000 pixels in a few bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "data", "status", "reason"),
    [
        ("cat.png", HTML, 415, "type_not_allowed"),
        ("cat.png", SVG, 415, "type_not_allowed"),
        ("drawing.svg", SVG, 415, "type_not_allowed"),
        ("doc.pdf", HTML + pdf(), 415, "type_not_allowed"),
        ("huge.png", bomb_png(), 422, "too_many_pixels"),
        ("cut.png", image("PNG", (200, 200))[:300], 422, "unreadable"),
    ],
)
def test_refused_uploads_say_why_and_store_nothing(
    site: Site, name: str, data: bytes, status: int, reason: str
) -> None:
    ada = site.connect("ada")
    answer = upload(site.http_of(ada), data, name)
    assert answer.status_code == status, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "attachment_refused" and error["reason"] == reason
    assert error["message"]
    assert keeper(site).uploads.expired(now_ms() + 10**9) == []


def test_a_polyglot_image_loses_what_follows_the_image(site: Site) -> None:
    ada = site.connect("ada")
    tail = b"<html><script>alert(1)</script></html>" + zip_file()
    attachment = uploaded(site, ada, image("PNG") + tail, "poly.png")
    served = site.http_of(ada).get(attachment["url"])
    assert served.status_code == 200 and b"<script>" not in served.data
    assert b"notes.txt" not in served.data


def test_an_oversized_upload_is_refused_before_it_is_read() -> None:
    site = make_site(CHATROOM_ATTACHMENT_MAX_BYTES=1000)
    try:
        ada = site.connect("ada")
        answer = upload(site.http_of(ada), b"x" * 200_000, "big.txt")
        assert answer.status_code == 413
        assert answer.get_json()["error"]["reason"] == "too_large"
        # Just over the limit, inside the form's allowance: refused by size.
        answer = upload(site.http_of(ada), b"y" * 1001, "big.txt")
        assert answer.status_code == 413
        assert answer.get_json()["error"]["reason"] == "too_large"
    finally:
        site.close()


def test_uploads_need_the_guard_header_and_a_signed_in_user(site: Site) -> None:
    ada, guest = site.connect("ada"), site.connect()
    refused = upload(site.http_of(ada), image(), "a.png", headers={})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    as_guest = upload(site.http_of(guest), image(), "a.png")
    assert as_guest.status_code == 401
    assert as_guest.get_json()["error"]["code"] == "login_required"


def test_guests_upload_when_the_host_allows_it() -> None:
    site = make_site(CHATROOM_ATTACHMENT_GUESTS=True)
    try:
        guest = site.connect()
        answer = upload(site.http_of(guest), image(), "a.png")
        assert answer.status_code == 201, answer.get_json()
    finally:
        site.close()


def test_no_uploads_where_the_user_may_not_post(site: Site) -> None:
    policy = site.app.extensions["chatroom"].policy
    policy.can_post = lambda user, room: room != "news"
    policy.can_join = lambda user, room: room != "staff"
    ada, linus = site.connect("ada"), site.connect("linus")
    assert upload(site.http_of(ada), image(), "a.png", room="news").status_code == 403
    room = private_room(site, "ada", "grace")
    refused = upload(site.http_of(linus), image(), "a.png", room=room)
    assert refused.status_code == 404
    assert refused.get_json()["error"]["code"] == "unknown_room"
    assert upload(site.http_of(ada), image(), "a.png", room=room).status_code == 201
    # A room the host keeps the user out of: no uploads to it either.
    kept_out = upload(site.http_of(ada), image(), "a.png", room="staff")
    assert kept_out.status_code == 403


def test_a_message_carries_only_its_senders_unsent_uploads_to_that_room(
    site: Site,
) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    theirs = uploaded(site, grace, image(), "grace.png")
    assert code(send(ada, [theirs["id"]])) == "invalid_attachment"
    assert code(send(ada, ["0" * 32])) == "invalid_attachment"
    room = private_room(site, "ada", "grace")
    assert call(ada, "join", {"room": room})["ok"]
    elsewhere = uploaded(site, ada, image(), "other-room.png", room=room)
    assert code(send(ada, [elsewhere["id"]])) == "invalid_attachment"
    mine = uploaded(site, ada, image(), "mine.png")
    assert send(ada, [mine["id"]])["ok"]
    # Sent once: it cannot be sent again (but a retry of the same message can).
    assert code(send(ada, [mine["id"]])) == "invalid_attachment"
    again = uploaded(site, ada, image(), "again.png")
    first = send(ada, [again["id"]], client_id="c-1")
    retry = send(ada, [again["id"]], client_id="c-1")
    assert first["ok"] and retry["ok"] and retry["id"] == first["id"]
    # ... but not by another message that says it is a retry.
    assert code(send(ada, [again["id"]], client_id="c-2")) == "invalid_attachment"
    texts = [m for m in history(grace) if m.get("attachments")]
    assert [m["attachments"][0]["id"] for m in texts] == [mine["id"], again["id"]]
    # Nothing else may ride along.
    assert code(send(ada, ["x"] * 11)) == "invalid_payload"
    assert code(call(ada, "message broadcast", {"message": ""})) == "empty_message"


def test_two_messages_racing_for_one_upload_carry_it_once(site: Site) -> None:
    ada = site.connect("ada")
    shared = uploaded(site, ada, image(), "one.png")
    store = site.app.extensions["chatroom"].store
    from flask_chatroom.backends.interfaces import AttachmentClaimError
    from flask_chatroom.protocol import Attachment, Message

    attachment = Attachment.from_wire(shared)
    user = site.id_of(ada)
    first = Message(
        room="lobby", client="Ada", text="", sender_id=user, attachments=(attachment,)
    )
    second = Message(
        room="lobby", client="Ada", text="", sender_id=user, attachments=(attachment,)
    )
    store.add(first)
    with pytest.raises(AttachmentClaimError):
        store.add(second)
    assert store.get(second.id) is None


def test_uploads_are_rate_limited_and_have_a_daily_quota() -> None:
    site = make_site(
        CHATROOM_RATE_LIMITS={"upload": (0.001, 2)},
        CHATROOM_ATTACHMENT_DAILY_BYTES=None,
    )
    try:
        ada = site.connect("ada")
        for _ in range(2):
            assert upload(site.http_of(ada), image(), "a.png").status_code == 201
        limited = upload(site.http_of(ada), image(), "a.png")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    finally:
        site.close()
    small = len(image())
    site = make_site(
        CHATROOM_ATTACHMENT_DAILY_BYTES=small * 2 + 10,
        CHATROOM_DATABASE_URL="memory://",
    )
    try:
        ada = site.connect("ada")
        for _ in range(2):
            assert upload(site.http_of(ada), image(), "a.png").status_code == 201
        over = upload(site.http_of(ada), image(), "a.png")
        assert over.status_code == 422
        assert over.get_json()["error"]["reason"] == "quota"
        # Removing uploads gives nothing back: the quota counts what was taken.
        keeper(site).sweep(now=now_ms() + 2 * 3600 * 1000)
        assert upload(site.http_of(ada), image(), "a.png").status_code == 422
    finally:
        site.close()


# -- who may fetch ---------------------------------------------------------------------


@pytest.mark.parametrize("who", ["linus", None, "former"])
def test_nobody_outside_a_room_gets_its_files_through_any_door(
    site: Site, who: str | None
) -> None:
    room = private_room(site, "ada", "grace")
    ada, grace = site.connect("ada"), site.connect("grace")
    for client in (ada, grace):
        assert call(client, "join", {"room": room})["ok"]
    attachment = uploaded(site, ada, image("PNG", (1000, 500)), "plan.png", room=room)
    assert send(ada, [attachment["id"]], "the plan zebra", room=room)["ok"]
    assert site.http_of(grace).get(attachment["url"]).status_code == 200
    if who == "former":
        assert site.conversations.remove_member(room, "grace") is True
        outsider = grace
    else:
        outsider = site.connect(who)
    http = site.http_of(outsider)
    for url in (attachment["url"], attachment["thumbnail_url"]):
        refused = http.get(url)
        assert refused.status_code == 404 and refused.get_json()["error"]["code"] == (
            "not_found"
        )
    assert code(call(outsider, "history", {"room": room})) == "unknown_room"
    assert http.get(f"/chat/api/rooms/{room}/messages").status_code == 404
    assert code(call(outsider, "join", {"room": room, "since": 0})) == "unknown_room"
    found = call(outsider, "search", {"query": "zebra"})
    assert found == {"ok": True, "results": [], "next": None}
    assert http.get("/chat/api/search?q=zebra").get_json()["results"] == []
    # The member still gets everything.
    assert site.http_of(ada).get(attachment["thumbnail_url"]).status_code == 200


def test_an_unsent_upload_is_its_uploaders_only(site: Site) -> None:
    ada, grace, guest = site.connect("ada"), site.connect("grace"), site.connect()
    attachment = uploaded(site, ada, image(), "draft.png")
    assert site.http_of(ada).get(attachment["url"]).status_code == 200
    for other in (grace, guest):
        assert site.http_of(other).get(attachment["url"]).status_code == 404
    assert send(ada, [attachment["id"]])["ok"]
    # Sent to the lobby: everyone who may read the lobby, guests included.
    for other in (grace, guest):
        assert site.http_of(other).get(attachment["url"]).status_code == 200


def test_a_deleted_message_takes_its_files_with_it(site: Site) -> None:
    ada, grace = site.connect("ada"), site.connect("grace")
    attachment = uploaded(site, ada, image("PNG", (1000, 500)), "oops.png")
    sent = send(ada, [attachment["id"]], "oops")
    drain(ada, grace)
    assert call(ada, "delete message", {"id": sent["id"]})["ok"]
    (deleted,) = events(grace, "message deleted")
    assert deleted["id"] == sent["id"]
    assert "attachments" not in history(grace)[-1]
    for url in (attachment["url"], attachment["thumbnail_url"]):
        assert site.http_of(ada).get(url).status_code == 404
    files = keeper(site).files
    assert files.load(attachment["id"]) is None
    assert files.load(attachment["id"] + ".thumb") is None


def test_housekeeping_removes_unsent_and_orphaned_uploads(site: Site) -> None:
    ada = site.connect("ada")
    unsent = uploaded(site, ada, image(), "forgotten.png")
    sent_one = uploaded(site, ada, image(), "kept.png")
    assert send(ada, [sent_one["id"]])["ok"]
    keeper_ = keeper(site)
    assert keeper_.sweep() == 0  # nothing is an hour old yet
    assert keeper_.sweep(now=now_ms() + attachments_module.UNSENT_TTL_MS + 1) == 1
    assert site.http_of(ada).get(unsent["url"]).status_code == 404
    assert site.http_of(ada).get(sent_one["url"]).status_code == 200
    # Purging old messages leaves their files to the next sweep.
    store = site.app.extensions["chatroom"].store
    assert store.purge(now_ms() + 1000) >= 1
    assert keeper_.sweep() == 1
    assert keeper_.files.load(sent_one["id"]) is None


def test_files_survive_a_restart_in_the_database_and_in_a_directory(
    tmp_path: Any,
) -> None:
    for config in ({}, {"CHATROOM_ATTACHMENT_DIR": str(tmp_path / "files")}):
        url = f"sqlite:///{tmp_path}/chat-{len(config)}.db"
        first = make_site(CHATROOM_DATABASE_URL=url, **config)
        ada = first.connect("ada")
        attachment = uploaded(first, ada, image(), "keep.png")
        assert send(ada, [attachment["id"]])["ok"]
        original = first.http_of(ada).get(attachment["url"]).data
        first.close()
        first.app.extensions["chatroom"].store.close()
        second = make_site(CHATROOM_DATABASE_URL=url, **config)
        try:
            grace = second.connect("grace")
            again = second.http_of(grace).get(attachment["url"])
            assert again.status_code == 200 and again.data == original
        finally:
            second.close()
        if config:
            stored = list((tmp_path / "files").rglob(attachment["id"]))
            assert [p.read_bytes() for p in stored] == [original]


def test_a_file_is_asked_for_again_and_answered_304_while_allowed(site: Site) -> None:
    ada = site.connect("ada")
    attachment = uploaded(site, ada, image(), "a.png")
    assert send(ada, [attachment["id"]])["ok"]
    first = site.http_of(ada).get(attachment["url"])
    assert first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    again = site.http_of(ada).get(attachment["url"], headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_an_uploaded_name_is_cleaned_for_the_header(site: Site) -> None:
    ada = site.connect("ada")
    attachment = uploaded(site, ada, pdf(), "../../etc/r\u202eport\x07 é.pdf")
    assert "/" not in attachment["name"] and "\u202e" not in attachment["name"]
    assert "\x07" not in attachment["name"]
    assert send(ada, [attachment["id"]])["ok"]
    served = site.http_of(ada).get(attachment["url"])
    disposition = served.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    assert "\n" not in disposition and "\r" not in disposition


def test_export_carries_the_attachments(site: Site, tmp_path: Any) -> None:
    ada = site.connect("ada")
    attachment = uploaded(site, ada, image(), "exported.png")
    assert send(ada, [attachment["id"]], "with a file")["ok"]
    out = tmp_path / "lobby.jsonl"
    runner = site.app.test_cli_runner()
    done = runner.invoke(
        args=[
            "chatroom",
            "export",
            "lobby",
            "-o",
            str(out),
            "--files",
            str(tmp_path / "f"),
        ]
    )
    assert done.exit_code == 0, done.output
    assert attachment["id"] in out.read_text()
    saved = list((tmp_path / "f").iterdir())
    assert [p.name for p in saved] == [f"{attachment['id']}-exported.png"]
    assert saved[0].read_bytes() == site.http_of(ada).get(attachment["url"]).data


class BucketStorage(FileStorage):
    """A host's own storage, as one for object storage would be: keys to
    objects (here a dict standing in for the bucket)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def save(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def load(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def delete(self, keys: Collection[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)


def test_a_host_plugs_in_its_own_file_storage() -> None:
    bucket = BucketStorage()
    site = make_site(CHATROOM_FILE_STORAGE=bucket)
    try:
        ada, grace = site.connect("ada"), site.connect("grace")
        attachment = uploaded(site, ada, image("PNG", (1000, 500)), "cloud.png")
        assert set(bucket.objects) == {attachment["id"], attachment["id"] + ".thumb"}
        sent = send(ada, [attachment["id"]])
        served = site.http_of(grace).get(attachment["url"])
        assert served.data == bucket.objects[attachment["id"]]
        assert call(ada, "delete message", {"id": sent["id"]})["ok"]
        assert bucket.objects == {}
    finally:
        site.close()
