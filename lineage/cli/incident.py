"""`lineage incident`: the register of suspected data breaches (privacy statement section 8; GDPR Art. 33-34)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from lineage.cli.context import LineageTyper, Operator, console, fail
from lineage.cli.office import rights_call, rights_office
from schemas.values import as_utc

app = LineageTyper(help="Suspected data breaches: record one with its window and scope, see its impact from the "
                  "store, keep the 72-hour clock for telling the Autoriteit Persoonsgegevens (Art. 33), record the "
                  "statement's steps, close it.", no_args_is_help=True)  # fmt: skip

_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@app.command("open")
def incident_open(
    title: Annotated[str, typer.Option("--title", help="What is suspected, in a line.")],
    start: Annotated[dt.datetime, typer.Option("--from", help="Start of the window the breach may cover (UTC).",
                                               formats=_FORMATS)],  # fmt: skip
    end: Annotated[dt.datetime, typer.Option("--to", help="End of the window (UTC).", formats=_FORMATS)],
    tenant: Annotated[list[str] | None, typer.Option("--tenant", help="A tenant in scope; repeat for more "
                                                     "(default: all).")] = None,  # fmt: skip
    service: Annotated[list[str] | None, typer.Option("--service", help="A producing service in scope.")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="A data category in scope, e.g. "
                                                       "user.financial; repeat.")] = None,  # fmt: skip
    table: Annotated[list[str] | None, typer.Option("--table", help="events or identifiers (default: both).")] = None,
    aware: Annotated[dt.datetime | None, typer.Option("--aware", help="When it became known (default: now); the "
                                                      "72 hours run from here.", formats=_FORMATS)] = None,  # fmt: skip
    operator: Operator = None,
) -> None:
    """Record a suspected breach; the authority is due to be told 72 hours after awareness."""
    office = rights_office(operator)
    i = rights_call(office.incidents.open, title, as_utc(start), as_utc(end), tenant, service, category, table,
                    as_utc(aware))  # fmt: skip
    console.print(f"{i.incident_id}: opened; tell the Autoriteit Persoonsgegevens by "
                  f"{i.authority_due_at:%Y-%m-%d %H:%M} UTC (Art. 33), unless the breach is unlikely to put people "
                  "at risk")  # fmt: skip


@app.command("list")
def incident_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table", operator: Operator = None,
) -> None:
    """Every incident: window, status, and the Art. 33 clock (due, notified, overdue)."""
    from rich.table import Table

    if fmt not in ("table", "json"):
        raise fail("--format is table or json", code=2)
    incidents = rights_office(operator).incidents.all()
    now = dt.datetime.now(dt.UTC)
    if fmt == "json":
        import json

        console.print_json(json.dumps([i.public(now) for i in incidents]))
        return
    table = Table(title="Incidents", title_justify="left")
    for h in ("incident", "title", "window", "status", "aware", "authority due", "notified", "overdue"):
        table.add_column(h)
    for i in incidents:
        table.add_row(i.incident_id, i.title, f"{i.window_from:%Y-%m-%d %H:%M} to {i.window_to:%Y-%m-%d %H:%M}",
                      i.status, f"{i.aware_at:%Y-%m-%d %H:%M}", f"{i.authority_due_at:%Y-%m-%d %H:%M}",
                      f"{i.authority_notified_at:%Y-%m-%d %H:%M}" if i.authority_notified_at else "",
                      "OVERDUE" if i.authority_overdue(now) else "")  # fmt: skip
    console.print(table)


@app.command("impact")
def incident_impact(
    incident: Annotated[str, typer.Argument(help="The incident id.")],
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    contacts: Annotated[bool, typer.Option("--contacts", help="Also list the e-mails and phone numbers needed "
                                           "to inform the people (Art. 34); in the access log.")] = False,  # fmt: skip
    operator: Operator = None,
) -> None:
    """What the store holds in the incident's window and scope: people per tenant, data category and purpose;
    the categories (financial data among them?), purposes and legal bases. Written to the access log."""
    if fmt not in ("table", "json", "csv"):
        raise fail("--format is table, json or csv", code=2)
    impact = rights_call(rights_office(operator).incidents.impact, incident, contacts)
    if fmt == "json":
        import json

        console.print_json(json.dumps(impact.public()))
        return
    rows = [("people", "all", impact.people), ("events", "all", impact.events)]
    rows += [("people per tenant", k, v) for k, v in impact.people_per_tenant.items()]
    rows += [("people per data category", k, v) for k, v in impact.people_per_category.items()]
    rows += [("people per purpose", k, v) for k, v in impact.people_per_purpose.items()]
    rows += [("legal basis", b, "") for b in impact.legal_bases]
    rows += [("financial data", "yes" if impact.financial else "no", "")]
    rows += [("identifiers held, people", k, v) for k, v in impact.identifier_fields.items()]
    rows += [("contact", f"{c['field']}: {c['value']}", c["subject_id"]) for c in impact.contacts or []]
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([("measure", "key", "value"), *rows])
        typer.echo(out.getvalue(), nl=False)
        return
    from rich.table import Table

    table = Table(title=f"Impact of {incident}", title_justify="left")
    for h in ("measure", "key", "value"):
        table.add_column(h, justify="right" if h == "value" else "left")
    for measure, key, value in rows:
        table.add_row(measure, key, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


@app.command("update")
def incident_update(
    incident: Annotated[str, typer.Argument(help="The incident id.")],
    situation: Annotated[str | None, typer.Option(help="What happened, as now known.")] = None,
    root_causes: Annotated[str | None, typer.Option("--root-causes", help="Why it happened.")] = None,
    corrections: Annotated[str | None, typer.Option(help="What was done so it cannot happen again.")] = None,
    management: Annotated[dt.datetime | None, typer.Option("--management-reported", help="When it was reported "
                                                           "to management.", formats=_FORMATS)] = None,  # fmt: skip
    authority: Annotated[dt.datetime | None, typer.Option(
        "--authority-notified", help="When the Autoriteit Persoonsgegevens was told.", formats=_FORMATS)] = None,
    operator: Operator = None,
) -> None:
    """Record the statement's steps: the situation, root causes, corrections, the report to management, and when
    the authority was told."""
    i = rights_call(rights_office(operator).incidents.update, incident, situation=situation, root_causes=root_causes,
                    corrections=corrections, management_reported_at=as_utc(management),
                    authority_notified_at=as_utc(authority))  # fmt: skip
    console.print(f"{i.incident_id}: recorded")


@app.command("close")
def incident_close(incident: Annotated[str, typer.Argument(help="The incident id.")],
                   operator: Operator = None) -> None:  # fmt: skip
    """Close an incident once its situation, root causes and corrections are recorded."""
    i = rights_call(rights_office(operator).incidents.close, incident)
    console.print(f"{i.incident_id}: closed")
