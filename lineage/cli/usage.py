"""`lineage usage` and `lineage report`: the product team's questions, and a page of charts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from lineage.cli.context import LineageTyper, console, fail, parts

app = LineageTyper(help="Usage of Engage Process for the product team: product-insight events only, without "
                  "anyone restricted, erased or objecting; people are counted, never named. Days and weeks are "
                  "in Europe/Amsterdam.", no_args_is_help=True)  # fmt: skip

From = Annotated[dt.datetime | None, typer.Option("--from", help="First day (Europe/Amsterdam), included.",
                                                  formats=["%Y-%m-%d"])]  # fmt: skip
To = Annotated[dt.datetime | None, typer.Option("--to", help="Last day (Europe/Amsterdam), included.",
                                                formats=["%Y-%m-%d"])]  # fmt: skip
Format = Annotated[str, typer.Option("--format", help="table, csv or json.")]
Source = Annotated[str, typer.Option("--source", help="rollup (fast, the default) or raw (the events themselves; "
                                     "the same answer, slower).")]  # fmt: skip
By = Annotated[str, typer.Option("--by", help="day or week (Monday to Sunday).")]


def _usage(ask, fmt: str, source: str, title: str, **kwargs) -> None:
    import csv
    import io
    import json
    import time

    from rich.table import Table

    from consumers.usage.queries import Source as QuerySource

    if fmt not in ("table", "csv", "json"):
        raise fail("--format is table, csv or json", code=2)
    try:
        src = QuerySource(source)
    except ValueError:
        raise fail("--source is rollup or raw", code=2) from None
    store = parts().store
    started = time.perf_counter()
    answer = ask(store, source=src, **kwargs)
    seconds = time.perf_counter() - started

    def text(v) -> str:
        return v.isoformat() if isinstance(v, dt.date) else str(v)

    if fmt == "json":
        console.print_json(json.dumps([{k: text(v) if isinstance(v, dt.date) else v for k, v in r.items()}
                                       for r in answer.records()]))  # fmt: skip
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(answer.columns)
        writer.writerows([[text(v) for v in row] for row in answer.rows])
        typer.echo(out.getvalue(), nl=False)
    else:
        table = Table(title=title, title_justify="left", caption=f"{len(answer.rows):,} rows from the {src.value} "
                      f"in {seconds * 1000:,.0f} ms", caption_justify="left")  # fmt: skip
        for c in answer.columns:
            table.add_column(c.replace("_", " "), justify="right" if answer.rows and isinstance(
                answer.rows[0][answer.columns.index(c)], int) else "left")  # fmt: skip
        for row in answer.rows:
            table.add_row(*(f"{v:,}" if isinstance(v, int) else text(v) for v in row))
        console.print(table)


def _window(start: dt.datetime | None, end: dt.datetime | None):
    from consumers.usage.queries import Window

    if start and end and start > end:
        raise fail("--from is after --to", code=2)
    return Window(start.date() if start else None, end.date() if end else None)


def _period(by: str):
    from consumers.usage.queries import Period

    try:
        return Period(by)
    except ValueError:
        raise fail("--by is day or week", code=2) from None


@app.command("components")
def usage_components(
    start: From = None, end: To = None,
    limit: Annotated[int, typer.Option(help="How many components.", min=1)] = 10,
    fmt: Format = "table", source: Source = "rollup",
) -> None:  # fmt: skip
    """The most used components: uses, tenants and people using each."""
    from consumers.usage.queries import top_components

    _usage(top_components, fmt, source, "Top components", window=_window(start, end), limit=limit)


@app.command("active")
def usage_active(start: From = None, end: To = None, by: By = "day", fmt: Format = "table",
                 source: Source = "rollup") -> None:  # fmt: skip
    """Daily or weekly active users: distinct people who acted, and events."""
    from consumers.usage.queries import active_users

    period = _period(by)
    _usage(active_users, fmt, source, f"Active users per {period.value}", period=period, window=_window(start, end))


@app.command("adoption")
def usage_adoption(
    tenant: Annotated[str | None, typer.Option(help="One tenant: the day it first used each component.")] = None,
    fmt: Format = "table", source: Source = "rollup",
) -> None:  # fmt: skip
    """Component adoption: how many tenants use each component, and when the first and latest began."""
    from consumers.usage.queries import adoption

    _usage(adoption, fmt, source, f"Adoption by {tenant}" if tenant else "Component adoption", tenant=tenant)


@app.command("plans")
def usage_plans(start: From = None, end: To = None, fmt: Format = "table", source: Source = "rollup") -> None:
    """Usage per subscription type (student, business, trial): tenants, people, events."""
    from consumers.usage.queries import by_subscription_type

    _usage(by_subscription_type, fmt, source, "Usage by subscription type", window=_window(start, end))


@app.command("trend")
def usage_trend(
    component: Annotated[str, typer.Argument(help="The component, e.g. process-designer.")],
    start: From = None, end: To = None, by: By = "week", fmt: Format = "table", source: Source = "rollup",
) -> None:  # fmt: skip
    """One component over time: uses, people and tenants per day or week."""
    from consumers.usage.queries import trend

    period = _period(by)
    _usage(trend, fmt, source, f"{component} per {period.value}", component=component, period=period,
           window=_window(start, end))  # fmt: skip


@app.command("subscriptions")
def usage_subscriptions(start: From = None, end: To = None, by: By = "week", fmt: Format = "table",
                        source: Source = "rollup") -> None:  # fmt: skip
    """Subscriptions started, renewed and ended per day or week and type."""
    from consumers.usage.queries import subscriptions

    period = _period(by)
    _usage(subscriptions, fmt, source, f"Subscriptions per {period.value}", period=period,
           window=_window(start, end))  # fmt: skip


def report(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.", dir_okay=False)],
    days: Annotated[int, typer.Option(help="How many days back from the last event the charts cover.", min=1)] = 90,
) -> None:
    """Write one self-contained HTML page of charts (opens without a network): active users, component usage,
    adoption, events by purpose and legal basis, and the dead-letter rate."""
    from consumers.usage.report import write_report

    with console.status("building the report"):
        written = write_report(parts().store, out, days)
    console.print(f"{written.path} ({written.bytes / 1e6:.1f} MB, {written.charts} charts, days up to {written.last_day})")
