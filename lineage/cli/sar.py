"""`lineage sar`: answer a data-subject request for one person (GDPR Art. 15-21)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lineage.cli.context import LineageTyper, Operator, console, err, fail
from lineage.cli.office import Email, RequestId, rights_call, rights_office

app = LineageTyper(help="Answer a data-subject request (GDPR Art. 15-21) for one person, named by business e-mail. "
                  "Every command registers or completes a request and writes the access log.",
                  no_args_is_help=True)  # fmt: skip


@app.command("export")
def sar_export(
    email: Email,
    out: Annotated[Path, typer.Option("--out", help="New folder for the export, inside LINEAGE_EXPORT_BASE; "
                                      "a zip of it is written beside it.")],  # fmt: skip
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Write everything held about the person (Art. 15) and a portable copy of their events (Art. 20)."""
    office = rights_office(operator)
    with console.status("exporting"):
        result = rights_call(office.export, email, out, request)
    console.print(f"{result.events:,} events and {result.identifiers:,} identifiers -> {result.folder} "
                  f"and {result.zip_path} ({result.seconds:.2f} s)")  # fmt: skip


@app.command("erase")
def sar_erase(email: Email, operator: Operator = None, request: RequestId = None) -> None:
    """Erase the person from every table and the dead-letter topic, keeping (restricted) what the law requires."""
    office = rights_office(operator)
    with console.status("erasing and verifying"):
        result = rights_call(office.erase, email, request)
    s = result.store
    console.print(f"request {result.request_id}: events deleted {s.events_deleted:,}, unlinked from shared events "
                  f"{s.events_unlinked:,}, identifiers deleted {s.identifiers_deleted:,}, rectification history "
                  f"deleted {s.rectifications_deleted:,}")  # fmt: skip
    if s.events_kept:
        console.print(f"kept {s.events_kept:,} events and {s.identifiers_kept:,} identifiers: {result.kept_reason}")
    if result.dead_letters is None:
        err.print("[yellow]dead-letter topic not purged: no broker (start it or set KAFKA_BOOTSTRAP_SERVERS) "
                  "and run this again to finish the request[/]")  # fmt: skip
        raise typer.Exit(3)
    console.print(f"dead-letter topic: {result.dead_letters.removed:,} of {result.dead_letters.scanned:,} "
                  f"messages removed. Verified physically gone ({result.seconds:.1f} s).")  # fmt: skip


@app.command("rectify")
def sar_rectify(
    email: Email,
    set_: Annotated[list[str], typer.Option("--set", help="field=value; repeat for more fields.")],
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Correct or complete identifiers (Art. 16); the replaced values stay in the history."""
    changes: dict[str, str] = {}
    for item in set_:
        field, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--set takes field=value, not {item!r}", code=2)
        changes[field.strip()] = value
    office = rights_office(operator)
    result = rights_call(office.rectify, email, changes, request)
    console.print(f"request {result.request_id}: " + ", ".join(f"{f}: {n} value(s) replaced" if n else f"{f}: completed"
                                                             for f, n in result.fields.items()))  # fmt: skip


@app.command("restrict")
def sar_restrict(
    email: Email,
    lift: Annotated[bool, typer.Option("--lift", help="End the restriction.")] = False,
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Keep the person's data but take them out of every product-insight query (Art. 18)."""
    result = rights_call(rights_office(operator).restrict, email, lift, request)
    console.print(f"request {result.request_id}: {'restriction lifted' if lift else 'restricted'}")


@app.command("object")
def sar_object(
    email: Email,
    purpose: Annotated[str, typer.Option("--purpose", help="A purpose of the policy based on legitimate interest "
                                         "(e.g. product_insight, click_tracking) or direct_marketing.")],  # fmt: skip
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Stop one purpose for the person from now on, including events still arriving (Art. 21)."""
    result = rights_call(rights_office(operator).object, email, purpose, request)
    console.print(f"request {result.request_id}: {purpose} stopped for this person")
