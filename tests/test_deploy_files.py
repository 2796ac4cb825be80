"""Every deployment file that ships is exercised: the Procfile's web command and
the systemd unit's ExecStart start a working server (the gunicorn and nginx
configs are used by tests/test_scaleout.py)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, free_port
from .deploy import DEPLOY, start_command

pytestmark = pytest.mark.server


def serves_the_site(url: str) -> None:
    with urllib.request.urlopen(url + "/chat/", timeout=5) as response:
        assert "data-chatroom" in response.read().decode()


def one_worker(process: subprocess.Popen[bytes]) -> None:
    children = subprocess.run(
        ["ps", "--ppid", str(process.pid), "-o", "args="],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(children) == 1, children  # gunicorn's arbiter and one worker


def test_the_procfile_web_command(tmp_path: Path) -> None:
    [line] = [
        line
        for line in (ROOT / "examples" / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    ]
    port = free_port()
    command = (
        line[len("web:") :]
        .strip()
        .replace("gunicorn", f"{sys.executable} -m gunicorn", 1)
    )
    server = start_command(
        ["bash", "-c", command],
        # A platform that sets WEB_CONCURRENCY must not get more workers.
        {
            "PORT": str(port),
            "WEB_CONCURRENCY": "4",
            "FLASK_CHATROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        },
        f"http://127.0.0.1:{port}",
        tmp_path / "procfile.log",
    )
    try:
        serves_the_site(server.url)
        one_worker(server.process)
        assert "Using worker: gevent" in server.log()
    finally:
        server.stop()


def test_the_systemd_unit(tmp_path: Path) -> None:
    unit = (DEPLOY / "flask-chatroom.service").read_text()
    service = unit.split("[Service]", 1)[1].split("\n[", 1)[0]
    settings: dict[str, list[str]] = {}
    for line in service.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    assert settings["WorkingDirectory"] == ["/srv/flask-chatroom"]
    env = dict(value.split("=", 1) for value in settings["Environment"])
    assert env["FLASK_SECRET_KEY"]
    [exec_start] = settings["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/srv/flask-chatroom/.venv/bin/gunicorn"
    # Run it here: the checkout stands in for /srv/flask-chatroom and this
    # interpreter for its virtualenv.
    argv = [sys.executable, "-m", "gunicorn", *argv[1:]]
    port = free_port()
    env.update(
        BIND=f"127.0.0.1:{port}",
        FLASK_CHATROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}",
    )
    server = start_command(argv, env, f"http://127.0.0.1:{port}", tmp_path / "unit.log")
    try:
        serves_the_site(server.url)
        one_worker(server.process)
    finally:
        server.stop()
    assert re.search(r"^LimitNOFILE=\d+$", unit, re.M)
