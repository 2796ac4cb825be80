"""The distribution: sdist and wheel build, pass twine, hold every file, and work
when installed into a fresh virtualenv outside the source tree."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

from flask_chatroom import __version__

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--sdist",
            "--wheel",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return out


def test_twine_check_passes(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_wheel_holds_templates_static_files_vendored_client_and_py_typed(
    dist: Path,
) -> None:
    [wheel] = dist.glob("flask_chatroom-*.whl")
    assert wheel.name == f"flask_chatroom-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in [
        "flask_chatroom/__init__.py",
        "flask_chatroom/py.typed",
        "flask_chatroom/templates/chatroom/base.html",
        "flask_chatroom/templates/chatroom/chat.html",
        "flask_chatroom/templates/chatroom/widget.html",
        "flask_chatroom/templates/chatroom/macros.html",
        "flask_chatroom/static/chatroom/chat.js",
        "flask_chatroom/static/chatroom/chat.css",
        "flask_chatroom/static/vendor/socket.io/socket.io.min.js",
        "flask_chatroom/static/vendor/socket.io/LICENSE",
    ]:
        assert required in names, required
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    metadata = (
        zipfile.ZipFile(wheel)
        .read(f"flask_chatroom-{__version__}.dist-info/METADATA")
        .decode()
    )
    assert "Classifier: Framework :: Flask" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "License-Expression: MIT" in metadata


def test_sdist_ships_tests_docs_and_examples(dist: Path) -> None:
    [sdist] = dist.glob("flask_chatroom-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    prefix = f"flask_chatroom-{__version__}/"
    for required in [
        "LICENSE",
        "README.md",
        "CHANGES.md",
        "pyproject.toml",
        "tests/conftest.py",
        "docs/index.rst",
        "examples/hostapp/app.py",
    ]:
        assert prefix + required in names, required


def test_installed_wheel_serves_a_chat_page_outside_the_source_tree(
    dist: Path, tmp_path: Path
) -> None:
    [wheel] = dist.glob("flask_chatroom-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    script = textwrap.dedent(
        """
        import flask_chatroom, sys
        from flask import Flask
        from flask_socketio import SocketIO
        from flask_chatroom import register_chat

        assert "site-packages" in flask_chatroom.__file__, flask_chatroom.__file__
        app = Flask(__name__)
        app.config["SECRET_KEY"] = "s"
        socketio = SocketIO(app, async_mode="threading")
        register_chat(app, socketio)
        http = app.test_client()
        page = http.get("/chat/")
        assert page.status_code == 200 and b"data-chatroom" in page.data
        assets = ["chatroom/chat.js", "chatroom/chat.css",
                  "vendor/socket.io/socket.io.min.js"]
        for path in assets:
            response = http.get("/chat/static/" + path)
            assert response.status_code == 200 and len(response.data) > 1000, path
            response.close()
        client = socketio.test_client(app, namespace="/chat", flask_test_client=http)
        ack = client.emit("message broadcast", {"message": "from the wheel"},
                          namespace="/chat", callback=True)
        assert ack["ok"] is True, ack
        print("served from", flask_chatroom.__file__)
        """
    )
    result = subprocess.run(
        [str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(env_dir) in result.stdout
