"""The `lineage` command: parse, call a function, print."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lineage.settings import Settings

app = typer.Typer(
    help="Engage Lineage: SaaS events through Kafka, tagged with purpose and legal basis, into ClickHouse.\n\n"
    "Configuration comes from environment variables: LINEAGE_<SETTING>, plus KAFKA_BOOTSTRAP_SERVERS and "
    "CLICKHOUSE_URL. See README.md.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(help="The local single-node Kafka broker (KRaft) run from the Apache Kafka jars.",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(kafka_app, name="kafka")
sar_app = typer.Typer(help="Answer a data-subject request (GDPR Art. 15-21) for one person, named by business e-mail. "
                      "Every command registers or completes a request and writes the access log.",
                      no_args_is_help=True)  # fmt: skip
app.add_typer(sar_app, name="sar")
dsr_app = typer.Typer(help="The register of data-subject requests: deadlines (one month, Art. 12(3)), extensions, "
                      "refusals.", no_args_is_help=True)  # fmt: skip
app.add_typer(dsr_app, name="dsr")
retention_app = typer.Typer(help="Retention (privacy statement section 4): fixed terms are table TTLs that ClickHouse "
                            "enforces itself; terms that start at an event (a subscription ended, a contact left, an "
                            "opt-out) are enforced by `lineage retention run`.", no_args_is_help=True)  # fmt: skip
app.add_typer(retention_app, name="retention")
usage_app = typer.Typer(help="Usage of Engage Process for the product team: product-insight events only, without "
                        "anyone restricted, erased or objecting; people are counted, never named. Days and weeks are "
                        "in Europe/Amsterdam.", no_args_is_help=True)  # fmt: skip
app.add_typer(usage_app, name="usage")
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


@kafka_app.command("start")
def kafka_start() -> None:
    """Fetch the jars (first time only), format the storage and start the broker; waits until it answers."""
    from lineage.broker import BrokerError, LocalBroker
    from lineage.wiring import prepare_topics

    settings = _settings()
    try:
        with console.status("starting the local Kafka broker"):
            bootstrap = LocalBroker.from_settings(settings).start()
            prepare_topics(settings, bootstrap)
    except BrokerError as exc:
        raise _fail(str(exc)) from None
    console.print(bootstrap)


@kafka_app.command("topics")
def kafka_topics() -> None:
    """Create the pipeline's topics where missing and apply the retention the policy gives them; list them."""
    from rich.table import Table

    from consumers.policy import load_policy
    from lineage import wiring
    from lineage.topics import TopicSetupFailed

    settings = _settings()
    try:
        bootstrap = wiring.bootstrap_servers(settings)
        created = wiring.prepare_topics(settings, bootstrap)
    except (wiring.NoBroker, TopicSetupFailed) as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"Topics on {bootstrap}", title_justify="left")
    for h in ("topic", "partitions", "retention", ""):
        table.add_column(h)
    policy = load_policy(settings.policy_path)
    for spec in wiring.topic_specs(settings, policy):
        days = int(spec.configs["retention.ms"]) // 86_400_000
        table.add_row(spec.name, str(spec.partitions), f"{days} days", "created" if spec.name in created else "")
    console.print(table)


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the broker that `lineage kafka start` started, and nothing else."""
    from lineage.broker import LocalBroker

    stopped = LocalBroker.from_settings(_settings()).stop()
    console.print("stopped" if stopped else "not running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs, and its bootstrap address. Exit code 3 when it does not run."""
    from lineage.broker import LocalBroker

    status = LocalBroker.from_settings(_settings()).status()
    if status.running:
        console.print(f"running  pid {status.pid}  {status.bootstrap}")
    else:
        console.print(f"not running  ({status.bootstrap} when started)")
        raise typer.Exit(3)


@app.command()
def produce(
    simulate: Annotated[int | None, typer.Option("--simulate", help="Simulate this many events.", min=1)] = None,
    from_jsonl: Annotated[
        Path | None,
        typer.Option("--from-jsonl", help="Events as JSON lines (the JSON form of the event models).", exists=True,
                     dir_okay=False, readable=True),
    ] = None,  # fmt: skip
    seed: Annotated[int | None, typer.Option(help="Seed of the simulation (default: random).")] = None,
) -> None:
    """Produce events to Kafka as Avro in the Confluent wire format."""
    from lineage import wiring
    from lineage.demo import produce_simulation
    from producers.jsonl import JsonLinesError, read_events
    from producers.sdk import EventProducer

    if (simulate is None) == (from_jsonl is None):
        raise _fail("give exactly one of --simulate N or --from-jsonl FILE", code=2)
    settings = _settings()
    try:
        bootstrap = wiring.bootstrap_servers(settings)
    except wiring.NoBroker as exc:
        raise _fail(str(exc)) from None
    wiring.prepare_topics(settings, bootstrap)
    if simulate is not None:
        seconds = produce_simulation(settings, bootstrap, simulate, seed, console)
        console.print(f"produced {simulate:,} events in {seconds:.1f} s")
        return
    try:
        events = read_events(from_jsonl)  # type: ignore[arg-type]
    except JsonLinesError as exc:
        raise _fail(str(exc)) from None
    with EventProducer(bootstrap, settings.topic_prefix) as producer:
        futures = [producer.send(e) for e in events]
        producer.flush()
        for f in futures:
            f.get(timeout=30)
    console.print(f"produced {len(events):,} events from {from_jsonl}")


@app.command()
def consume(
    until_idle: Annotated[
        float | None, typer.Option("--until-idle", help="Stop once no message arrived for this many seconds.")
    ] = None,
) -> None:
    """Run the tagging consumer: validate, tag and store events; send what cannot be stored to the dead-letter topic."""
    from consumers.errors import MissingPseudonymKey, PolicyFileError
    from lineage import wiring
    from lineage.demo import consume as run_consume

    settings = _settings()
    try:
        bootstrap = wiring.bootstrap_servers(settings)
        wiring.prepare_topics(settings, bootstrap)
        stats = run_consume(settings, bootstrap, wiring.store(settings), until_idle, None, console)  # type: ignore[arg-type]
    except (wiring.NoBroker, MissingPseudonymKey, PolicyFileError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        console.print("stopped")
        return
    dead = ", ".join(f"{k} {v}" for k, v in stats.dead_lettered.items()) or "none"
    console.print(f"consumed {stats.consumed:,}: stored {stats.stored:,}, dead-lettered {dead}; "
                  f"{stats.events_per_second:,.0f} events/s")  # fmt: skip


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="How many events to simulate.", min=1)] = 100_000,
    seed: Annotated[int | None, typer.Option(help="Seed of the simulation (default: random).")] = None,
) -> None:
    """Start the local broker (unless KAFKA_BOOTSTRAP_SERVERS is set), simulate, produce, consume, and summarise."""
    from lineage.broker import BrokerError
    from lineage.demo import run_demo

    try:
        run_demo(_settings(), events, seed, console)
    except BrokerError as exc:
        raise _fail(str(exc)) from None


# --- data-subject rights -------------------------------------------------------------------

Email = Annotated[str, typer.Option("--email", help="The person's business e-mail (trimmed and lower-cased).")]
Operator = Annotated[str | None, typer.Option("--operator", help="Who you are, for the access log "
                                              "(default: LINEAGE_OPERATOR).")]  # fmt: skip
RequestId = Annotated[str | None, typer.Option("--request", help="Answer this registered request "
                                               "(default: register a new one, received now).")]  # fmt: skip


def _office(operator: str | None):
    from consumers.errors import MissingPseudonymKey
    from consumers.rights.errors import RightsError
    from lineage import wiring

    try:
        return wiring.rights_office(_settings(), operator)
    except (RightsError, MissingPseudonymKey) as exc:
        raise _fail(str(exc)) from None


def _rights_call(fn, *args, **kwargs):
    """Run an office call, turning a refused request into a clear error and exit code 2."""
    from consumers.rights.errors import RightsError

    try:
        return fn(*args, **kwargs)
    except RightsError as exc:
        raise _fail(str(exc), code=2) from None


@sar_app.command("export")
def sar_export(
    email: Email,
    out: Annotated[Path, typer.Option("--out", help="New folder for the export, inside LINEAGE_EXPORT_BASE; "
                                      "a zip of it is written beside it.")],  # fmt: skip
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Write everything held about the person (Art. 15) and a portable copy of their events (Art. 20)."""
    office = _office(operator)
    with console.status("exporting"):
        result = _rights_call(office.export, email, out, request)
    console.print(f"{result.events:,} events and {result.identifiers:,} identifiers -> {result.folder} "
                  f"and {result.zip_path} ({result.seconds:.2f} s)")  # fmt: skip


@sar_app.command("erase")
def sar_erase(email: Email, operator: Operator = None, request: RequestId = None) -> None:
    """Erase the person from every table and the dead-letter topic, keeping (restricted) what the law requires."""
    office = _office(operator)
    with console.status("erasing and verifying"):
        result = _rights_call(office.erase, email, request)
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


@sar_app.command("rectify")
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
            raise _fail(f"--set takes field=value, not {item!r}", code=2)
        changes[field.strip()] = value
    office = _office(operator)
    result = _rights_call(office.rectify, email, changes, request)
    console.print(f"request {result.request_id}: " + ", ".join(f"{f}: {n} value(s) replaced" if n else f"{f}: completed"
                                                             for f, n in result.fields.items()))  # fmt: skip


@sar_app.command("restrict")
def sar_restrict(
    email: Email,
    lift: Annotated[bool, typer.Option("--lift", help="End the restriction.")] = False,
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Keep the person's data but take them out of every product-insight query (Art. 18)."""
    result = _rights_call(_office(operator).restrict, email, lift, request)
    console.print(f"request {result.request_id}: {'restriction lifted' if lift else 'restricted'}")


@sar_app.command("object")
def sar_object(
    email: Email,
    purpose: Annotated[str, typer.Option("--purpose", help="A purpose of the policy based on legitimate interest "
                                         "(e.g. product_insight, click_tracking) or direct_marketing.")],  # fmt: skip
    operator: Operator = None,
    request: RequestId = None,
) -> None:
    """Stop one purpose for the person from now on, including events still arriving (Art. 21)."""
    result = _rights_call(_office(operator).object, email, purpose, request)
    console.print(f"request {result.request_id}: {purpose} stopped for this person")


@dsr_app.command("list")
def dsr_list(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only requests past their deadline.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    operator: Operator = None,
) -> None:
    """Every request: type, received, due (one month; three when extended), status, completion."""
    from rich.table import Table

    requests = _office(operator).requests(overdue=overdue)
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
        raise _fail("--format is table or json", code=2)
    table = Table(title="Data-subject requests" + (" past their deadline" if overdue else ""), title_justify="left")
    for h in ("request", "right", "received", "due", "status", "completed", "note"):
        table.add_column(h)
    for r in requests:
        note = r.refusal_reason or (f"extended: {r.extension_reason}" if r.extended_due_at else "")
        table.add_row(r.request_id, r.right.value, f"{r.received_at:%Y-%m-%d}", f"{r.deadline:%Y-%m-%d}",
                      r.status.value, f"{r.completed_at:%Y-%m-%d}" if r.completed_at else "", note)  # fmt: skip
    console.print(table)


@dsr_app.command("receive")
def dsr_receive(
    email: Email,
    right: Annotated[str, typer.Option("--right", help="access, rectification, erasure, restriction, objection "
                                       "or portability.")],  # fmt: skip
    received: Annotated[dt.datetime | None, typer.Option("--received", help="Date of receipt (default: now).")] = None,
    channel: Annotated[str, typer.Option("--channel", help="email, phone or letter.")] = "email",
    operator: Operator = None,
) -> None:
    """Register a request the day it arrives; the sar commands answer it with --request."""
    from schemas.models import ContactChannel, DataSubjectRight

    try:
        right_, channel_ = DataSubjectRight(right), ContactChannel(channel)
    except ValueError as exc:
        raise _fail(str(exc), code=2) from None
    at = received.replace(tzinfo=received.tzinfo or dt.UTC) if received else None
    r = _rights_call(_office(operator).receive, email, right_, at, channel_)
    console.print(f"{r.request_id}: {r.right.value} received {r.received_at:%Y-%m-%d}, due {r.due_at:%Y-%m-%d}")


@dsr_app.command("extend")
def dsr_extend(
    request: Annotated[str, typer.Argument(help="The request id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the request needs more time (recorded).")],
    told_on: Annotated[dt.datetime, typer.Option("--told-on", help="When the person was told, within the first month.")],
    operator: Operator = None,
) -> None:
    """Extend a request by two months (Art. 12(3)): only with a reason told to the person within the first month."""
    r = _rights_call(_office(operator).extend, request, reason, told_on.replace(tzinfo=told_on.tzinfo or dt.UTC))
    console.print(f"{r.request_id}: now due {r.deadline:%Y-%m-%d}")


@dsr_app.command("refuse")
def dsr_refuse(
    request: Annotated[str, typer.Argument(help="The request id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is refused (Art. 12(4)); recorded.")],
    operator: Operator = None,
) -> None:
    """Refuse a request, recording the reason (the person must be told it and their right to complain)."""
    r = _rights_call(_office(operator).refuse, request, reason)
    console.print(f"{r.request_id}: refused")


# --- retention -----------------------------------------------------------------------------

AsOf = Annotated[dt.datetime | None, typer.Option(
    "--as-of", help="Work out what is due as of this date or moment (UTC; default: now). A run refuses a future "
    "date; a dry run or the status may look ahead.",
    formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])]  # fmt: skip


def _retention(operator: str | None = None):
    from consumers.policy import load_policy
    from consumers.retention.run import RetentionRun
    from lineage import wiring

    settings = _settings()
    return RetentionRun(wiring.store(settings), load_policy(settings.policy_path),
                        operator or settings.operator or "retention")  # fmt: skip


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    as_of: AsOf = None,
    operator: Operator = None,
) -> None:
    """Delete (or anonymise) every row whose event-triggered term has ended, in every table; record the counts.

    Safe to run again, and to interrupt: a second run finds only what is left.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from consumers.retention.errors import RetentionError
    from consumers.retention.run import FACTS_STEP

    run = _retention(operator)
    try:
        plan = run.plan(as_of) if dry_run else None
        if plan is None:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, transient=True) as bar:  # fmt: skip
                task = bar.add_task("retention", total=run.steps())

                def progress(description: str, done: int, total: int) -> None:
                    bar.update(task, description=description, completed=done, total=total)

                report = run.execute(as_of, progress)
    except RetentionError as exc:
        raise _fail(str(exc), code=2) from None
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


@retention_app.command("status")
def retention_status(
    as_of: AsOf = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Per rule: rows kept, due now, due in the next 30 days, and the oldest row still kept."""
    from rich.table import Table

    from consumers.retention.run import resolve_as_of
    from consumers.retention.status import last_run, rule_statuses

    if fmt not in ("table", "json"):
        raise _fail("--format is table or json", code=2)
    run = _retention()
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


# --- usage and the report ----------------------------------------------------------------

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
    from lineage import wiring

    if fmt not in ("table", "csv", "json"):
        raise _fail("--format is table, csv or json", code=2)
    try:
        src = QuerySource(source)
    except ValueError:
        raise _fail("--source is rollup or raw", code=2) from None
    store = wiring.store(_settings())
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
        raise _fail("--from is after --to", code=2)
    return Window(start.date() if start else None, end.date() if end else None)


def _period(by: str):
    from consumers.usage.queries import Period

    try:
        return Period(by)
    except ValueError:
        raise _fail("--by is day or week", code=2) from None


@usage_app.command("components")
def usage_components(
    start: From = None, end: To = None,
    limit: Annotated[int, typer.Option(help="How many components.", min=1)] = 10,
    fmt: Format = "table", source: Source = "rollup",
) -> None:  # fmt: skip
    """The most used components: uses, tenants and people using each."""
    from consumers.usage.queries import top_components

    _usage(top_components, fmt, source, "Top components", window=_window(start, end), limit=limit)


@usage_app.command("active")
def usage_active(start: From = None, end: To = None, by: By = "day", fmt: Format = "table",
                 source: Source = "rollup") -> None:  # fmt: skip
    """Daily or weekly active users: distinct people who acted, and events."""
    from consumers.usage.queries import active_users

    period = _period(by)
    _usage(active_users, fmt, source, f"Active users per {period.value}", period=period, window=_window(start, end))


@usage_app.command("adoption")
def usage_adoption(
    tenant: Annotated[str | None, typer.Option(help="One tenant: the day it first used each component.")] = None,
    fmt: Format = "table", source: Source = "rollup",
) -> None:  # fmt: skip
    """Component adoption: how many tenants use each component, and when the first and latest began."""
    from consumers.usage.queries import adoption

    _usage(adoption, fmt, source, f"Adoption by {tenant}" if tenant else "Component adoption", tenant=tenant)


@usage_app.command("plans")
def usage_plans(start: From = None, end: To = None, fmt: Format = "table", source: Source = "rollup") -> None:
    """Usage per subscription type (student, business, trial): tenants, people, events."""
    from consumers.usage.queries import by_subscription_type

    _usage(by_subscription_type, fmt, source, "Usage by subscription type", window=_window(start, end))


@usage_app.command("trend")
def usage_trend(
    component: Annotated[str, typer.Argument(help="The component, e.g. process-designer.")],
    start: From = None, end: To = None, by: By = "week", fmt: Format = "table", source: Source = "rollup",
) -> None:  # fmt: skip
    """One component over time: uses, people and tenants per day or week."""
    from consumers.usage.queries import trend

    period = _period(by)
    _usage(trend, fmt, source, f"{component} per {period.value}", component=component, period=period,
           window=_window(start, end))  # fmt: skip


@usage_app.command("subscriptions")
def usage_subscriptions(start: From = None, end: To = None, by: By = "week", fmt: Format = "table",
                        source: Source = "rollup") -> None:  # fmt: skip
    """Subscriptions started, renewed and ended per day or week and type."""
    from consumers.usage.queries import subscriptions

    period = _period(by)
    _usage(subscriptions, fmt, source, f"Subscriptions per {period.value}", period=period,
           window=_window(start, end))  # fmt: skip


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.", dir_okay=False)],
    days: Annotated[int, typer.Option(help="How many days back from the last event the charts cover.", min=1)] = 90,
) -> None:
    """Write one self-contained HTML page of charts (opens without a network): active users, component usage,
    adoption, events by purpose and legal basis, and the dead-letter rate."""
    from consumers.usage.report import write_report
    from lineage import wiring

    settings = _settings()
    with console.status("building the report"):
        written = write_report(wiring.store(settings), out, days)
    console.print(f"{written.path} ({written.bytes / 1e6:.1f} MB, {written.charts} charts, days up to {written.last_day})")


def main() -> None:
    app()
