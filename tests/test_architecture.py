"""The house rules of docs/architecture.rst: dependencies run one way, one
implementation of each check serves every door, and the fast path steps aside
on releases it was not tested with."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grimp
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_chatroom import fastpath

from .conftest import ROOT, ChatClient, LiveServer, make_chat_app
from .test_websocket import in_use

# -- imports --------------------------------------------------------------------------


def test_lint_imports_keeps_the_layer_contracts() -> None:
    beside = Path(sys.executable).with_name("lint-imports")
    lint_imports = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert lint_imports, "lint-imports is missing: pip install import-linter"
    result = subprocess.run(
        [lint_imports, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph = grimp.build_graph("flask_chatroom", cache_dir=None)
    # The package's __init__ re-exports the public names; it is the top.
    modules = {m for m in graph.modules if m != "flask_chatroom"}
    assert len(modules) > 20
    assert _cycles(graph, modules) == []


# -- one door, one check: the HTTP API never answers 500 ------------------------------

QUERY_VALUE = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["²", "٣", "-1", "1e3", " 5", "0x10", "99999999999999999999"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.just("9" * 5000),
)


@pytest.fixture(scope="module")
def api() -> FlaskClient:
    app, _ = make_chat_app()
    return app.test_client()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    args=st.dictionaries(
        st.sampled_from(["before", "after", "limit", "other"]), QUERY_VALUE, max_size=3
    )
)
def test_the_history_api_answers_a_malformed_query_with_a_json_400(
    api: FlaskClient, args: dict[str, str]
) -> None:
    response = api.get("/chat/api/rooms/lobby/messages", query_string=args)
    assert response.status_code in (200, 400), (args, response.status_code)
    body = response.get_json()
    if response.status_code == 400:
        assert body["ok"] is False
        assert body["error"]["code"] == "invalid_payload"
    else:
        assert body["room"] == "lobby"
        assert isinstance(body["messages"], list)


@pytest.mark.parametrize(
    "query",
    [
        "before=%C2%B2",
        "before=99999999999999999999",
        "limit=" + "9" * 5000,
        "before=1&after=1",
        "after=-1",
    ],
)
def test_known_bad_history_queries_are_400_not_500(
    api: FlaskClient, query: str
) -> None:
    response = api.get(f"/chat/api/rooms/lobby/messages?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_payload"


# -- the fast path's release check ----------------------------------------------------


def test_the_fast_path_knows_the_installed_releases_are_the_tested_ones() -> None:
    # CI's newest-releases run fails here first when a new series comes out.
    assert fastpath.untested_releases() == []


def test_an_untested_release_gets_one_warning_and_the_plain_path(
    live_server_factory: Callable[..., LiveServer],
    clients: Callable[..., ChatClient],
) -> None:
    server = live_server_factory(
        config={"TEST_INSTALLED_RELEASES": {"python-engineio": [4, 99]}}
    )
    reader = clients(server.url, transports=["websocket"])
    writer = clients(server.url, transports=["websocket"])
    reader.next("welcome")
    writer.next("welcome")
    ack = writer.send({"message": "plain path"})
    assert ack["ok"] is True
    received = reader.next("message receive")
    assert (received["message"], received["seq"]) == ("plain path", ack["seq"])
    assert in_use(server) == {"direct": 0, "queued": 2}
    log = server.log()
    assert log.count("not tested with python-engineio 4.99") == 1, log
