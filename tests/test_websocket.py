"""flask-chatroom's own WebSocket connection for gevent (flask_chatroom.websocket):
it is used, it delivers exactly what the plain path (simple-websocket and
Engine.IO's queue) delivers, it speaks the WebSocket protocol, and a client that
stops reading neither blocks the server nor grows its memory without bound."""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import gevent.socket
import pytest
import socketio
import websocket
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_chatroom.fastpath import websocket as fast
from flask_chatroom.protocol import EVENT_MESSAGE

from .conftest import ChatClient, LiveServer
from .deploy import start_gunicorn

pytestmark = pytest.mark.server

MANY = {"CHATROOM_RATE_LIMITS": {"message": [1000, 1000]}}


def in_use(server: Any) -> dict[str, int]:
    with urllib.request.urlopen(server.url + "/_test/websockets", timeout=5) as r:
        counts: dict[str, int] = json.load(r)
    return counts


@pytest.mark.parametrize(
    ("config", "direct"),
    [
        ({}, 2),
        ({"CHATROOM_FAST_WEBSOCKET": False}, 0),
        ({"CHATROOM_WEBSOCKET_COMPRESSION": True}, 0),
    ],
)
def test_websocket_clients_write_directly_unless_turned_off(
    live_server_factory: Callable[..., LiveServer],
    clients: Callable[..., ChatClient],
    config: dict[str, Any],
    direct: int,
) -> None:
    server = live_server_factory(config=config)
    for transport in ("websocket", "websocket", "polling"):
        clients(server.url, transports=[transport]).next("welcome")
    # Long-polling (and a connection upgraded from it) keeps Engine.IO's queue.
    assert in_use(server) == {"direct": direct, "queued": 3 - direct}


@pytest.mark.parametrize("fast_websocket", [True, False])
def test_gunicorns_gevent_worker_writes_directly_too(
    tmp_path: Path, clients: Callable[..., ChatClient], fast_websocket: bool
) -> None:
    env = {
        "FLASK_SECRET_KEY": "test",
        "FLASK_CHATROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "FLASK_CHATROOM_FAST_WEBSOCKET": json.dumps(fast_websocket),
    }
    # The shipped gunicorn.conf.py: gunicorn's gevent worker.
    server = start_gunicorn(tmp_path, env, app="tests.testapp:create_app()")
    url = server.url
    try:
        alice, bob = (clients(url, transports=["websocket"]) for _ in "ab")
        name = alice.next("welcome")["client"]
        bob.next("welcome")
        assert alice.send({"message": "over gunicorn"})["ok"] is True
        received = bob.next("message receive")
        assert (received["client"], received["message"]) == (name, "over gunicorn")
        direct = 2 if fast_websocket else 0
        assert in_use(server) == {"direct": direct, "queued": 2 - direct}
    finally:
        server.stop()


def run_conversation(server: LiveServer, clients: Callable[..., ChatClient]) -> Any:
    """Three WebSocket members, one long-polling member and one that upgrades
    from long-polling to a WebSocket talk; a late joiner then loads the history.
    Returns what everyone received, with sender names replaced by the member's
    index (guest names are random)."""
    members = [
        clients(server.url, transports=t)
        for t in (["websocket"], ["websocket"], ["polling"], ["websocket"], None)
    ]
    names = [m.next("welcome")["client"] for m in members]
    texts = [
        "hello",
        "é ü 😀" * 20,  # over 125 bytes: a 16-bit frame length
        "<b>not bold</b> & \"quoted\" 'single'",
        "😀" * 2000,  # 8 KB
    ] * 4
    acks = []
    for i, text in enumerate(texts):
        ack = members[i % len(members)].send({"message": text})
        assert ack["ok"] is True, ack
        acks.append(ack)

    def seen(member: ChatClient) -> list[tuple[int, str, int]]:
        got = [member.next("message receive") for _ in texts]
        return [(names.index(m["client"]), m["message"], m["seq"]) for m in got]

    transcripts = [seen(m) for m in members]
    late = clients(server.url, transports=["websocket"], events=["history"])
    late.next("welcome")
    history = late.next("history")
    return transcripts, [
        (names.index(m["client"]), m["message"], m["seq"]) for m in history["messages"]
    ]


def test_the_fast_path_delivers_what_the_plain_path_delivers(
    live_server_factory: Callable[..., LiveServer],
    clients: Callable[..., ChatClient],
    tmp_path: Path,
) -> None:
    fast_server = live_server_factory(
        config={**MANY, "CHATROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'fast.db'}"}
    )
    plain_server = live_server_factory(
        config={
            **MANY,
            "CHATROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'plain.db'}",
            "CHATROOM_FAST_WEBSOCKET": False,
        }
    )
    fast_transcripts, fast_history = run_conversation(fast_server, clients)
    plain_transcripts, plain_history = run_conversation(plain_server, clients)
    # Three members and the late joiner write directly; the long-polling and
    # the upgraded member through Engine.IO's queue.
    assert in_use(fast_server) == {"direct": 4, "queued": 2}
    assert in_use(plain_server)["direct"] == 0

    # Everyone, on either path and either transport, saw every message once, in
    # the order the server stored them.
    expected = fast_transcripts[0]
    assert [seq for _, _, seq in expected] == sorted({s for _, _, s in expected})
    assert len(expected) == 16
    assert all(t == expected for t in fast_transcripts)
    assert plain_transcripts == fast_transcripts
    # The late joiner's history (a frame of over 64 KB: a 64-bit length, written
    # in parts) is the same on both paths.
    assert len(fast_history) == 16
    assert fast_history == plain_history == expected


# -- the WebSocket protocol ------------------------------------------------------


def open_ws(server: LiveServer) -> websocket.WebSocket:
    ws = websocket.create_connection(
        server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket",
        origin=server.url,
        timeout=10,
    )
    assert ws.recv().startswith("0{")  # Engine.IO's open packet
    return ws


def next_control(ws: websocket.WebSocket) -> tuple[int, bytes]:
    """Skip data frames; return the next control frame's opcode and payload."""
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode in (websocket.ABNF.OPCODE_CLOSE, websocket.ABNF.OPCODE_PONG):
            return opcode, data


def test_protocol_fragments_pings_and_closing(live_server: LiveServer) -> None:
    ws = open_ws(live_server)
    # A message in two fragments is put together: the namespace connect works.
    ws.send_frame(websocket.ABNF.create_frame("4", websocket.ABNF.OPCODE_TEXT, fin=0))
    ws.send_frame(websocket.ABNF.create_frame("0/chat,", websocket.ABNF.OPCODE_CONT))
    # (python-socketio sends the connect reply after the connect handler, so
    # the welcome and the history come first.)
    frames = [ws.recv()]
    while not frames[-1].startswith("40/chat,{"):
        assert frames[-1].startswith('42/chat,["'), frames
        frames.append(ws.recv())
    assert '42/chat,["welcome",' in "".join(frames)
    # A WebSocket ping is answered with its payload.
    ws.ping("are you there")
    assert next_control(ws) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    # Closing: the server answers with its own close frame.
    ws.send_close()
    opcode, data = next_control(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1000
    ws.close()


@pytest.mark.parametrize("fast_websocket", [True, False])
def test_pings_keep_a_client_and_silence_drops_it(
    live_server_factory: Callable[..., LiveServer], fast_websocket: bool
) -> None:
    server = live_server_factory(
        config={"TEST_PING": [1, 2], "CHATROOM_FAST_WEBSOCKET": fast_websocket}
    )
    ws = open_ws(server)
    ws.send("40/chat,")
    # Engine.IO pings every second; a client that answers stays.
    started = time.monotonic()
    for _ in range(3):
        while (frame := ws.recv()) != "2":
            assert frame.startswith("4"), frame
        ws.send("3")
    assert 2 < time.monotonic() - started < 6
    assert in_use(server)["direct" if fast_websocket else "queued"] == 1
    # One that stops answering is closed after the ping timeout: the server
    # says so (a close frame; the plain path may send Engine.IO's close
    # packet first) and forgets it.
    deadline = time.monotonic() + 10
    seen: list[tuple[int, bytes]] = []
    with contextlib.suppress(websocket.WebSocketConnectionClosedException):
        while not seen or seen[-1][0] != websocket.ABNF.OPCODE_CLOSE:
            assert time.monotonic() < deadline, seen
            seen.append(ws.recv_data(control_frame=True))
    assert seen and seen[-1][0] == websocket.ABNF.OPCODE_CLOSE
    while in_use(server) != {"direct": 0, "queued": 0}:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    if fast_websocket:
        # ... and ends the TCP connection, even with a client that does not
        # (long before the 3-second socket timeout).
        ws.sock.settimeout(1.5)
        assert ws.sock.recv(100) == b""
    ws.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        # Larger than CHATROOM_MAX_FRAME_BYTES (64 KiB): "message too big".
        (
            websocket.ABNF.create_frame("4" + "x" * 70_000, websocket.ABNF.OPCODE_TEXT),
            1009,
        ),
        # Text that is not UTF-8: "invalid frame payload data".
        (websocket.ABNF.create_frame(b"4\xff\xfe", websocket.ABNF.OPCODE_TEXT), 1007),
    ],
)
def test_bad_frames_close_the_connection_with_a_reason(
    live_server: LiveServer, frame: websocket.ABNF, code: int
) -> None:
    ws = open_ws(live_server)
    ws.send_frame(frame)
    opcode, data = next_control(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == code
    ws.close()
    # The server carries on.
    open_ws(live_server).close()


def test_the_close_reason_reaches_a_client_still_sending_its_frame(
    live_server: LiveServer,
) -> None:
    """The server decides a frame is too big from its header, while the client
    is still sending the rest. Closing the socket with the rest unread would
    reset the connection, and the client's system would drop the close frame
    before the client read it (51 of 60 such closes were lost with client and
    server on one core): the server ends its side and reads what still comes
    for a moment first."""
    ws = open_ws(live_server)
    frame = websocket.ABNF.create_frame("4" + "x" * 70_000, websocket.ABNF.OPCODE_TEXT)
    wire = frame.format()
    ws.sock.sendall(wire[:1024])  # the header says 70,001 bytes
    time.sleep(0.5)  # the server has refused it and sent its close frame by now
    ws.sock.sendall(wire[1024:])
    opcode, data = next_control(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1009
    ws.close()


def test_a_bad_handshake_gets_400(live_server: LiveServer) -> None:
    host, port = live_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(
        "GET",
        "/socket.io/?EIO=4&transport=websocket",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "8",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Origin": live_server.url,
        },
    )
    response = conn.getresponse()
    assert response.status == 400
    assert response.getheader("Sec-WebSocket-Version") == "13"
    conn.close()


def test_the_accept_key_is_the_rfc_example() -> None:
    # RFC 6455, section 1.3.
    assert fast.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# -- writing -----------------------------------------------------------------------


def connection_pair() -> tuple[fast.GeventWebSocket, Any]:
    """A GeventWebSocket writing to one end of a gevent socket pair."""
    ours, theirs = gevent.socket.socketpair()
    ours.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_SNDBUF, 8192)
    theirs.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_RCVBUF, 8192)
    ws = fast.GeventWebSocket(None, SimpleNamespace(max_http_buffer_size=65536))
    ws._sock, ws._raw = ours, ours._sock
    return ws, theirs


@given(
    st.one_of(
        st.text(max_size=70_000),
        st.binary(max_size=70_000),
        st.sampled_from(["x" * 125, "x" * 126, "x" * 65535, "x" * 65536]),
    )
)
@settings(max_examples=200, deadline=None)
def test_frames_are_the_bytes_wsproto_builds(data: str | bytes) -> None:
    """The fast path frames by hand (RFC 6455 header, no mask); wsproto, which
    parses what clients send, builds the same bytes."""
    from wsproto.frame_protocol import FrameProtocol

    assert fast.frame(data) == bytes(
        FrameProtocol(client=False, extensions=[]).send_data(data, fin=True)
    )


def test_writes_never_block_and_arrive_whole_and_in_order() -> None:
    ws, reader = connection_pair()
    frames = [fast.frame(f"{i:05d}" + "x" * 5000) for i in range(200)]
    started = time.monotonic()
    for data in frames:
        ws.write(data)  # about 1 MB into an 8 KB socket: most of it waits
    assert time.monotonic() - started < 1
    assert ws.pending  # the rest is queued behind the kernel's buffer
    received = bytearray()
    while len(received) < sum(map(len, frames)):
        received += reader.recv(65536)  # yields to the flushing greenlet
    assert bytes(received) == b"".join(frames)
    gevent.sleep(0)
    assert ws.pending is None and not ws.closed


def test_a_client_that_stops_reading_is_cut_off() -> None:
    ws, reader = connection_pair()
    chunk = fast.frame("y" * 100_000)
    for _ in range(fast.MAX_PENDING_BYTES // len(chunk) + 2):
        ws.write(chunk)
    # More than MAX_PENDING_BYTES behind: closed, not buffered further.
    assert ws.closed and ws.pending is None
    ws.write(chunk)  # a late write is dropped, not an error
    reader.close()


def test_the_frame_of_a_broadcast_is_built_once() -> None:
    from engineio import packet

    pkt = packet.Packet(packet.MESSAGE, '2/chat,["' + EVENT_MESSAGE + '",{}]')
    first = fast.packet_frame(pkt)
    assert fast.packet_frame(pkt) is first
    assert first[0] == 0x81 and first[2:].decode() == "4" + pkt.data


# -- the client manager -----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["connect", "enter", "leave", "disconnect"]),
            st.integers(0, 3),
            st.sampled_from(["lobby", "games", "news"]),
        ),
        max_size=40,
    )
)
def test_the_room_index_agrees_with_python_socketio(
    steps: list[tuple[str, int, str]],
) -> None:
    """DirectEmit finds a connection's rooms from an index instead of looking
    through every room; after any sequence of connects, joins, leaves and
    disconnects, both managers hold the same rooms."""
    managers = [socketio.Manager(), fast.DirectEmit()]
    for manager in managers:
        manager.set_server(socketio.Server(async_mode="threading"))
    managers[1]._chatroom_connections = {}
    managers[1].index_rooms()
    sids: list[dict[int, str]] = [{}, {}]
    for action, client, room in steps:
        for manager, known in zip(managers, sids, strict=True):
            sid = known.get(client)
            if action == "connect" and sid is None:
                known[client] = manager.connect(f"eio{client}", "/chat")
            elif sid is None:
                continue
            elif action == "enter":
                manager.enter_room(sid, "/chat", room)
            elif action == "leave":
                manager.leave_room(sid, "/chat", room)
            elif action == "disconnect":
                manager.disconnect(sid, "/chat")
                del known[client]

    def named(manager: Any, known: dict[int, str]) -> dict[Any, set[int]]:
        clients = {sid: client for client, sid in known.items()}
        return {
            clients.get(room, room): {clients[sid] for sid in members}
            for room, members in manager.rooms.get("/chat", {}).items()
        }

    assert named(managers[1], sids[1]) == named(managers[0], sids[0])
    for client, sid in sids[1].items():
        assert sorted(map(str, managers[1].get_rooms(sid, "/chat"))) == sorted(
            str(r if r != sids[0][client] else sid)
            for r in managers[0].get_rooms(sids[0][client], "/chat")
        )
