"""`lineage dsr`: the register of data-subject requests, their deadlines, extensions and refusals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from lineage.cli.context import LineageTyper, Operator, console, fail
from lineage.cli.office import Email, Phone, rights_call, rights_office, who
from schemas.values import as_utc

app = LineageTyper(help="The register of data-subject requests: deadlines (one month, Art. 12(3)), extensions, "
                  "refusals.", no_args_is_help=True)  # fmt: skip


@app.command("list")
def dsr_list(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only requests past their deadline.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    operator: Operator = None,
) -> None:
    """Every request: type, received, due (one month; three when extended), status, completion."""
    from rich.table import Table

    requests = rights_office(operator).requests(overdue=overdue)
    if fmt == "json":
        import json

        rows = [{"request_id": r.request_id, "right": r.right.value, "received_at": r.received_at.isoformat(),
                 "due_at": r.deadline.isoformat(), "extended": r.extended_due_at is not None,
                 "extension_reason": r.extension_reason, "status": r.status.value,
                 "completed_at": r.completed_at.isoformat() if r.completed_at else None,
                 "refusal_reason": r.refusal_reason} for r in requests]  # fmt: skip
        console.print_json(json.dumps(rows))
        return
    if fmt != "table":
        raise fail("--format is table or json", code=2)
    table = Table(title="Data-subject requests" + (" past their deadline" if overdue else ""), title_justify="left")
    for h in ("request", "right", "received", "due", "status", "completed", "note"):
        table.add_column(h)
    for r in requests:
        note = r.refusal_reason or (f"extended: {r.extension_reason}" if r.extended_due_at else "")
        table.add_row(r.request_id, r.right.value, f"{r.received_at:%Y-%m-%d}", f"{r.deadline:%Y-%m-%d}",
                      r.status.value, f"{r.completed_at:%Y-%m-%d}" if r.completed_at else "", note)  # fmt: skip
    console.print(table)


@app.command("receive")
def dsr_receive(
    right: Annotated[str, typer.Option("--right", help="access, rectification, erasure, restriction, objection "
                                       "or portability.")],  # fmt: skip
    received: Annotated[dt.datetime | None, typer.Option("--received", help="Date of receipt (default: now).")] = None,
    channel: Annotated[str, typer.Option("--channel", help="email, phone or letter.")] = "email",
    email: Email = None,
    phone: Phone = None,
    operator: Operator = None,
) -> None:
    """Register a request the day it arrives; the sar commands answer it with --request."""
    from schemas.models import ContactChannel, DataSubjectRight

    try:
        right_, channel_ = DataSubjectRight(right), ContactChannel(channel)
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    at = as_utc(received)
    r = rights_call(rights_office(operator).receive, who(email, phone), right_, at, channel_)
    console.print(f"{r.request_id}: {r.right.value} received {r.received_at:%Y-%m-%d}, due {r.due_at:%Y-%m-%d}")


@app.command("extend")
def dsr_extend(
    request: Annotated[str, typer.Argument(help="The request id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the request needs more time (recorded).")],
    told_on: Annotated[dt.datetime, typer.Option("--told-on", help="When the person was told, within the first month.")],
    operator: Operator = None,
) -> None:
    """Extend a request by two months (Art. 12(3)): only with a reason told to the person within the first month."""
    r = rights_call(rights_office(operator).extend, request, reason, as_utc(told_on))
    console.print(f"{r.request_id}: now due {r.deadline:%Y-%m-%d}")


@app.command("refuse")
def dsr_refuse(
    request: Annotated[str, typer.Argument(help="The request id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is refused (Art. 12(4)); recorded.")],
    operator: Operator = None,
) -> None:
    """Refuse a request, recording the reason (the person must be told it and their right to complain)."""
    r = rights_call(rights_office(operator).refuse, request, reason)
    console.print(f"{r.request_id}: refused")
