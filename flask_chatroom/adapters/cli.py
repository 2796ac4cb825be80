"""``flask chatroom ...`` commands: the database schema and its migrations,
retention and exports."""

from __future__ import annotations

import json
import os
import time
from typing import IO

import click

from ..backends.interfaces import SCHEMA_VERSION, SchemaError
from ..protocol import is_valid_room_name
from ..service import get_service
from .http import blueprint

DAY_MS = 24 * 60 * 60 * 1000


@blueprint.cli.command("init-db")
def init_db() -> None:
    """Create the chat's tables (or check that they are current)."""
    store = get_service().store
    try:
        store.init_schema()
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"chat schema: {store.schema_status()}")


@blueprint.cli.command("migrate")
def migrate() -> None:
    """Bring the chat's tables up to this release's schema version."""
    try:
        found = get_service().store.migrate()
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    if found is None:
        click.echo(f"chat schema: created at version {SCHEMA_VERSION}")
    elif found == SCHEMA_VERSION:
        click.echo(f"chat schema: ok, already at version {SCHEMA_VERSION}")
    else:
        click.echo(f"chat schema: migrated from version {found} to {SCHEMA_VERSION}")


@blueprint.cli.command("purge")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Delete messages older than this many days "
    "(default: CHATROOM_RETENTION_DAYS).",
)
def purge(days: int | None) -> None:
    """Delete messages older than the retention period."""
    service = get_service()
    days = days or service.config.retention_days
    if days is None:
        raise click.UsageError(
            "Set CHATROOM_RETENTION_DAYS or pass --days to say what to keep."
        )
    removed = service.store.purge(int(time.time() * 1000) - days * DAY_MS)
    if service.ready:
        service.rooms.forget_history()
    files = service.sweep_attachments()
    click.echo(
        f"deleted {removed} message(s) older than {days} day(s) "
        f"and {files} upload(s) of deleted messages or never sent"
    )


@blueprint.cli.command("export")
@click.argument("room")
@click.option(
    "--output",
    "-o",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Where to write (default: standard output).",
)
@click.option(
    "--files",
    type=click.Path(file_okay=False, writable=True),
    default=None,
    help="Also copy the messages' attachments into this directory, as <id>-<name>.",
)
def export(room: str, output: IO[str], files: str | None) -> None:
    """Write the messages of ROOM as JSON Lines, oldest first."""
    if not is_valid_room_name(room):
        raise click.BadParameter(f"{room!r} is not a room name", param_hint="ROOM")
    service = get_service()
    count = copied = 0
    for message in service.store.messages(room):
        wire = message.to_wire()
        wire["sender_id"] = message.sender_id
        output.write(json.dumps(wire, ensure_ascii=False) + "\n")
        count += 1
        if files is not None and service.attachments is not None:
            for attachment in message.attachments:
                upload = service.attachments.uploads.get(attachment.id)
                content = (
                    None if upload is None else service.attachments.content(upload)
                )
                if content is not None:
                    os.makedirs(files, exist_ok=True)
                    target = os.path.join(files, f"{attachment.id}-{attachment.name}")
                    with open(target, "wb") as out:
                        out.write(content)
                    copied += 1
    click.echo(f"exported {count} message(s) from {room}", err=True)
    if files is not None:
        click.echo(f"copied {copied} attachment(s) to {files}", err=True)


@blueprint.cli.command("doctor")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="How many worker processes will serve the app (default: WEB_CONCURRENCY "
    "or 1).",
)
def doctor(workers: int | None) -> None:
    """Check the setup before going live; exits with 1 if something is wrong."""
    from flask import current_app

    from .doctor import run_checks

    findings = run_checks(current_app._get_current_object(), workers)  # type: ignore[attr-defined]
    marks = {"ok": "ok     ", "warning": "WARNING", "error": "ERROR  "}
    for finding in findings:
        click.echo(f"{marks[finding.level]} {finding.check}: {finding.message}")
        if finding.fix:
            click.echo(f"        fix: {finding.fix}")
    errors = sum(finding.level == "error" for finding in findings)
    if errors:
        click.echo(f"{errors} problem(s) to fix before going live.", err=True)
        raise SystemExit(1)
    click.echo("Ready to go live.")
