"""A load generator for Socket.IO chat servers: many WebSocket clients in one
asyncio process, speaking Engine.IO 4 / Socket.IO 5 directly (no per-client
threads), so a thousand clients fit on one core.

Each client connects over the WebSocket transport, joins the namespace, answers
pings, and counts the chat messages it receives. Senders stamp their messages
with a clock shared by all processes of the machine, so every receiver measures
the delivery latency.

Run by benchmarks/run.py; it prints one JSON line of results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import sys
import time
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

STAMP = re.compile(r'"message":"bench (\w+) (\d+)"')


class Stats:
    def __init__(self) -> None:
        self.deliveries = 0
        self.latencies_ns: list[int] = []
        self.acks = 0
        self.errors = 0
        self.connected = 0
        self.failed = 0


class Client:
    """One Socket.IO client over a raw WebSocket."""

    def __init__(self, stats: Stats, namespace: str) -> None:
        self.stats = stats
        self.namespace = namespace
        self.prefix = "" if namespace == "/" else f"{namespace},"
        self.ws: ClientConnection | None = None
        self.ready = asyncio.Event()
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        self.waiting_for = ""
        self.echo = asyncio.Event()
        self.pending: set[asyncio.Future[None]] = set()

    async def run(self, url: str, compression: str | None) -> None:
        try:
            async with connect(
                url,
                compression=compression,
                max_size=None,
                ping_interval=None,
                open_timeout=60,
                additional_headers={
                    "Origin": url.split("/socket.io")[0].replace("ws", "http", 1)
                },
            ) as ws:
                self.ws = ws
                await ws.recv()  # the Engine.IO open packet
                await ws.send("40" + self.prefix)
                async for frame in ws:
                    self.handle(frame)  # type: ignore[arg-type]
        except (OSError, websockets.ConnectionClosed, asyncio.TimeoutError):
            if not self.ready.is_set():
                self.stats.failed += 1
                self.ready.set()

    def handle(self, frame: str) -> None:
        if frame == "2":
            assert self.ws is not None
            pong = asyncio.ensure_future(self.ws.send("3"))
            self.pending.add(pong)
            pong.add_done_callback(self.pending.discard)
            return
        if frame.startswith("42"):
            self.stats.deliveries += 1
            match = STAMP.search(frame)
            if match:
                self.stats.latencies_ns.append(
                    time.monotonic_ns() - int(match.group(2))
                )
                if match.group(1) == self.waiting_for:
                    self.echo.set()
            return
        if frame.startswith("43"):
            body = frame[2 + len(self.prefix) :]
            ack_id = int(re.match(r"\d+", body).group())  # type: ignore[union-attr]
            future = self.acks.pop(ack_id, None)
            if future is not None and not future.done():
                future.set_result(json.loads(body[len(str(ack_id)) :]))
            return
        if frame.startswith("40"):
            self.stats.connected += 1
            self.ready.set()
        elif frame.startswith("44"):
            self.stats.failed += 1
            self.ready.set()

    async def emit(self, text: str, ack: bool) -> Any:
        assert self.ws is not None
        payload = json.dumps(["message broadcast", {"message": text}])
        if not ack:
            await self.ws.send("42" + self.prefix + payload)
            return None
        self.next_ack += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = future
        await self.ws.send(f"42{self.prefix}{self.next_ack}{payload}")
        return await future


async def handshake(word: str) -> None:
    """Tell the runner where a measured phase starts or ends; wait for its go."""
    print(word, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def connect_all(
    url: str,
    namespace: str,
    count: int,
    compression: str | None,
    stats: Stats,
    timeout: float,
) -> tuple[list[Client], list[asyncio.Task[None]], float]:
    clients = [Client(stats, namespace) for _ in range(count)]
    started = time.monotonic()
    tasks = []
    for i, client in enumerate(clients):
        tasks.append(asyncio.create_task(client.run(url, compression)))
        if i % 200 == 199:
            await asyncio.sleep(0)  # let handshakes progress
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(c.ready.wait() for c in clients)), timeout=timeout
        )
    return clients, tasks, time.monotonic() - started


async def main(args: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    url = args.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    compression = "deflate" if args.deflate else None
    clients, tasks, connect_time = await connect_all(
        url, args.namespace, args.clients, compression, stats, args.connect_timeout
    )
    result: dict[str, Any] = {
        "clients": args.clients,
        "connected": stats.connected,
        "failed": stats.failed,
        "connect_seconds": round(connect_time, 2),
    }
    live = [c for c in clients if c.ready.is_set() and c.ws is not None]
    await asyncio.sleep(1)
    await handshake("ready")  # the runner reads the server's CPU time now
    if args.mode == "connect":
        await asyncio.sleep(args.hold)
    elif args.mode == "flat":
        # Closed loop: each sender sends its next message as soon as its previous
        # one came back to it, so the server runs flat out without a backlog.
        stats.deliveries = 0
        stats.latencies_ns.clear()
        senders = live[: args.senders]
        cpu_before, started = cpu_seconds(), time.monotonic()
        sent = 0

        async def closed_loop(client: Client, n: int) -> None:
            nonlocal sent
            i = 0
            while time.monotonic() - started < args.duration:
                tag = f"{n}x{i}"
                client.waiting_for, client.echo = tag, asyncio.Event()
                await client.emit(f"bench {tag} {time.monotonic_ns()}", ack=False)
                sent += 1
                i += 1
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(client.echo.wait(), timeout=5)

        await asyncio.gather(*(closed_loop(c, n) for n, c in enumerate(senders)))
        await asyncio.sleep(args.drain)
        elapsed = time.monotonic() - started
        lat = sorted(stats.latencies_ns)
        result.update(
            sent=sent,
            deliveries=stats.deliveries,
            deliveries_per_s=round(stats.deliveries / elapsed),
            expected=sent * len(live),
            latency_p50_ms=round(lat[len(lat) // 2] / 1e6, 2) if lat else None,
            latency_p99_ms=round(lat[int(len(lat) * 0.99)] / 1e6, 2) if lat else None,
            loadgen_cpu=round((cpu_seconds() - cpu_before) / elapsed, 2),
        )
    elif args.mode == "rate":
        stats.deliveries = 0
        stats.latencies_ns.clear()
        senders = live[: args.senders]
        rate = args.rate  # messages per second, all senders together
        cpu_before, started = cpu_seconds(), time.monotonic()
        sent = 0
        while time.monotonic() - started < args.duration:
            due = (time.monotonic() - started) * rate if rate else float("inf")
            while sent < due and time.monotonic() - started < args.duration:
                sender = senders[sent % len(senders)]
                await sender.emit(f"bench {sent} {time.monotonic_ns()}", ack=False)
                sent += 1
                if not rate and sent % 50 == 0:
                    await asyncio.sleep(0)
            await asyncio.sleep(0.001)
        await asyncio.sleep(args.drain)
        elapsed = time.monotonic() - started
        lat = sorted(stats.latencies_ns)
        del elapsed
        result.update(
            sent=sent,
            offered_per_s=round(sent * len(live) / args.duration),
            deliveries=stats.deliveries,
            deliveries_per_s=round(stats.deliveries / args.duration),
            expected=sent * len(live),
            latency_p50_ms=round(lat[len(lat) // 2] / 1e6, 2) if lat else None,
            latency_p99_ms=round(lat[int(len(lat) * 0.99)] / 1e6, 2) if lat else None,
            loadgen_cpu=round(
                (cpu_seconds() - cpu_before) / (args.duration + args.drain), 2
            ),
        )
    elif args.mode == "ingest":
        senders = live[: args.senders]
        acked = 0
        cpu_before, started = cpu_seconds(), time.monotonic()

        async def sender_loop(client: Client, n: int) -> None:
            nonlocal acked
            i = 0
            while time.monotonic() - started < args.duration:
                reply = await client.emit(f"ingest {n} {i}", ack=True)
                if isinstance(reply, list) and reply and reply[0].get("ok", True):
                    acked += 1
                else:
                    stats.errors += 1
                i += 1

        await asyncio.gather(*(sender_loop(c, n) for n, c in enumerate(senders)))
        elapsed = time.monotonic() - started
        result.update(
            acked=acked,
            acked_per_s=round(acked / elapsed),
            errors=stats.errors,
            loadgen_cpu=round((cpu_seconds() - cpu_before) / elapsed, 2),
        )
    await handshake("done")  # ... and again now
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
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
        "--mode", choices=["connect", "rate", "flat", "ingest"], default="rate"
    )
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument(
        "--rate", type=float, default=20.0, help="messages/s; 0 = flat out"
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--drain", type=float, default=1.0)
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.cpu is not None:
        os.sched_setaffinity(0, {arguments.cpu})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(asyncio.run(main(arguments))))
