"""The documentation builds without a warning and says what the code does.

The configuration page has one entry per ``CHATROOM_*`` key with the real default;
the protocol page names every event, every error code and every ``welcome`` field;
the templates page lists the blocks, the widget's ``data-chatroom-*`` parts and the
CSS custom properties that the package really has; the server API page describes
every signal with the arguments the package sends it with; the storage page lists
every ``flask chatroom`` command; the security page has the real default rate
limits and a payload table with every client event and the fields its parser
reads; the deployment page names every shipped deployment file and lists every
check of ``flask chatroom doctor`` with its levels; the rooms and protocol pages
give the real size of a large room. When the code changes, these tests say which
page to update.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import blinker
import click
import pytest
from socketio.exceptions import ConnectionRefusedError as Refused

from flask_chatroom import config, protocol, signals
from flask_chatroom.adapters import cli
from flask_chatroom.adapters import socketio as events
from flask_chatroom.core.announcer import LARGE_ROOM, PRESENCE_FANOUT
from flask_chatroom.limits import DEFAULT_RATE_LIMITS
from flask_chatroom.protocol import Message

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = ROOT / "flask_chatroom"


def page(name: str) -> str:
    return (DOCS / f"{name}.rst").read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The body of the section whose heading is *title*, up to the next heading."""
    lines = text.splitlines()
    underline = re.compile(r"^([=\-~^\"'])\1{2,}$")
    for i, line in enumerate(lines[:-1]):
        if line.strip() == title and underline.match(lines[i + 1]):
            body = []
            for j in range(i + 2, len(lines)):
                nxt = lines[j + 1] if j + 1 < len(lines) else ""
                if lines[j].strip() and underline.match(nxt):
                    break
                body.append(lines[j])
            return "\n".join(body)
    raise AssertionError(f"no section {title!r}")


def literals(text: str) -> set[str]:
    """Everything written as ``inline literal`` in *text*."""
    return set(re.findall(r"``([^`]+)``", text))


def definitions(text: str) -> set[str]:
    """The terms of a definition list whose terms are lone ``literals``."""
    return set(re.findall(r"^``(\w+)``$", text, re.M))


def table_rows(text: str) -> dict[str, str]:
    """A list-table's rows whose first cell is one ``literal``: that literal ->
    the rest of the row."""
    rows = {}
    for row in re.split(r"^   \* - ", text, flags=re.M)[1:]:
        first, _, rest = row.partition("\n")
        match = re.fullmatch(r"``([^`]+)``\s*", first)
        if match:
            rows[match.group(1)] = rest
    return rows


def rate_limit_rows(text: str) -> dict[str, tuple[float, int]]:
    """The rows ``action`` / rate / burst of a rate-limit table in *text*."""
    rows = re.findall(r"\* - ``(\w+)``\n\s+- ([\d.]+)\n\s+- (\d+)", text)
    return {action: (float(rate), int(burst)) for action, rate, burst in rows}


# -- the build ------------------------------------------------------------------------


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    """``sphinx -W -n`` passes: no broken reference, no page outside the toctree."""
    out = tmp_path / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-n",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"sphinx-build failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    for name in (
        "index",
        "quickstart",
        "rooms",
        "identity",
        "server-api",
        "storage",
        "security",
        "configuration",
        "templates",
        "protocol",
        "deployment",
        "performance",
        "api",
        "changes",
    ):
        assert (out / f"{name}.html").is_file(), f"{name}.html was not built"
    # The change log is the repository's CHANGES.md, not a copy.
    first_entry = next(
        line
        for line in (ROOT / "CHANGES.md").read_text().splitlines()
        if line.startswith("## ")
    )
    assert first_entry[3:].split(" ")[0] in (out / "changes.html").read_text()


# -- configuration.rst -----------------------------------------------------------------

ENTRY = re.compile(r"^\.\. py:data:: (CHATROOM_\w+)[ \t]*$", re.M)


def config_entries() -> dict[str, str]:
    """``CHATROOM_*`` entry name -> the entry's text, from configuration.rst."""
    text = page("configuration")
    matches = list(ENTRY.finditer(text))
    entries = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(text)
        entries[match.group(1)] = text[match.end() : end]
    return entries


def code_keys() -> set[str]:
    return {config.PREFIX + name for name in config.OPTIONS}


def test_configuration_has_one_entry_per_key() -> None:
    text = page("configuration")
    names = ENTRY.findall(text)
    assert len(names) == len(set(names)), "a key has two entries"
    missing = code_keys() - set(names)
    unknown = set(names) - code_keys()
    assert not missing, f"configuration.rst has no entry for {sorted(missing)}"
    assert not unknown, (
        f"configuration.rst documents keys the code lacks: {sorted(unknown)}"
    )


def test_docs_mention_no_key_the_code_lacks() -> None:
    """No page talks about a ``CHATROOM_*`` key that does not exist (any more)."""
    pattern = re.compile(r"CHATROOM_[A-Z][A-Z_]*[A-Z]")
    for path in sorted(DOCS.glob("*.rst")):
        unknown = set(pattern.findall(path.read_text(encoding="utf-8"))) - code_keys()
        assert not unknown, f"{path.name} mentions {sorted(unknown)}"


def documented_default(entry: str) -> Any:
    """The value of an entry's ``:value:`` option: a literal, or a dotted name."""
    match = re.search(r"^\s+:value: (.+)$", entry, re.M)
    assert match, "the entry has no :value: line"
    written = match.group(1).strip()
    try:
        return ast.literal_eval(written)
    except (ValueError, SyntaxError):
        module, _, name = written.rpartition(".")
        return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name", sorted(config.OPTIONS))
def test_configuration_entry_gives_the_real_default(name: str) -> None:
    default, _validate = config.OPTIONS[name]
    entry = config_entries()[config.PREFIX + name]
    assert documented_default(entry) == default
    assert entry.strip(), "the entry says nothing"


def test_default_rate_limits_are_the_real_ones() -> None:
    entry = config_entries()["CHATROOM_RATE_LIMITS"]
    assert rate_limit_rows(entry) == DEFAULT_RATE_LIMITS


def test_default_content_security_policy_is_spelled_out() -> None:
    entry = config_entries()["CHATROOM_CONTENT_SECURITY_POLICY"]
    for directive in config.DEFAULT_CSP.split("; "):
        assert directive in entry, f"{directive!r} is not in the CSP entry"


def test_configuration_explains_precedence_and_resolved_values() -> None:
    text = page("configuration")
    assert "take precedence over" in text
    assert "get_chat(app).config" in text


# -- protocol.rst ----------------------------------------------------------------------


def test_protocol_names_the_documented_events() -> None:
    names = literals(page("protocol"))
    for constant in ("EVENT_SEND", "EVENT_MESSAGE", "EVENT_WELCOME", "EVENT_ERROR"):
        event = getattr(protocol, constant)
        assert event in names, f"protocol.rst does not name {constant} = {event!r}"


def test_protocol_names_every_event_the_code_has() -> None:
    names = literals(page("protocol"))
    events = {
        value
        for key, value in vars(protocol).items()
        if key.startswith("EVENT_") and isinstance(value, str)
    }
    missing = events - names
    assert not missing, f"protocol.rst does not document the events {sorted(missing)}"


def error_code_table() -> list[str]:
    """The first column of the table in the "Error codes" section."""
    body = section(page("protocol"), "Error codes")
    return re.findall(r"^   \* - ``(\w+)``\s*$", body, re.M)


def test_protocol_error_code_table_matches_the_code() -> None:
    table = error_code_table()
    assert len(table) == len(set(table)), "an error code is listed twice"
    missing = set(protocol.ERROR_CODES) - set(table)
    unknown = set(table) - set(protocol.ERROR_CODES)
    assert not missing, f"the error code table lacks {sorted(missing)}"
    assert not unknown, (
        f"the error code table lists codes the code lacks: {sorted(unknown)}"
    )


def json_examples(text: str) -> list[Any]:
    """Every ``.. code-block:: json`` example in *text*, parsed."""
    examples = []
    for match in re.finditer(
        r"^( *)\.\. code-block:: json\n\n((?:\1 +.*\n|\n)+)", text, re.M
    ):
        examples.append(json.loads(match.group(2)))
    return examples


def a_message() -> Message:
    return Message(room="lobby", client="Guest 4821", text="hi", client_id="c1", seq=1)


def test_protocol_documents_every_field_of_a_message() -> None:
    wire = a_message().to_wire()
    body = section(page("protocol"), "``message receive``")
    fields = set(re.findall(r"^``(\w+)``$", body, re.M))
    missing = set(wire) - fields
    assert not missing, f"the message receive fields lack {sorted(missing)}"
    (example,) = json_examples(body)
    assert set(example) == set(wire), "the message receive example has other fields"


def test_protocol_shows_both_acknowledgements() -> None:
    examples = [e for e in json_examples(page("protocol")) if isinstance(e, dict)]
    shapes = [set(example) for example in examples if "ok" in example]
    assert set(a_message().ack()) in shapes, "no example of the accepted message's ack"
    refusals = [e for e in examples if e.get("ok") is False]
    assert refusals, "no example of a refusal"
    for example in refusals:
        error = example["error"]
        retry_after = 1.0 if "retry_after" in error else None
        wire = protocol.ChatError(error["code"], "A sentence.", retry_after).to_wire()
        assert set(example) == set(
            protocol.error_ack(protocol.ChatError("empty_message", ""))
        )
        assert set(error) == set(wire), f"the {error['code']} example has other fields"


def welcome_fields() -> set[str]:
    """The keys of the ``welcome`` payload, from the ``emit`` in service.py."""
    tree = ast.parse((PACKAGE / "service.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "emit"
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "EVENT_WELCOME"
            and isinstance(node.args[1], ast.Dict)
        ):
            return {
                key.value
                for key in node.args[1].keys
                if isinstance(key, ast.Constant) and isinstance(key.value, str)
            }
    raise AssertionError("service.py does not emit EVENT_WELCOME with a dict literal")


def test_protocol_documents_every_welcome_field() -> None:
    fields = welcome_fields()
    documented = definitions(section(page("protocol"), "``welcome``"))
    assert documented == fields, (
        f"the welcome section lacks {sorted(fields - documented)} and lists "
        f"{sorted(documented - fields)} that the code does not send"
    )
    examples = [
        example
        for example in json_examples(page("protocol"))
        if isinstance(example, dict) and "guest" in example
    ]
    assert examples, "no example of a welcome payload"
    for example in examples:
        assert set(example) == fields, "a welcome example has other fields"


def test_protocol_shows_a_refused_connection_as_the_client_gets_it() -> None:
    with pytest.raises(Refused) as info:
        events._refuse(protocol.ChatError("login_required", "Please sign in."))
    sent = info.value.error_args
    examples = [
        example
        for example in json_examples(section(page("protocol"), "Refused connections"))
        if isinstance(example, dict)
    ]
    assert examples, "no example of a refused connection"
    for example in examples:
        assert set(example) == set(sent)
        assert set(example["data"]) == set(sent["data"])
        assert example["data"]["code"] in protocol.ERROR_CODES


# -- templates.rst ---------------------------------------------------------------------


def template_blocks(name: str) -> set[str]:
    source = (PACKAGE / "templates" / "chatroom" / name).read_text(encoding="utf-8")
    return set(re.findall(r"{%-?\s*block\s+(\w+)", source))


@pytest.mark.parametrize("template", ["base.html", "widget.html"])
def test_templates_page_lists_every_block(template: str) -> None:
    blocks = template_blocks(template)
    assert blocks, f"{template} has no blocks"
    missing = blocks - literals(page("templates"))
    assert not missing, (
        f"templates.rst does not list the {template} blocks {sorted(missing)}"
    )


def test_templates_page_lists_every_part_the_widget_looks_up() -> None:
    scripts = (PACKAGE / "static" / "chatroom").glob("*.js")
    script = "\n".join(path.read_text(encoding="utf-8") for path in scripts)
    parts = set(re.findall(r'part\(\s*root,\s*"([\w-]+)"\s*\)', script))
    assert parts, "the widget looks up no parts: has part() been renamed?"
    documented = literals(page("templates"))
    missing = {f"data-chatroom-{name}" for name in parts} - documented
    assert not missing, f"templates.rst does not list {sorted(missing)}"


def test_templates_page_lists_the_css_custom_properties() -> None:
    css = (PACKAGE / "static" / "chatroom" / "chat.css").read_text(encoding="utf-8")
    declared = set(re.findall(r"(--chatroom-[\w-]+)\s*:", css))
    table = section(page("templates"), "Theming")
    listed = set(re.findall(r"^   \* - ``(--chatroom-[\w-]+)``\s*$", table, re.M))
    assert declared == listed, (
        f"chat.css declares but the docs lack {sorted(declared - listed)}; "
        f"the docs list but chat.css lacks {sorted(listed - declared)}"
    )


# -- api.rst ---------------------------------------------------------------------------


def test_api_documents_every_signal() -> None:
    names = {
        name
        for name, value in vars(signals).items()
        if isinstance(value, blinker.NamedSignal)
    }
    documented = set(
        re.findall(
            r"^\.\. autodata:: flask_chatroom\.signals\.(\w+)$", page("api"), re.M
        )
    )
    assert names == documented


# -- server-api.rst --------------------------------------------------------------------


def signal_names() -> set[str]:
    return {
        name
        for name, value in vars(signals).items()
        if isinstance(value, blinker.NamedSignal)
    }


def _signals_in(node: ast.AST, names: set[str]) -> set[str]:
    """The ``signals.<name>`` attributes anywhere inside *node*."""
    return {
        sub.attr
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute)
        and isinstance(sub.value, ast.Name)
        and sub.value.id == "signals"
        and sub.attr in names
    }


def sent_signal_arguments() -> dict[str, set[str]]:
    """Signal name -> the keyword arguments the package sends it with.

    Finds ``signals.<name>.send(app, key=...)`` and ``signal.send(...)`` where
    ``signal`` was assigned from ``signals.<name>`` in the same function, and
    the same two through the helper that takes the signal first:
    ``signals.send(signals.<name>, key=...)``.
    """
    names = signal_names()
    sent: dict[str, set[str]] = {name: set() for name in names}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            aliases: dict[str, set[str]] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.Assign) and _signals_in(node.value, names):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            aliases[target.id] = _signals_in(node.value, names)
            for node in ast.walk(function):
                if not isinstance(node, ast.Call):
                    continue
                if not (
                    isinstance(node.func, ast.Attribute) and node.func.attr == "send"
                ):
                    continue
                receiver = node.func.value
                if (
                    isinstance(receiver, ast.Name)
                    and receiver.id == "signals"
                    and node.args
                ):
                    receiver = node.args[0]  # the helper, given the signal
                if isinstance(receiver, ast.Name):
                    targets = aliases.get(receiver.id, set())
                else:
                    targets = _signals_in(receiver, names)
                for name in targets:
                    sent[name].update(kw.arg for kw in node.keywords if kw.arg)
    return sent


def test_every_signal_is_sent_somewhere() -> None:
    unsent = sorted(name for name, args in sent_signal_arguments().items() if not args)
    assert not unsent, f"no .send(...) with keyword arguments found for {unsent}"


@pytest.mark.parametrize("name", sorted(signal_names()))
def test_server_api_documents_each_signal_with_its_arguments(name: str) -> None:
    sent = sent_signal_arguments()[name]
    body = section(page("server-api"), f"``{name}``")
    documented = definitions(body)
    assert documented == sent, (
        f"server-api.rst documents {name} with {sorted(documented)}; "
        f"the package sends {sorted(sent)}"
    )


# -- storage.rst -----------------------------------------------------------------------


def cli_commands() -> dict[str, click.Command]:
    commands = dict(cli.blueprint.cli.commands)
    assert commands, "flask_chatroom.cli registers no command"
    return commands


@pytest.mark.parametrize("name", sorted(cli_commands()))
def test_storage_lists_every_cli_command_and_its_options(name: str) -> None:
    text = page("storage")
    command = cli_commands()[name]
    assert f"flask chatroom {name}" in text, f"storage.rst does not list {name}"
    body = section(text, "The commands")
    assert f"``flask chatroom {name}" in body, (
        f"the commands section of storage.rst does not list {name}"
    )
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                assert opt in text, f"storage.rst does not mention {name} {opt}"
        elif isinstance(param, click.Argument):
            assert (param.name or "").upper() in text


def test_storage_explains_the_schema_that_errors_point_to() -> None:
    pointing = [
        path.name
        for path in PACKAGE.rglob("*.py")
        if "the storage docs" in path.read_text(encoding="utf-8")
    ]
    assert pointing, "nothing points to the storage docs any more; drop this test"
    text = page("storage")
    for term in ("SchemaError", "schema_version", "chatroom_meta", "init-db"):
        assert term in text, f"storage.rst (pointed to by {pointing}) lacks {term}"


# -- security.rst ----------------------------------------------------------------------


def test_security_gives_the_real_default_rate_limits() -> None:
    body = section(page("security"), "Rate limits")
    assert rate_limit_rows(body) == DEFAULT_RATE_LIMITS


#: Parsers of input that is no event payload (tested on their own).
NOT_EVENT_PARSERS = {
    "parse_auth_since",
    "parse_auth_changes",
    "parse_auth_token",
    "parse_change_query",
    "parse_history_query",
}


def parser_fields() -> dict[str, tuple[set[str], set[str]]]:
    """``parse_*`` function -> (the events its docstring names, the payload fields
    it reads, also through the ``parse_*`` functions it calls)."""
    tree = ast.parse((PACKAGE / "protocol.py").read_text(encoding="utf-8"))
    event_names = {
        value
        for key, value in vars(protocol).items()
        if key.startswith("EVENT_") and isinstance(value, str)
    }
    own: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    named: dict[str, set[str]] = {}
    for function in tree.body:
        if (
            not (
                isinstance(function, ast.FunctionDef)
                and function.name.startswith("parse_")
            )
            or function.name in NOT_EVENT_PARSERS
        ):
            continue
        doc = (ast.get_docstring(function) or "").split("\n\n")[0]
        named[function.name] = literals(doc) & event_names
        own[function.name] = set()
        calls[function.name] = set()
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
                key = node.args[0]
            elif isinstance(func, ast.Name) and func.id == "_seq_field":
                key = node.args[1] if len(node.args) > 1 else None
            else:
                if isinstance(func, ast.Name) and func.id.startswith("parse_"):
                    calls[function.name].add(func.id)
                continue
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                own[function.name].add(key.value)

    def fields(name: str) -> set[str]:
        found = set(own[name])
        for callee in calls[name]:
            found |= fields(callee)
        return found

    return {name: (named[name], fields(name)) for name in own}


def test_security_payload_table_lists_every_client_event() -> None:
    rows = table_rows(section(page("security"), "Payload validation"))
    assert set(rows) == set(events.EVENTS), (
        f"the payload table lacks {sorted(set(events.EVENTS) - set(rows))} and "
        f"lists {sorted(set(rows) - set(events.EVENTS))} that are no client events"
    )


@pytest.mark.parametrize("parser", sorted(parser_fields()))
def test_security_payload_table_gives_each_parsed_field(parser: str) -> None:
    named, fields = parser_fields()[parser]
    assert named, f"{parser}'s docstring names no event in ``double backquotes``"
    rows = table_rows(section(page("security"), "Payload validation"))
    for event in named:
        assert event in rows, f"the payload table has no row for {event!r}"
        missing = fields - literals(rows[event])
        assert not missing, f"the {event!r} row does not give {sorted(missing)}"


# -- deployment.rst --------------------------------------------------------------------

EXAMPLES = ROOT / "examples"


def test_deployment_names_every_deployment_file() -> None:
    text = page("deployment")
    shipped = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (EXAMPLES / "deploy").iterdir()
        if path.is_file() and not path.name.startswith(".")
    )
    assert shipped, "examples/deploy/ holds no file"
    missing = [name for name in [*shipped, "examples/Procfile"] if name not in text]
    assert not missing, f"deployment.rst does not name {missing}"


def doctor_checks() -> dict[str, set[str]]:
    """Check name -> its levels, from every ``Finding(level, check, ...)`` in
    doctor.py."""
    tree = ast.parse((PACKAGE / "adapters" / "doctor.py").read_text(encoding="utf-8"))
    checks: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Finding"
        ):
            continue
        given = dict(zip(("level", "check"), node.args, strict=False))
        given.update((kw.arg, kw.value) for kw in node.keywords if kw.arg)
        level, check = given.get("level"), given.get("check")
        assert isinstance(level, ast.Constant) and isinstance(check, ast.Constant), (
            f"doctor.py line {node.lineno}: a Finding whose level or check is not a "
            "string literal; teach this test to read it"
        )
        checks.setdefault(check.value, set()).add(level.value)
    return checks


def test_deployment_lists_every_doctor_check_with_its_levels() -> None:
    checks = doctor_checks()
    assert checks, "doctor.py makes no Finding: has it been renamed?"
    rows = table_rows(section(page("deployment"), "The checks"))
    missing = set(checks) - set(rows)
    unknown = set(rows) - set(checks)
    assert not missing, f"the doctor table in deployment.rst lacks {sorted(missing)}"
    assert not unknown, (
        f"the doctor table in deployment.rst lists checks the code lacks: "
        f"{sorted(unknown)}"
    )
    for check, levels in checks.items():
        for level in levels - {"ok"}:
            assert level in rows[check], f"the {check!r} row does not say {level!r}"


def test_deployment_gives_the_doctor_command_and_its_options() -> None:
    text = page("deployment")
    command = cli_commands()["doctor"]
    assert "flask chatroom doctor" in text
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                assert opt in text, f"deployment.rst does not mention doctor {opt}"
    assert "WEB_CONCURRENCY" in text


# -- large rooms -----------------------------------------------------------------------

SIZE_PHRASE = re.compile(
    r"\b(?:more\s+than|up\s+to|first|at\s+most)\s+([\d,]+)\s+(?:users|entries)\b"
)


def test_rooms_gives_the_real_size_of_a_large_room() -> None:
    body = section(page("rooms"), "Large rooms")
    assert re.search(rf"\b{LARGE_ROOM}\b", body), (
        f"the Large rooms section of rooms.rst does not say {LARGE_ROOM}"
    )
    flat = " ".join(body.split())
    assert f"over {PRESENCE_FANOUT:,} members" in flat
    assert f"about {PRESENCE_FANOUT:,} members a second" in flat


@pytest.mark.parametrize("name", ["rooms", "protocol", "performance"])
def test_every_large_room_size_in_the_docs_is_the_real_one(name: str) -> None:
    sizes = {int(size.replace(",", "")) for size in SIZE_PHRASE.findall(page(name))}
    stale = sizes - {LARGE_ROOM}
    assert not stale, f"{name}.rst gives {sorted(stale)} as the size of a large room"
