"""Start the shipped deployment files for tests: gunicorn with
examples/deploy/gunicorn.conf.py and nginx with examples/deploy/nginx.conf."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, LiveServer, free_port, require, wait_until_up

DEPLOY = ROOT / "examples" / "deploy"
APP = "examples.hostapp.app:create_app()"


class Process(LiveServer):
    """A server process group started by a test (gunicorn, nginx)."""

    def kill(self) -> None:
        """SIGKILL the whole group (gunicorn's arbiter and its worker)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_command(
    command: list[str], env: dict[str, str], url: str, log_path: Path
) -> Process:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_up(url + "/hello", process, log_path)
    return Process(url, process, log_path)


def start_gunicorn(tmp_path: Path, env: dict[str, str], app: str = APP) -> Process:
    """*app* (the example app) under gunicorn, configured by the shipped
    gunicorn.conf.py."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(DEPLOY / "gunicorn.conf.py"),
        app,
    ]
    return start_command(
        command,
        {"BIND": f"127.0.0.1:{port}", **env},
        f"http://127.0.0.1:{port}",
        tmp_path / f"gunicorn-{port}.log",
    )


def start_nginx(tmp_path: Path, upstreams: list[str]) -> Process:
    """nginx with the shipped nginx.conf, its upstream servers and port replaced."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    require(Path(binary).exists(), "nginx", "apt-get install -y nginx")
    site = (DEPLOY / "nginx.conf").read_text()
    servers = "".join(f"    server {u};\n" for u in upstreams)
    site, count = re.subn(r"(    server 127\.0\.0\.1:\d+;\n)+", servers, site)
    assert count == 1, "nginx.conf has no upstream server lines to replace"
    port = free_port()
    site, count = re.subn(r"listen 8080;", f"listen 127.0.0.1:{port};", site)
    assert count == 1, "nginx.conf has no 'listen 8080;' to replace"
    folder = tmp_path / f"nginx-{port}"
    folder.mkdir()
    folder.chmod(0o777)
    temp = "".join(
        f"    {kind}_temp_path {folder}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n    access_log off;\n{temp}{site}\n}}\n"
    )
    url = f"http://127.0.0.1:{port}"
    with (folder / "stdout.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "-c", str(folder / "nginx.conf"), "-p", str(folder)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_up(url + "/hello", process, folder / "error.log")
    return Process(url, process, folder / "error.log")
