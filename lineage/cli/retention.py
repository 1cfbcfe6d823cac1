"""`lineage retention`: the privacy statement's retention terms, enforced and reported."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from lineage.cli.context import LineageTyper, Operator, console, fail, parts

app = LineageTyper(help="Retention (privacy statement section 4): fixed terms are table TTLs that ClickHouse "
                  "enforces itself; terms that start at an event (a subscription ended, a contact left, an "
                  "opt-out) are enforced by `lineage retention run`.", no_args_is_help=True)  # fmt: skip

AsOf = Annotated[dt.datetime | None, typer.Option(
    "--as-of", help="Work out what is due as of this date or moment (UTC; default: now). A run refuses a future "
    "date; a dry run or the status may look ahead.",
    formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])]  # fmt: skip


@app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    as_of: AsOf = None,
    operator: Operator = None,
) -> None:
    """Delete (or anonymise) every row whose event-triggered term has ended, in every table; record the counts.

    Safe to run again, and to interrupt: a second run finds only what is left.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from consumers.retention.errors import RetentionError
    from consumers.retention.run import FACTS_STEP

    p = parts()
    run = p.retention_run(operator)
    try:
        plan = run.plan(as_of) if dry_run else None
        if plan is None:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, transient=True) as bar, \
                    p.lineage_events.retention() as lineage_run:  # fmt: skip
                task = bar.add_task("retention", total=run.steps())

                def progress(description: str, done: int, total: int) -> None:
                    bar.update(task, description=description, completed=done, total=total)

                report = run.execute(as_of, progress)
                lineage_run.done(report)
    except RetentionError as exc:
        raise fail(str(exc), code=2) from None
    when = plan.as_of if plan else report.as_of
    table = Table(title=("Dry run: would remove" if plan else f"Run {report.run_id}: removed")
                  + f" as of {when:%Y-%m-%d %H:%M} UTC", title_justify="left")  # fmt: skip
    for h in ("rule", "action", "scopes", "events", "identifiers", "rollup rows"):
        table.add_column(h, justify="left" if h in ("rule", "action") else "right")
    if plan:
        for r in plan.rules:
            table.add_row(r.rule, r.action, f"{r.scopes:,}", f"{r.events:,}", f"{r.identifiers:,}", f"{r.rollups:,}")
        facts = plan.facts
    else:
        for s in report.steps:
            if s.step != FACTS_STEP:
                table.add_row(s.step, s.action, f"{s.scopes:,}", *(f"{s.rows[t]:,}" for t in
                                                                    ("events", "identifiers", "usage_daily")))  # fmt: skip
        facts = report.removed(FACTS_STEP).get("retention_facts", 0)
    console.print(table)
    console.print(f"retention facts {'to prune' if plan else 'pruned'}: {facts:,}"
                  + ("" if plan else f"  ({report.seconds:.1f} s; recorded in retention_runs)"))  # fmt: skip
    if not plan:
        console.print("Where the data lived:")
        for place in report.places(run.topics, dt.datetime.now(dt.UTC)):
            console.print(f"  {place.line()}", highlight=False)


@app.command("status")
def retention_status(
    as_of: AsOf = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Per rule: rows kept, due now, due in the next 30 days, and the oldest row still kept."""
    from rich.table import Table

    from consumers.retention.run import resolve_as_of
    from consumers.retention.status import last_run, rule_statuses

    if fmt not in ("table", "json"):
        raise fail("--format is table or json", code=2)
    run = parts().retention_run()
    when = resolve_as_of(as_of, allow_future=True)
    statuses = rule_statuses(run.store, run.policy, when)
    if fmt == "json":
        import json

        console.print_json(json.dumps([{**s.__dict__, "oldest_kept": s.oldest_kept.isoformat() if s.oldest_kept
                                        else None} for s in statuses]))  # fmt: skip
        return
    table = Table(title=f"Retention as of {when:%Y-%m-%d %H:%M} UTC (policy {run.policy.version})", title_justify="left")
    for h in ("rule", "enforced by", "term", "from", "action", "rows kept", "due now", "due in 30 days", "oldest kept"):
        table.add_column(h, justify="right" if h in ("rows kept", "due now", "due in 30 days") else "left",
                         no_wrap=h == "rule")  # fmt: skip
    for s in statuses:
        table.add_row(s.rule, "table TTL" if s.enforced_by == "ttl" else "retention run", s.term, s.starts, s.action,
                      f"{s.kept:,}", f"{s.due_now:,}", f"{s.due_soon:,}",
                      f"{s.oldest_kept:%Y-%m-%d}" if s.oldest_kept else "")  # fmt: skip
    console.print(table)
    last = last_run(run.store)
    console.print(f"last run: {last[0]} at {last[1]:%Y-%m-%d %H:%M} UTC" if last else "no retention run yet")
