"""A load generator for Socket.IO chat servers: many WebSocket clients in one
asyncio process, speaking Engine.IO 4 / Socket.IO 5 directly (no per-client
threads or tasks), so that thousands of clients fit on a fraction of one core.

Each client is an :class:`asyncio.Protocol` holding a minimal RFC 6455 client:
it writes the upgrade request itself, parses the server's frames out of the
bytes it receives (no coroutine or Future per message), joins the namespace,
answers pings, and counts the chat messages it receives. Senders stamp their
messages with a clock shared by all processes of the machine, so every receiver
measures the delivery latency. While measuring, the loop polls the sockets
every --tick-ms instead of being woken for each frame (see :class:`Ticker`).
uvloop is used when it is installed.

Run by benchmarks/run.py; it prints one JSON line of results.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import json
import os
import re
import resource
import ssl
import sys
import time
import zlib
from collections.abc import Callable, Coroutine
from typing import Any, cast
from urllib.parse import urlsplit

STAMP = re.compile(rb'"message":"bench (\w+) (\d+)"')
ACK_ID = re.compile(rb"\d+")
EVENT_NAME = re.compile(rb'\["((?:[^"\\]|\\.)*)"')
#: The chat message event: only these frames count as deliveries.
MESSAGE_EVENT = b'["message receive"'

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFLATE_TAIL = b"\x00\x00\xff\xff"
OFFER_DEFLATE = (
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
)
HANDSHAKE_LIMIT = 65536  # bytes of response headers before we give up

# Opcodes and the first header byte of unfragmented frames.
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FIN_TEXT = 0x81


class Stats:
    def __init__(self) -> None:
        self.deliveries = 0  # "message receive" frames
        self.latencies_ns: list[int] = []
        # Every other Socket.IO event received (presence, welcome, ...), by name.
        self.other_events: dict[str, int] = {}
        self.acks = 0
        self.errors = 0
        self.connected = 0
        self.failed = 0
        self.deflate = 0


class Fleet:
    """What the clients share: the counters and the window of handshakes."""

    def __init__(self, stats: Stats, count: int, window: int) -> None:
        loop = asyncio.get_running_loop()
        self.stats = stats
        self.unsettled = count
        self.all_settled: asyncio.Future[None] = loop.create_future()
        self.window = asyncio.Semaphore(window)
        if count == 0:
            self.all_settled.set_result(None)

    def settle(self, client: Client, ok: bool) -> None:
        """A client got its Socket.IO connect reply (``ok``) or failed."""
        if client.settled:
            return
        client.settled = True
        if ok:
            client.connected = True
            self.stats.connected += 1
        else:
            self.stats.failed += 1
        self.window.release()
        self.unsettled -= 1
        if self.unsettled == 0 and not self.all_settled.done():
            self.all_settled.set_result(None)


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """A whole client frame: FIN, ``opcode``, masked ``payload``."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return header + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


class Client(asyncio.Protocol):
    """One Socket.IO client over a raw WebSocket, as an asyncio protocol."""

    def __init__(
        self,
        fleet: Fleet,
        namespace: str,
        netloc: str,
        path: str,
        origin: str,
        deflate: bool,
        cookie: str | None = None,
        ask_rooms: bool = False,
    ) -> None:
        self.fleet = fleet
        self.stats = fleet.stats
        self.prefix = "" if namespace == "/" else f"{namespace},"
        self.ack_prefix = b"43" + self.prefix.encode()
        self.event_prefix = b"42" + self.prefix.encode()
        self.message_head = self.event_prefix + MESSAGE_EVENT
        self.key = base64.b64encode(os.urandom(16))
        self.request = (
            f"GET {path} HTTP/1.1\r\n"
            f"Host: {netloc}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\n"
            + (f"Cookie: {cookie}\r\n" if cookie else "")
            + (OFFER_DEFLATE if deflate else "")
            + "\r\n"
        ).encode()
        # "rooms" mode: ask for the room list as soon as connected, and time it
        # from the start of the TCP connection to its acknowledgement.
        self.ask_rooms = ask_rooms
        self.started_ns = 0
        self.rooms_reply: asyncio.Future[Any] | None = None
        self.rooms_ns = 0
        self.transport: asyncio.Transport | None = None
        self.upgraded = False  # the 101 came and checked out
        self.open = False  # the transport is usable
        self.settled = False  # connected or failed, as counted in the stats
        self.connected = False
        self.engine_open = False  # the Engine.IO open packet came
        self.buf = bytearray()
        # A message in fragments: its opcode, RSV1 and the parts so far.
        self.frag_opcode = -1
        self.frag_rsv1 = False
        self.frags: list[bytes] = []
        # permessage-deflate, when the server accepted it.
        self.inflater: Any = None
        self.reset_inflater = False
        # Acks and the closed loop's echo.
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        self.waiting_for: bytes | None = None
        self.echo: asyncio.Future[None] | None = None
        # The room its messages go to (None: the server's default room).
        self.room: str | None = None

    # -- the transport ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.open = True
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.settled:
            self.fleet.settle(self, False)
        for future in self.acks.values():
            if not future.done():
                future.set_result(None)
        self.acks.clear()
        if self.echo is not None and not self.echo.done():
            self.echo.set_result(None)

    def fail(self) -> None:
        if not self.settled:
            self.fleet.settle(self, False)
        self.open = False
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.buf += data
            if not self.upgrade_response():
                return
            data = bytes(self.buf)
            self.buf.clear()
            if not data:
                return
        buf = self.buf
        view: bytes | bytearray
        if buf:
            buf += data
            view = buf
        else:
            view = data
        n = len(view)
        pos = 0
        now = time.monotonic_ns()
        stats = self.stats
        while n - pos >= 2:
            b1 = view[pos + 1]
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (view[start] << 8) | view[start + 1]
                start += 2
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(view[start : start + 8], "big")
                start += 8
            if b1 & 0x80:  # servers must not mask
                self.fail()
                return
            end = start + length
            if end > n:
                break
            b0 = view[pos]
            pos = end
            if (
                b0 == FIN_TEXT
                and length >= 2
                and view[start] == 0x34  # "4"
                and view[start + 1] == 0x32  # "2"
            ):
                # The hot path: an uncompressed, unfragmented Socket.IO event.
                if not view.startswith(self.message_head, start, end):
                    self.other_event(bytes(view[start:end]))
                    continue
                stats.deliveries += 1
                match = STAMP.search(view, start, end)
                if match is not None:
                    stats.latencies_ns.append(now - int(match.group(2)))
                    if self.waiting_for is not None and (
                        match.group(1) == self.waiting_for
                    ):
                        self.got_echo()
                continue
            self.frame(b0, bytes(view[start:end]), now)
            if not self.open:
                return
        if view is buf:
            del buf[:pos]
        elif pos < n:
            buf += data[pos:]

    def upgrade_response(self) -> bool:
        """Check the server's answer to the upgrade; True once it is in."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > HANDSHAKE_LIMIT:
                self.fail()
            return False
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        status = head[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        accept = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
        if (
            len(status) < 2
            or status[1] != "101"
            or headers.get("sec-websocket-accept") != accept
            or headers.get("upgrade", "").lower() != "websocket"
        ):
            self.fail()
            return False
        for extension in headers.get("sec-websocket-extensions", "").split(","):
            params = [p.strip().lower() for p in extension.split(";")]
            if params[0] == "permessage-deflate":
                self.inflater = zlib.decompressobj(-15)
                self.reset_inflater = "server_no_context_takeover" in params
                self.stats.deflate += 1
                break
        self.upgraded = True
        return True

    def frame(self, b0: int, payload: bytes, now: int) -> None:
        """Any frame but the hot path's."""
        fin = b0 & 0x80
        rsv1 = bool(b0 & 0x40)
        opcode = b0 & 0x0F
        if opcode >= CLOSE:  # control frames: never fragmented
            if opcode == PING:
                self.send_frame(PONG, payload)
            elif opcode == CLOSE:
                self.send_frame(CLOSE, payload[:2])
                self.open = False
                assert self.transport is not None
                self.transport.close()
            return
        if opcode == CONTINUATION:
            if self.frag_opcode < 0:
                self.fail()
                return
            self.frags.append(payload)
            if not fin:
                return
            opcode, rsv1 = self.frag_opcode, self.frag_rsv1
            payload = b"".join(self.frags)
            self.frag_opcode, self.frags = -1, []
        elif not fin:
            self.frag_opcode, self.frag_rsv1, self.frags = opcode, rsv1, [payload]
            return
        if rsv1:
            if self.inflater is None:
                self.fail()
                return
            payload = self.inflater.decompress(payload + DEFLATE_TAIL)
            if self.reset_inflater:
                self.inflater = zlib.decompressobj(-15)
        if opcode == TEXT:
            self.message(payload, now)

    def message(self, payload: bytes, now: int) -> None:
        """One whole Engine.IO text message."""
        if payload.startswith(b"42"):
            if not payload.startswith(self.message_head):
                self.other_event(payload)
                return
            self.stats.deliveries += 1
            match = STAMP.search(payload)
            if match is not None:
                self.stats.latencies_ns.append(now - int(match.group(2)))
                if self.waiting_for is not None and match.group(1) == self.waiting_for:
                    self.got_echo()
        elif payload == b"2":
            self.send_text("3")
        elif payload.startswith(self.ack_prefix):
            body = payload[len(self.ack_prefix) :]
            found = ACK_ID.match(body)
            if found is None:
                return
            future = self.acks.pop(int(found.group()), None)
            if future is not None and not future.done():
                future.set_result(json.loads(body[found.end() :]))
        elif payload.startswith(b"40"):
            self.fleet.settle(self, True)
            if self.ask_rooms:
                self.rooms_reply = self.event_ack("rooms", {})
                self.rooms_reply.add_done_callback(self.got_rooms)
        elif payload.startswith(b"44"):
            self.fleet.settle(self, False)
        elif payload.startswith(b"0") and not self.engine_open:
            self.engine_open = True  # the Engine.IO open packet
            self.send_text("40" + self.prefix)

    def other_event(self, payload: bytes) -> None:
        """A Socket.IO event that is not a chat message: counted by name."""
        found = EVENT_NAME.match(payload, len(self.event_prefix))
        name = found.group(1).decode(errors="replace") if found else "?"
        counts = self.stats.other_events
        counts[name] = counts.get(name, 0) + 1

    def got_rooms(self, _: asyncio.Future[Any]) -> None:
        self.rooms_ns = time.monotonic_ns() - self.started_ns

    def got_echo(self) -> None:
        self.waiting_for = None
        if self.echo is not None and not self.echo.done():
            self.echo.set_result(None)

    # -- sending ------------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.open:
            assert self.transport is not None
            self.transport.write(mask_frame(opcode, payload))

    def send_text(self, text: str) -> None:
        self.send_frame(TEXT, text.encode())

    def emit(self, text: str) -> None:
        payload = json.dumps(["message broadcast", self.message_body(text)])
        self.send_text("42" + self.prefix + payload)

    def message_body(self, text: str) -> dict[str, str]:
        body = {"message": text}
        if self.room is not None:
            body["room"] = self.room
        return body

    def emit_ack(self, text: str) -> asyncio.Future[Any]:
        return self.event_ack("message broadcast", self.message_body(text))

    def event_ack(self, event: str, data: Any) -> asyncio.Future[Any]:
        """Emit *event* asking for an ack: the future gets the ack's arguments."""
        payload = json.dumps([event, data])
        self.next_ack += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.open:
            future.set_result(None)
            return future
        self.acks[self.next_ack] = future
        self.send_text(f"42{self.prefix}{self.next_ack}{payload}")
        return future

    def drop(self) -> None:
        """Lose the connection without a goodbye, as a failing network or
        load balancer does."""
        if self.open:
            self.open = False
            assert self.transport is not None
            self.transport.abort()

    def close(self) -> None:
        if self.open:
            self.send_frame(CLOSE, (1000).to_bytes(2, "big"))
            self.open = False
            assert self.transport is not None
            self.transport.close()


class Ticker:
    """While measuring, poll the sockets every ``seconds`` instead of sleeping
    in epoll until the next message.

    A client blocked in epoll has to be woken for every frame the server sends,
    and on loopback the server pays for that wake-up (an inter-processor
    interrupt, costly in a VM) with its own CPU time. Sleeping a fixed tick
    between polls lets the frames queue up in the kernel and takes them in
    batches: no wake-ups charged to the server, less CPU here, and at most one
    tick added to each measured latency.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.loop = asyncio.get_running_loop()
        self.handle: asyncio.Handle | None = None

    def start(self) -> None:
        if self.seconds > 0:
            self.handle = self.loop.call_soon(self.tick)

    def tick(self) -> None:
        time.sleep(self.seconds)
        self.handle = self.loop.call_soon(self.tick)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


async def handshake(word: str) -> None:
    """Tell the runner where a measured phase starts or ends; wait for its go."""
    print(word, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def expire(future: asyncio.Future[Any]) -> None:
    """Give up waiting: resolve *future* with ``None`` if nothing came."""
    if not future.done():
        future.set_result(None)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def connect_all(
    url: str,
    namespace: str,
    count: int,
    deflate: bool,
    stats: Stats,
    timeout: float,
    window: int = 1000,
    cookies: list[str] | None = None,
    ask_rooms: bool = False,
) -> tuple[list[Client], float]:
    """Connect ``count`` clients, at most ``window`` handshakes at a time;
    client ``i`` sends ``cookies[i % len(cookies)]`` when there are cookies."""
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    path = parts.path.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
    origin = f"{parts.scheme}://{parts.netloc}"
    context = ssl.create_default_context() if secure else None
    fleet = Fleet(stats, count, window)
    clients = [
        Client(
            fleet,
            namespace,
            parts.netloc,
            path,
            origin,
            deflate,
            cookies[i % len(cookies)] if cookies else None,
            ask_rooms,
        )
        for i in range(count)
    ]
    opening: set[asyncio.Task[Any]] = set()

    async def open_one(client: Client) -> None:
        client.started_ns = time.monotonic_ns()
        try:
            await loop.create_connection(lambda: client, host, port, ssl=context)
        except OSError:
            fleet.settle(client, False)

    async def launch() -> None:
        for client in clients:
            await fleet.window.acquire()
            task = loop.create_task(open_one(client))
            opening.add(task)
            task.add_done_callback(opening.discard)

    started = time.monotonic()
    launcher = loop.create_task(launch())
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(fleet.all_settled), timeout=timeout)
    elapsed = time.monotonic() - started
    launcher.cancel()  # no new handshakes once the time is up
    with contextlib.suppress(asyncio.CancelledError):
        await launcher
    return clients, elapsed


async def move_to_room(clients: list[Client], room: str, default_room: str) -> None:
    """Each client joins *room*, leaves the default room, and sends there."""
    for event, target in (("join", room), ("leave", default_room)):
        replies = await asyncio.gather(
            *(client.event_ack(event, {"room": target}) for client in clients)
        )
        refused = [
            r
            for r in replies
            if not (isinstance(r, list) and r and r[0].get("ok", True))
        ]
        if refused:
            raise SystemExit(f"{event} {target}: {len(refused)} refused")
    for client in clients:
        client.room = room


def median_int(values: list[int]) -> int | None:
    return sorted(values)[len(values) // 2] if values else None


def percentile(lat: list[int], share: float) -> float | None:
    return (
        round(lat[min(int(len(lat) * share), len(lat) - 1)] / 1e6, 2) if lat else None
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    cookies = None
    if args.cookies:
        with open(args.cookies) as lines:
            cookies = [line.strip() for line in lines if line.strip()]
    clients, connect_time = await connect_all(
        args.url,
        args.namespace,
        args.clients,
        args.deflate,
        stats,
        args.connect_timeout,
        window=args.window,
        cookies=cookies,
        ask_rooms=args.mode == "rooms",
    )
    result: dict[str, Any] = {
        "clients": args.clients,
        "connected": stats.connected,
        "failed": stats.failed,
        "connect_seconds": round(connect_time, 2),
        "deflate_negotiated": stats.deflate,
    }
    live = [c for c in clients if c.connected and c.open]
    if args.mode == "rooms":
        # Every client asked for its room list when it connected: wait for the
        # answers, then time them.
        replies = [c.rooms_reply for c in live if c.rooms_reply is not None]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*replies), args.connect_timeout)
        times = sorted(c.rooms_ns for c in live if c.rooms_ns)
        answered = [r.result() for r in replies if r.done()]
        rooms_listed = [
            len(a[0].get("rooms", [])) for a in answered if a and isinstance(a[0], dict)
        ]
        result.update(
            rooms_acked=len(times),
            rooms_p50_ms=percentile(times, 0.5),
            rooms_p99_ms=percentile(times, 0.99),
            rooms_max_ms=round(times[-1] / 1e6, 2) if times else None,
            all_rooms_acked_s=round(
                (
                    max(c.started_ns + c.rooms_ns for c in live if c.rooms_ns)
                    - min(c.started_ns for c in live)
                )
                / 1e9,
                2,
            )
            if times
            else None,
            rooms_per_list=median_int(rooms_listed),
        )
    if args.room:
        await move_to_room(live, args.room, args.default_room)
    senders = live[: args.senders]
    await asyncio.sleep(1)
    # Keep the collector out of the measured phase: everything alive now is
    # moved out of its sight, and it is off until the phase is over.
    gc.collect()
    gc.freeze()
    await handshake("ready")  # the runner reads the server's CPU time now
    gc.disable()
    ticker = Ticker(args.tick_ms / 1000)
    ticker.start()
    if args.mode in ("connect", "rooms"):
        await asyncio.sleep(args.hold)
    elif args.mode == "storm":
        # Every connection drops at once and every client connects again (a
        # failover): how long until all are back, while others chat elsewhere.
        cpu_before = cpu_seconds()
        for client in clients:
            client.drop()
        stats.connected = stats.failed = 0
        clients, reconnect_time = await connect_all(
            args.url,
            args.namespace,
            args.clients,
            args.deflate,
            stats,
            args.connect_timeout,
        )
        result.update(
            reconnected=stats.connected,
            reconnect_failed=stats.failed,
            reconnect_seconds=round(reconnect_time, 2),
            loadgen_cpu=round((cpu_seconds() - cpu_before) / reconnect_time, 2),
        )
    elif args.mode == "flat":
        # Closed loop: each sender sends its next message as soon as its previous
        # one came back to it, so the server runs flat out without a backlog.
        stats.deliveries = 0
        stats.latencies_ns.clear()
        stats.other_events.clear()
        cpu_before, started = cpu_seconds(), time.monotonic()
        sent = 0

        async def closed_loop(client: Client, n: int) -> None:
            nonlocal sent
            i = 0
            while time.monotonic() - started < args.duration and client.open:
                tag = f"{n}x{i}"
                echo: asyncio.Future[None] = loop.create_future()
                client.waiting_for, client.echo = tag.encode(), echo
                client.emit(f"bench {tag} {time.monotonic_ns()}")
                sent += 1
                i += 1
                timer = loop.call_later(5, expire, echo)
                await echo
                timer.cancel()

        await asyncio.gather(*(closed_loop(c, n) for n, c in enumerate(senders)))
        await asyncio.sleep(args.drain)
        elapsed = time.monotonic() - started
        lat = sorted(stats.latencies_ns)
        result.update(
            sent=sent,
            deliveries=stats.deliveries,
            deliveries_per_s=round(stats.deliveries / elapsed),
            expected=sent * len(live),
            latency_p50_ms=percentile(lat, 0.5),
            latency_p99_ms=percentile(lat, 0.99),
            loadgen_cpu=round((cpu_seconds() - cpu_before) / elapsed, 2),
        )
    elif args.mode == "rate":
        stats.deliveries = 0
        stats.latencies_ns.clear()
        stats.other_events.clear()
        rate = args.rate  # messages per second, all senders together
        cpu_before, started = cpu_seconds(), time.monotonic()
        sent = 0
        while senders:
            now = time.monotonic() - started
            if now >= args.duration:
                break
            if rate:
                # Send what is due, then sleep until the next one is.
                while sent < now * rate:
                    senders[sent % len(senders)].emit(
                        f"bench {sent} {time.monotonic_ns()}"
                    )
                    sent += 1
                await asyncio.sleep(
                    max(0.0, min((sent / rate) - now, args.duration - now))
                )
            else:
                for _ in range(50):
                    senders[sent % len(senders)].emit(
                        f"bench {sent} {time.monotonic_ns()}"
                    )
                    sent += 1
                await asyncio.sleep(0)
        await asyncio.sleep(args.drain)
        lat = sorted(stats.latencies_ns)
        result.update(
            sent=sent,
            offered_per_s=round(sent * len(live) / args.duration),
            deliveries=stats.deliveries,
            deliveries_per_s=round(stats.deliveries / args.duration),
            expected=sent * len(live),
            latency_p50_ms=percentile(lat, 0.5),
            latency_p99_ms=percentile(lat, 0.99),
            loadgen_cpu=round(
                (cpu_seconds() - cpu_before) / (args.duration + args.drain), 2
            ),
        )
    elif args.mode in ("small", "ingest", "changes"):
        # Closed loop on acks: each sender sends its next message as soon as the
        # ack of its previous one came back. "small" is a room of a few clients
        # (acked messages/s, and the server's CPU per message with its
        # deliveries); "ingest" is the same loop, read for the store's share;
        # "changes" is "small" with every tenth action a change to a message
        # instead (a reaction toggled on another sender's last message, or an
        # edit of one's own, in turn): 10% of the traffic is changes.
        stats.deliveries = 0
        stats.latencies_ns.clear()
        stats.other_events.clear()
        acked = sent = 0
        ack_ns: list[int] = []
        cpu_before, started = cpu_seconds(), time.monotonic()

        last_ids: dict[int, str] = {}
        reacted: set[str] = set()
        changes = 0

        def change(n: int, i: int) -> asyncio.Future[Any] | None:
            """The change to make as action *i* of sender *n*, if it is one."""
            if args.mode != "changes" or i % 10 != 9 or n not in last_ids:
                return None
            if i % 20 == 9:
                target = last_ids.get((n + 1) % len(senders), last_ids[n])
                on = target not in reacted
                (reacted.add if on else reacted.discard)(target)
                return senders[n].event_ack(
                    "react", {"id": target, "emoji": "👍", "on": on}
                )
            return senders[n].event_ack(
                "edit message", {"id": last_ids[n], "message": f"edited {n}x{i}"}
            )

        async def acked_loop(client: Client, n: int) -> None:
            nonlocal acked, sent, changes
            i = 0
            while time.monotonic() - started < args.duration and client.open:
                stamp = time.monotonic_ns()
                changing = change(n, i)
                if changing is not None:
                    i += 1
                    sent += 1
                    reply = await changing
                    if isinstance(reply, list) and reply and reply[0].get("ok"):
                        acked += 1
                        changes += 1
                    else:
                        stats.errors += 1
                    continue
                future = client.emit_ack(f"bench {n}x{i} {stamp}")
                sent += 1
                i += 1
                timer = loop.call_later(5, expire, future)
                reply = await future
                timer.cancel()
                if isinstance(reply, list) and reply and reply[0].get("ok", True):
                    acked += 1
                    ack_ns.append(time.monotonic_ns() - stamp)
                    if isinstance(reply[0].get("id"), str):
                        last_ids[n] = reply[0]["id"]
                else:
                    stats.errors += 1

        await asyncio.gather(*(acked_loop(c, n) for n, c in enumerate(senders)))
        elapsed = time.monotonic() - started
        loadgen_cpu = (cpu_seconds() - cpu_before) / elapsed
        await asyncio.sleep(args.drain)  # deliveries still on their way
        lat = sorted(stats.latencies_ns)
        ack_ns.sort()
        result.update(
            sent=sent,
            acked=acked,
            acked_per_s=round(acked / elapsed),
            errors=stats.errors,
            deliveries=stats.deliveries,
            expected=(sent - changes) * len(live),
            deliveries_per_s=round(stats.deliveries / elapsed),
            ack_p50_ms=percentile(ack_ns, 0.5),
            ack_p99_ms=percentile(ack_ns, 0.99),
            latency_p50_ms=percentile(lat, 0.5),
            latency_p99_ms=percentile(lat, 0.99),
            loadgen_cpu=round(loadgen_cpu, 2),
        )
        if args.mode == "changes":
            result["changes_acked"] = changes
    ticker.stop()
    gc.enable()
    if args.mode != "connect":
        result["other_events"] = dict(stats.other_events)
    await handshake("done")  # ... and again now
    for client in clients:
        client.close()
    await asyncio.sleep(0.1)  # let the close frames go out
    return result


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", default="/chat")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate"
    )
    parser.add_argument(
        "--mode",
        choices=[
            "connect",
            "rate",
            "flat",
            "small",
            "ingest",
            "changes",
            "storm",
            "rooms",
        ],
        default="rate",
    )
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument(
        "--room", help="after connecting, join this room, leave the default one"
    )
    parser.add_argument("--default-room", default="lobby")
    parser.add_argument(
        "--cookies", help="a file of Cookie header values, one per client in turn"
    )
    parser.add_argument(
        "--window", type=int, default=1000, help="most handshakes at a time"
    )
    parser.add_argument(
        "--rate", type=float, default=20.0, help="messages/s; 0 = flat out"
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--drain", type=float, default=1.0)
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument(
        "--tick-ms",
        type=float,
        default=0.5,
        help="while measuring, poll the sockets every TICK ms (0 = wake per frame)",
    )
    return parser.parse_args()


def run(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run on uvloop when it is installed, else on asyncio's own loop."""
    runner: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]]
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    return runner(coroutine)


if __name__ == "__main__":
    arguments = parse()
    if arguments.cpu is not None:
        os.sched_setaffinity(0, {arguments.cpu})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(run(main(arguments))))
