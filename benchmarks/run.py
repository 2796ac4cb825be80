"""Benchmarks: flask-chatroom (all features on) against a bare tutorial-style
Flask-SocketIO server, both under gunicorn with one gevent worker, and against
the same tutorial chat on Node socket.io 4.8 (benchmarks/node, installed here
with npm).

    python benchmarks/run.py                # everything
    python benchmarks/run.py --quick        # no 15,000 test, one round of pairs
    python benchmarks/run.py --only small   # or fanout / ingest: one part

The server runs on core 0 and the load generator (benchmarks/loadgen.py) on core
1. Results are printed as JSON lines and saved to
benchmarks/results/<date>[-<part>].json, with the ratios flask-chatroom :
baseline and flask-chatroom : Node. Summarize them in benchmarks/README.md with
the machine and date.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "benchmarks" / "node"
TICK = os.sysconf("SC_CLK_TCK")
CHATROOM, BASELINE, NODE = (
    "flask-chatroom",
    "baseline (tutorial style)",
    "node socket.io",
)


@dataclass
class Spec:
    """A server to measure: a gunicorn app (``module:app``) or a Node script."""

    name: str
    target: str
    namespace: str
    env: dict[str, str] = field(default_factory=dict)
    node: bool = False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server pinned to core 0: gunicorn with one gevent worker, or Node.

    ``worker`` is the process whose CPU and memory are read: gunicorn's worker,
    or the Node process itself (``taskset`` execs it, so it keeps the pid).
    """

    def __init__(self, spec: Spec, name: str | None = None):
        self.name = name or spec.name
        self.namespace = spec.namespace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tempfile.mktemp(suffix=".log"), "wb")  # noqa: SIM115
        command = ["taskset", "-c", "0"]
        if spec.node:
            command += ["node", spec.target, str(self.port)]
        else:
            command += [
                sys.executable,
                "-m",
                "gunicorn",
                "-k",
                "gevent",
                "-w",
                "1",
                "--worker-connections",
                "20000",
                "-b",
                f"127.0.0.1:{self.port}",
                spec.target,
            ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **spec.env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_raise_fd_limit,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/hello", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} did not start") from None
                time.sleep(0.2)
        if spec.node:
            self.worker = self.process.pid
        else:
            children = subprocess.run(
                ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
            ).stdout.split()
            self.worker = int(children[0])

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.worker}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.worker}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def _raise_fd_limit() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Loadgen:
    """One load generator process, driven through its handshakes: ``ready``
    once its clients are connected, ``done`` when the measured phase is over."""

    def __init__(self, server: Server, **options: Any) -> None:
        args = [
            sys.executable,
            str(ROOT / "benchmarks" / "loadgen.py"),
            "--url",
            server.url,
            "--namespace",
            server.namespace,
            "--cpu",
            "1",
        ]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value is not False:
                args += [flag, str(value)]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def wait_for(self, word: str) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"load generator said {line!r}, not {word!r}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        """Let it finish (after ``done``); its report."""
        self.go()
        out, _ = self.proc.communicate(timeout=120)
        return dict(json.loads(out.strip().splitlines()[-1]))


def loadgen(server: Server, **options: Any) -> dict[str, Any]:
    """Run one load generator against *server*; its report, with the server's
    CPU and memory during the measured phase."""
    rss_before = server.rss_kb()
    gen = Loadgen(server, **options)
    gen.wait_for("ready")  # clients connected
    rss_connected = server.rss_kb()
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    gen.go()
    gen.wait_for("done")  # the measured phase is over
    cpu = server.cpu_seconds() - cpu_before
    wall = time.monotonic() - started
    result = gen.result()
    result["server_cpu_share"] = round(cpu / wall, 2)
    if result.get("deliveries"):
        result["server_us_per_delivery"] = round(cpu / result["deliveries"] * 1e6, 1)
    if result.get("acked"):
        # Everything the server did for a message: receive, ack and deliver it.
        result["server_us_per_message"] = round(cpu / result["acked"] * 1e6, 1)
    if result.get("connected"):
        result["rss_kb_per_client"] = round(
            (rss_connected - rss_before) / result["connected"], 1
        )
    return result


def chatroom_env(database: str) -> dict[str, str]:
    return {
        "FLASK_SECRET_KEY": "bench",
        "FLASK_CHATROOM_DATABASE_URL": database,
        # All features on; the message limit and the per-user event limit (every
        # chat event takes a token of both) are raised so the load generator's
        # ten senders are not refused, but every message still takes its
        # tokens; the per-address bucket too, since every client comes from
        # 127.0.0.1 (each still takes a token of it when it connects).
        "FLASK_CHATROOM_RATE_LIMITS": json.dumps(
            {
                "message": [100000, 100000],
                "react": [100000, 100000],
                "event": [100000, 100000],
                "address": [100000, 100000],
            }
        ),
    }


def run_server_suite(spec: Spec, quick: bool) -> list[dict[str, Any]]:
    """Every case for one server. Memory is measured on a server of its own
    (a server that has had clients before reuses their freed memory)."""
    rows = []
    server = Server(spec)
    try:
        for clients in (100, 1000):
            for deflate in (False, True):
                for mode, rate in (("rate", 20), ("flat", 0)):
                    if mode == "flat" and deflate:
                        continue
                    result = loadgen(
                        server,
                        clients=clients,
                        deflate=deflate,
                        mode=mode,
                        rate=rate,
                        duration=5,
                    )
                    result.update(server=server.name, mode=mode, deflate=deflate)
                    rows.append(result)
                    print(json.dumps(result), flush=True)
    finally:
        server.stop()
    # RSS growth per client (rss_kb_per_client): the worker's RSS after the
    # clients connected, minus before, over the clients.
    cases = [("idle-1000", 1000, 3)] + ([] if quick else [("connect-15000", 15000, 2)])
    for mode, clients, hold in cases:
        server = Server(spec)
        try:
            result = loadgen(
                server, clients=clients, mode="connect", hold=hold, connect_timeout=30
            )
            result.update(server=server.name, mode=mode)
            rows.append(result)
            print(json.dumps(result), flush=True)
        finally:
            server.stop()
    return rows


def run_small(specs: list[Spec], rounds: int, workdir: Path) -> list[dict[str, Any]]:
    """Small rooms: a room of 10 clients, 10 senders flat out, each sending its
    next message when the ack of its previous one came back. Each server in
    turn, on a fresh server, for ``rounds`` rounds (the order rotates so that a
    drift of the machine's speed does not always fall on the same server).
    The chat gets a new SQLite file each round."""
    rows = []
    for attempt in range(rounds):
        turn = attempt % len(specs)
        for spec in specs[turn:] + specs[:turn]:
            if "FLASK_CHATROOM_DATABASE_URL" in spec.env:
                database = f"sqlite:///{workdir / f'small-{attempt}.sqlite3'}"
                spec = replace(
                    spec, env={**spec.env, "FLASK_CHATROOM_DATABASE_URL": database}
                )
            rows.append(ten_senders(spec, "small", round=attempt))
    return rows


def run_changes(specs: list[Spec], rounds: int, workdir: Path) -> list[dict[str, Any]]:
    """A small room where 10% of the traffic is changes to messages: the
    ``small`` case, with every tenth action of each sender a reaction toggled
    on another sender's message or an edit of its own, in turn. flask-chatroom
    only (the other servers have no changes), alternating with the plain
    ``small`` case on the same kind of server, so the two are compared at the
    same moment of the machine's drifting speed."""
    rows = []
    chat = next(spec for spec in specs if spec.name == CHATROOM)
    for attempt in range(rounds):
        for mode in ("small", "changes") if attempt % 2 == 0 else ("changes", "small"):
            database = f"sqlite:///{workdir / f'changes-{attempt}-{mode}.sqlite3'}"
            env = {**chat.env, "FLASK_CHATROOM_DATABASE_URL": database}
            spec = replace(chat, env=env)
            rows.append(ten_senders(spec, mode, round=attempt, part="changes"))
    return rows


def run_rooms(workdir: Path) -> list[dict[str, Any]]:
    """Conversations: 1,024 signed-in users, each a member of 20 rooms and 5
    direct conversations (``benchmarks/conversations_app.py`` seeds them), all
    connecting at once; each asks for its room list (with unread counts) as soon
    as it is connected. Time from the TCP connect to the list, p50 and p99;
    twice, on a fresh server each."""
    rows = []
    for attempt in range(2):
        database = f"sqlite:///{workdir / f'rooms-{attempt}.sqlite3'}"
        cookies = workdir / f"cookies-{attempt}.txt"
        env = chatroom_env(database)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "conversations_app.py"),
                "seed",
                database,
                str(cookies),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
        )
        spec = Spec(CHATROOM, "benchmarks.conversations_app:create_app()", "/chat", env)
        server = Server(spec)
        try:
            result = loadgen(
                server,
                clients=1024,
                mode="rooms",
                cookies=cookies,
                hold=1,
                connect_timeout=60,
            )
        finally:
            server.stop()
        result.update(server=spec.name, mode="rooms", round=attempt)
        rows.append(result)
        print(json.dumps(result), flush=True)
    return rows


STORM_CHATTERS, STORM_CLIENTS, STORM_SECONDS = 1000, 15000, 35


def run_storm(specs: list[Spec]) -> list[dict[str, Any]]:
    """Reconnect storm, on a fresh server each: 1,000 clients chat in a room of
    their own (10 senders, 20 messages a second in all, for 35 s) while 15,000
    others sit in the default room; 2 s in, those 15,000 all lose their
    connections at once and connect again. The chatters' latency (p50, p99)
    covers the storm; the storm's row says how long the reconnections took."""
    rows = []
    for spec in specs:
        server = Server(spec)
        try:
            chat = Loadgen(
                server,
                clients=STORM_CHATTERS,
                mode="rate",
                rate=20,
                duration=STORM_SECONDS,
                room="storm-chat",
            )
            chat.wait_for("ready")
            storm = Loadgen(
                server, clients=STORM_CLIENTS, mode="storm", connect_timeout=60
            )
            storm.wait_for("ready")
            cpu_before = server.cpu_seconds()
            chat.go()
            time.sleep(2)
            storm.go()
            storm.wait_for("done")
            chat.wait_for("done")
            cpu = server.cpu_seconds() - cpu_before
            chatted, stormed = chat.result(), storm.result()
        finally:
            server.stop()
        row = {
            "server": spec.name,
            "mode": "storm",
            "chatters": STORM_CHATTERS,
            "storm_clients": STORM_CLIENTS,
            **{
                key: chatted.get(key)
                for key in (
                    "sent",
                    "deliveries",
                    "expected",
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "loadgen_cpu",
                )
            },
            **{
                key: stormed.get(key)
                for key in (
                    "connected",
                    "reconnected",
                    "reconnect_failed",
                    "reconnect_seconds",
                )
            },
            "storm_loadgen_cpu": stormed.get("loadgen_cpu"),
            "server_cpu_seconds": round(cpu, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def ten_senders(spec: Spec, mode: str, **labels: Any) -> dict[str, Any]:
    """One case of 10 clients, all sending on acks for 5 s (``small`` or
    ``ingest``), on a server of its own; printed and returned."""
    server = Server(spec)
    try:
        result = loadgen(server, clients=10, senders=10, mode=mode, duration=5)
    finally:
        server.stop()
    result.update(server=spec.name, mode=mode, **labels)
    print(json.dumps(result), flush=True)
    return result


def median(values: list[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """flask-chatroom : baseline and flask-chatroom : Node, per case.

    Small rooms: the median over rounds of each round's ratio (servers measured
    minutes apart drift less than runs hours apart). Fan-out: the ratio of the
    one measurement each server has per case.
    """
    out: dict[str, Any] = {}
    small = [r for r in rows if r["mode"] == "small"]
    if small:
        by_server: dict[str, list[dict[str, Any]]] = {}
        for row in small:
            by_server.setdefault(row["server"], []).append(row)
        summary: dict[str, Any] = {}
        for name, found in by_server.items():
            summary[name] = {
                "acked_per_s": median([r["acked_per_s"] for r in found]),
                "server_us_per_message": median(
                    [
                        r["server_us_per_message"]
                        for r in found
                        if r.get("server_us_per_message")
                    ]
                ),
            }
        for other, key in ((BASELINE, "baseline"), (NODE, "node")):
            per_round = []
            for mine in by_server.get(CHATROOM, []):
                theirs = [
                    r for r in by_server.get(other, []) if r["round"] == mine["round"]
                ]
                if theirs and theirs[0].get("server_us_per_message"):
                    per_round.append(
                        mine["server_us_per_message"]
                        / theirs[0]["server_us_per_message"]
                    )
            if per_round:
                summary[f"us_per_message_chatroom_to_{key}"] = round(
                    median(per_round) or 0, 2
                )
        out["small"] = summary
    fanout: dict[str, Any] = {}
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["mode"] in ("rate", "flat"):
            case = f"{row['clients']} clients, {row['mode']}" + (
                ", deflate offered" if row.get("deflate") else ""
            )
            cases.setdefault(case, {})[row["server"]] = row
    for case, by_name in cases.items():
        entry: dict[str, Any] = {
            name: row.get("server_us_per_delivery") for name, row in by_name.items()
        }
        chat_us = entry.get(CHATROOM)
        for other, key in ((BASELINE, "baseline"), (NODE, "node")):
            other_us = entry.get(other)
            if chat_us and other_us:
                entry[f"chatroom_to_{key}"] = round(chat_us / other_us, 2)
        fanout[case] = entry
    if fanout:
        out["fanout_us_per_delivery"] = fanout
    return out


def versions() -> dict[str, str]:
    names = [
        "flask",
        "flask-socketio",
        "python-socketio",
        "python-engineio",
        "simple-websocket",
        "gevent",
        "gunicorn",
        "wsproto",
        "uvloop",
    ]
    found = {n: importlib.metadata.version(n) for n in names}
    found["python"] = platform.python_version()
    return found


def install_node() -> dict[str, str]:
    """Install the Node reference server's packages (``npm ci`` from the pinned
    package-lock.json into benchmarks/node/node_modules, when missing or older
    than the lock file) and return the Node and socket.io versions."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit(
            "node and npm are needed for the Node socket.io reference server "
            "(Node 18 or later); install them or pass --no-node"
        )
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
        )
    package = NODE_DIR / "node_modules" / "socket.io" / "package.json"
    node = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True
    )
    return {
        "node": node.stdout.strip().lstrip("v"),
        "socket.io": json.loads(package.read_text())["version"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick",
        action="store_true",
        help="no 15,000-client test; one round of small rooms and ingest",
    )
    parser.add_argument(
        "--only",
        choices=["fanout", "small", "ingest", "storm", "rooms", "changes"],
        help="run one part (results go to results/<date>-<part>.json)",
    )
    parser.add_argument(
        "--no-node",
        action="store_true",
        help="leave out the Node socket.io reference server",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chatroom-bench-"))
    report: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        + Path("/proc/cpuinfo")
        .read_text()
        .split("model name")[1]
        .split("\n")[0]
        .strip(": \t"),
        "versions": versions(),
        "rows": [],
    }
    servers = [
        Spec(BASELINE, "benchmarks.baseline_app:app", "/"),
        Spec(
            CHATROOM,
            "examples.hostapp.app:create_app()",
            "/chat",
            chatroom_env(f"sqlite:///{workdir / 'chat.sqlite3'}"),
        ),
    ]
    if not args.no_node and args.only not in ("ingest", "rooms"):
        report["versions"].update(install_node())
        servers.append(Spec(NODE, str(NODE_DIR / "server.js"), "/", node=True))
    for spec in servers if args.only in (None, "fanout") else []:
        report["rows"] += run_server_suite(spec, args.quick)
    if args.only in (None, "small"):
        report["rows"] += run_small(servers, 1 if args.quick else 3, workdir)
    if args.only in (None, "rooms"):
        report["rows"] += run_rooms(workdir)
    if args.only in (None, "changes"):
        report["rows"] += run_changes(servers, 1 if args.quick else 3, workdir)
    if args.only == "storm" or (args.only is None and not args.quick):
        # The tutorial-style baseline has no rooms.
        report["rows"] += run_storm([s for s in servers if s.name != BASELINE])
    # Ingest: SQLite against the in-memory store, in alternating pairs (this
    # machine's speed drifts by more than the difference being measured); the
    # share is the median of the pairs' ratios.
    shares = []
    for attempt in range(
        0
        if args.only in ("fanout", "small", "storm", "rooms", "changes")
        else 1
        if args.quick
        else 3
    ):
        pair = {}
        for store, database in (
            ("sqlite", f"sqlite:///{workdir / f'ingest-{attempt}.sqlite3'}"),
            ("memory", "memory://"),
        ):
            spec = Spec(
                f"flask-chatroom ({store})",
                "examples.hostapp.app:create_app()",
                "/chat",
                chatroom_env(database),
            )
            result = ten_senders(spec, "ingest", pair=attempt)
            report["rows"].append(result)
            pair[store] = result["acked_per_s"]
        shares.append(pair["sqlite"] / pair["memory"])
    if shares:
        report["ingest_sqlite_share"] = round(sorted(shares)[len(shares) // 2], 3)
        print(json.dumps({"ingest_sqlite_share": report["ingest_sqlite_share"]}))
    report["ratios"] = ratios(report["rows"])
    print(json.dumps({"ratios": report["ratios"]}, indent=2))
    name = report["date"] + (f"-{args.only}" if args.only else "")
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
