"""The widget's ES modules: their Node unit tests, what each may touch, and how
the page loads them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from flask_chatroom import __version__

from .conftest import ROOT, make_app, require

STATIC = ROOT / "flask_chatroom" / "static" / "chatroom"
NODE_TESTS = sorted((ROOT / "tests" / "js").glob("*.test.mjs"))
#: The modules that hold the widget's logic: no DOM, so Node can test them.
DOM_FREE = [
    "attachments.js",
    "changes.js",
    "connection.js",
    "errors.js",
    "links.js",
    "markup.js",
    "mentions.js",
    "messagelog.js",
    "outbox.js",
    "people.js",
    "replies.js",
    "rooms.js",
    "search.js",
    "uploads.js",
]
#: The widget's parts that draw in the page besides widget.js: what a reader can
#: do with a message (messages.js), its toolbar and forms, its reactions; the
#: composer's files (files.js) and the page's search (searchui.js).
DOM_PARTS = ["actions.js", "files.js", "messages.js", "reactions.js", "searchui.js"]
IMPORT = re.compile(r'^import\b[^;]*?\bfrom\s+"\./([\w-]+\.js)";', re.M)


def imports(module: str) -> list[str]:
    return IMPORT.findall((STATIC / module).read_text(encoding="utf-8"))


def code_of(module: str) -> str:
    """The module's source without its comments."""
    source = (STATIC / module).read_text(encoding="utf-8")
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return re.sub(r"//[^\n]*", "", source)


def test_node_unit_tests_pass() -> None:
    node = shutil.which("node")
    require(node is not None, "Node.js", "apt-get install -y nodejs")
    assert node is not None
    assert NODE_TESTS, "no tests/js/*.test.mjs"
    # The files are listed: Node 18 takes a directory, later versions take globs.
    result = subprocess.run(
        [node, "--test", *[str(path) for path in NODE_TESTS]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = re.search(r"^(?:#|\u2139) pass (\d+)$", output, re.M)
    assert summary, output
    # Node 18 before its runner flattened the TAP output counted each file as one
    # test, its tests nested (indented) under it.
    nested = len(re.findall(r"^\s+ok \d+ - ", output, re.M))
    assert max(int(summary.group(1)), nested) >= 40, output


def test_logic_modules_do_not_touch_the_page() -> None:
    for module in DOM_FREE:
        code = code_of(module)
        found = re.findall(r"\b(document|window|HTMLElement|querySelector)\b", code)
        assert not found, f"{module} uses {sorted(set(found))}"
        for imported in imports(module):
            assert imported in DOM_FREE, f"{module} imports {imported}"


def test_chat_js_loads_the_widget_which_loads_the_logic_modules() -> None:
    modules = {path.name for path in STATIC.glob("*.js")}
    assert modules == {*DOM_FREE, *DOM_PARTS, "widget.js", "chat.js"}
    assert imports("chat.js") == ["widget.js"]
    assert set(imports("widget.js")) <= {
        *DOM_FREE,
        "messages.js",
        "files.js",
        "searchui.js",
    }
    assert set(imports("messages.js")) <= {*DOM_FREE, *DOM_PARTS} - {"messages.js"}
    for part in ("actions.js", "reactions.js", "files.js", "searchui.js"):
        assert set(imports(part)) <= set(DOM_FREE), part


def test_the_page_loads_chat_js_as_a_module_and_every_module_is_served() -> None:
    client = make_app().test_client()
    html = client.get("/chat/").get_data(as_text=True)
    assert (
        f'<script type="module" src="/chat/static/chatroom/chat.js?v={__version__}">'
        in html
    )
    assert re.search(r'<script src="[^"]*/socket\.io\.min\.js\?v=[^"]+" defer>', html)
    seen: set[str] = set()
    todo = ["chat.js"]
    while todo:
        module = todo.pop()
        seen.add(module)
        response = client.get(f"/chat/static/chatroom/{module}")
        # Browsers run a module only when it comes as JavaScript.
        assert response.status_code == 200, module
        assert response.mimetype in ("text/javascript", "application/javascript"), (
            module,
            response.mimetype,
        )
        response.close()
        todo += [m for m in imports(module) if m not in seen]
    assert seen == {path.name for path in STATIC.glob("*.js")}


def test_node_reads_the_modules_as_es_modules() -> None:
    # Without it, Node 18 reads a .js file as CommonJS and fails on `export`.
    assert json.loads((STATIC / "package.json").read_text(encoding="utf-8")) == {
        "type": "module"
    }
