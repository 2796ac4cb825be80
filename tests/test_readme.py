"""The README's two commands: CI runs the test command as the README shows it."""

from __future__ import annotations

import re

from .conftest import ROOT


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", readme)


def test_readme_holds_exactly_two_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    run_example, run_tests = commands
    assert "python3 -m examples.hostapp" in run_example
    assert "pytest" in run_tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = ci.index("# README test command:")
    assert ci[marker + 1] == readme_commands()[1]


def test_readme_quickstart_names_the_real_api() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "from flask_chatroom import register_chat" in readme
    assert '{% from "chatroom/macros.html" import chat_widget %}' in readme
    assert (ROOT / "docs" / "_static" / "screenshot.png").exists()
