"""`lineage sar`: answer a data-subject request for one person (GDPR Art. 15-21)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lineage.cli.context import LineageTyper, Operator, console, err, fail, parts
from lineage.cli.office import Email, Phone, RequestId, rights_call, rights_office, who

app = LineageTyper(help="Answer a data-subject request (GDPR Art. 15-21) for one person, named by business e-mail, "
                  "or by phone number where no e-mail was collected. "
                  "Every command registers or completes a request and writes the access log.",
                  no_args_is_help=True)  # fmt: skip


@app.command("export")
def sar_export(
    out: Annotated[Path, typer.Option("--out", help="New folder for the export, inside LINEAGE_EXPORT_BASE; "
                                      "a zip of it is written beside it.")],  # fmt: skip
    email: Email = None,
    phone: Phone = None,
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Write everything held about the person (Art. 15) and a portable copy of their events (Art. 20)."""
    p = parts()
    office = rights_office(operator, p)
    with console.status("exporting"), p.lineage_events.access_export() as run:
        result = rights_call(office.export, who(email, phone), out, request)
        run.done(result)
    console.print(f"{result.events:,} events and {result.identifiers:,} identifiers -> {result.folder} "
                  f"and {result.zip_path} ({result.seconds:.2f} s)")  # fmt: skip


@app.command("erase")
def sar_erase(email: Email = None, phone: Phone = None, operator: Operator = None,
              request: RequestId = None) -> None:  # fmt: skip
    """Erase the person from every table, the rollups, the dead-letter topic and the export folder, keeping
    (restricted) what the law requires; then say, per place, what remains and until when."""
    p = parts()
    office = rights_office(operator, p)
    with console.status("erasing and verifying"), p.lineage_events.erasure() as run:
        result = rights_call(office.erase, who(email, phone), request)
        run.done(result)
    s = result.store
    if result.already_erased_at is not None:
        kept = f" (kept, restricted: {s.events_kept:,} events)" if s.events_kept else ""
        console.print(f"request {result.request_id}: already erased on {result.already_erased_at:%Y-%m-%d}; "
                      f"nothing changed{kept}")  # fmt: skip
        return
    console.print(f"request {result.request_id}: events deleted {s.events_deleted:,}, unlinked from shared events "
                  f"{s.events_unlinked:,}, identifiers deleted {s.identifiers_deleted:,}, rectification history "
                  f"deleted {s.rectifications_deleted:,}")  # fmt: skip
    if s.events_kept:
        console.print(f"kept {s.events_kept:,} events and {s.identifiers_kept:,} identifiers: {result.kept_reason}")
    console.print("Per place:")
    for place in result.places:
        console.print(f"  {place.line()}", highlight=False, soft_wrap=True)
    if result.dead_letters is None:
        err.print("[yellow]dead-letter topic not purged: no broker (start it or set KAFKA_BOOTSTRAP_SERVERS) "
                  "and run this again to finish the request[/]")  # fmt: skip
        raise typer.Exit(3)
    console.print(f"Gone from the store's files, verified; the dead-letter topic purged ({result.seconds:.1f} s). "
                  "What remains elsewhere is listed above.")  # fmt: skip


@app.command("locate")
def sar_locate(email: Email = None, phone: Phone = None, operator: Operator = None,
               fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table") -> None:  # fmt: skip
    """Every place any trace of the person is held right now, in counts only: the store's tables, the usage
    rollups, the raw event topics and the dead-letter topic (read whole), and access exports on disk."""
    if fmt not in ("table", "json"):
        raise fail("--format is table or json", code=2)
    office = rights_office(operator)
    with console.status("looking in every place"):
        places = rights_call(office.locate, who(email, phone))
    if fmt == "json":
        import json

        console.print_json(json.dumps([p.public() for p in places]))
        return
    from rich.table import Table

    table = Table(title="Where the person's traces are held now", title_justify="left")
    for h in ("place", "held", "until"):
        table.add_column(h, justify="right" if h == "held" else "left")
    for p in places:
        table.add_row(p.place, "not counted" if p.remaining is None else f"{p.remaining:,}", p.until)
    console.print(table)


@app.command("rectify")
def sar_rectify(
    set_: Annotated[list[str], typer.Option("--set", help="field=value; repeat for more fields.")],
    email: Email = None,
    phone: Phone = None,
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
    p = parts()
    office = rights_office(operator, p)
    with p.lineage_events.rectification() as run:
        result = rights_call(office.rectify, who(email, phone), changes, request)
        run.done(result)
    console.print(f"request {result.request_id}: " + ", ".join(f"{f}: {n} value(s) replaced" if n else f"{f}: completed"
                                                             for f, n in result.fields.items()))  # fmt: skip


@app.command("restrict")
def sar_restrict(
    lift: Annotated[bool, typer.Option("--lift", help="End the restriction.")] = False,
    email: Email = None,
    phone: Phone = None,
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Keep the person's data but take them out of every product-insight query (Art. 18)."""
    result = rights_call(rights_office(operator).restrict, who(email, phone), lift, request)
    console.print(f"request {result.request_id}: {'restriction lifted' if lift else 'restricted'}")


@app.command("object")
def sar_object(
    purpose: Annotated[str, typer.Option("--purpose", help="A purpose of the policy based on legitimate interest "
                                         "(e.g. product_insight, click_tracking) or direct_marketing.")],  # fmt: skip
    email: Email = None,
    phone: Phone = None,
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Stop one purpose for the person from now on, including events still arriving (Art. 21)."""
    result = rights_call(rights_office(operator).object, who(email, phone), purpose, request)
    console.print(f"request {result.request_id}: {purpose} stopped for this person")
