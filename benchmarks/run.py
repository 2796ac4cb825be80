"""Fan-out benchmarks: flask-chatroom (all features on) against a bare
tutorial-style Flask-SocketIO server, both under gunicorn with one gevent worker.

    python benchmarks/run.py            # the full suite (about 6 minutes)
    python benchmarks/run.py --quick    # 100 and 1,000 clients, no 15,000 test

The server runs on core 0 and the load generator (benchmarks/loadgen.py) on core
1. Results are printed as a table and saved to benchmarks/results/<date>.json.
Summarize them in benchmarks/README.md with the machine and date.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A gunicorn server (one gevent worker) pinned to core 0."""

    def __init__(self, name: str, app: str, env: dict[str, str], namespace: str):
        self.name = name
        self.namespace = namespace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tempfile.mktemp(suffix=".log"), "wb")  # noqa: SIM115
        command = [
            "taskset",
            "-c",
            "0",
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
            app,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
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
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.2)
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


def loadgen(server: Server, **options: Any) -> dict[str, Any]:
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
    rss_before = server.rss_kb()
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"  # clients connected
    rss_connected = server.rss_kb()
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "done"  # the measured phase is over
    cpu = server.cpu_seconds() - cpu_before
    wall = time.monotonic() - started
    proc.stdin.write("go\n")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=120)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["server_cpu_share"] = round(cpu / wall, 2)
    if result.get("deliveries"):
        result["server_us_per_delivery"] = round(cpu / result["deliveries"] * 1e6, 1)
    if result.get("connected"):
        result["rss_kb_per_client"] = round(
            (rss_connected - rss_before) / result["connected"], 1
        )
    return result


def chatroom_env(database: str) -> dict[str, str]:
    return {
        "FLASK_SECRET_KEY": "bench",
        "FLASK_CHATROOM_DATABASE_URL": database,
        # All features on; the message limit is raised so the load generator's
        # ten senders are not refused, but every message still takes a token;
        # the per-address bucket too, since every client comes from 127.0.0.1
        # (each still takes a token of it when it connects).
        "FLASK_CHATROOM_RATE_LIMITS": json.dumps(
            {"message": [100000, 100000], "address": [100000, 100000]}
        ),
    }


def run_server_suite(
    spec: tuple[str, str, dict[str, str], str], quick: bool
) -> list[dict[str, Any]]:
    """Every case for one server. Memory is measured on a server of its own
    (a server that has had clients before reuses their freed memory)."""
    rows = []
    server = Server(*spec)
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
        server = Server(*spec)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only",
        choices=["fanout", "ingest"],
        help="run one part (results go to results/<date>-<part>.json)",
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
        .strip(": "),
        "versions": versions(),
        "rows": [],
    }
    servers = [
        ("baseline (tutorial style)", "benchmarks.baseline_app:app", {}, "/"),
        (
            "flask-chatroom",
            "examples.hostapp.app:create_app()",
            chatroom_env(f"sqlite:///{workdir / 'chat.sqlite3'}"),
            "/chat",
        ),
    ]
    for spec in servers if args.only in (None, "fanout") else []:
        report["rows"] += run_server_suite(spec, args.quick)
    # Ingest: SQLite against the in-memory store, in alternating pairs (this
    # machine's speed drifts by more than the difference being measured); the
    # share is the median of the pairs' ratios.
    ratios = []
    for attempt in range(0 if args.only == "fanout" else 1 if args.quick else 3):
        pair = {}
        for store, database in (
            ("sqlite", f"sqlite:///{workdir / f'ingest-{attempt}.sqlite3'}"),
            ("memory", "memory://"),
        ):
            server = Server(
                f"flask-chatroom ({store})",
                "examples.hostapp.app:create_app()",
                chatroom_env(database),
                "/chat",
            )
            try:
                result = loadgen(
                    server, clients=10, senders=10, mode="ingest", duration=5
                )
            finally:
                server.stop()
            result.update(server=server.name, mode="ingest", pair=attempt)
            report["rows"].append(result)
            print(json.dumps(result), flush=True)
            pair[store] = result["acked_per_s"]
        ratios.append(pair["sqlite"] / pair["memory"])
    if ratios:
        report["ingest_sqlite_share"] = round(sorted(ratios)[len(ratios) // 2], 3)
        print(json.dumps({"ingest_sqlite_share": report["ingest_sqlite_share"]}))
    name = report["date"] + (f"-{args.only}" if args.only else "")
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
