"""The main job on the embedded default: simulate, produce, consume, tag, store, summarise."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from consumers.audit.checkpoints import fingerprint
from consumers.pipeline.consumer import ConsumeStats
from consumers.store.store import Store
from consumers.usage.queries import top_components
from consumers.usage.report import write_report
from lineage import wiring
from lineage.ingest import consume, produce_simulation
from lineage.settings import Settings
from lineage.wiring import Parts


@dataclass
class DemoResult:
    produced: int
    produce_seconds: float
    stats: ConsumeStats
    since: dt.datetime


def run_demo(settings: Settings, events: int, seed: int | None, console: Console) -> DemoResult:
    parts = Parts(wiring.demo_key(settings))
    settings = parts.settings
    bootstrap = parts.bootstrap(start_local=True)
    console.print(f"Kafka broker: [bold]{bootstrap}[/]   store: [bold]{settings.store_url}[/] "
                  f"(database {settings.clickhouse_database})")  # fmt: skip
    store = parts.store
    parts.prepare_topics(bootstrap)
    signer = parts.sealer.signer  # the demo's audit signing key, made once and kept in the home folder
    console.print(f"Audit signing key: [bold]{signer.key_file}[/] ({'created' if signer.ensure() else 'kept'}, "
                  f"key {fingerprint(signer.public)})")  # fmt: skip
    since = dt.datetime.now(dt.UTC)
    seconds = produce_simulation(parts, bootstrap, events, seed, console)
    with parts.lineage_events.consumer() as run:
        stats = consume(parts, bootstrap, until_idle=3.0, expect=events, console=console, on_progress=run.progress)
        run.done(stats)
    result = DemoResult(events, seconds, stats, since)
    print_summary(store, result, console)
    written = write_report(store, settings.home / "report.html")
    console.print(f"Usage report: [bold]{written.path}[/] (open it in a browser; `lineage usage --help` for the "
                  "questions behind it)")  # fmt: skip
    sealed = parts.sealer.seal(force=True)
    console.print(f"Audit chain sealed in checkpoint {sealed.number if sealed else '-'} ({settings.audit_folder}); "
                  "check it with `lineage audit verify`")  # fmt: skip
    console.print("To keep it running with an API and pages: [bold]make serve[/], then "
                  "`lineage token create --role product --name you` (README, The service)")  # fmt: skip
    return result


def _table(title: str, headers: tuple[str, ...], rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row])
    return table


def print_summary(store: Store, result: DemoResult, console: Console) -> None:
    since = {"since": result.since}
    where = "WHERE ingested_at >= {since:DateTime64(3, 'UTC')}"
    per_purpose = store.rows(
        f"SELECT purpose, basis, count() AS n FROM events ARRAY JOIN purposes AS purpose, legal_bases AS basis"
        f" {where} GROUP BY purpose, basis ORDER BY n DESC",
        since,
    )
    per_basis = store.rows(
        f"SELECT basis, count() AS n FROM events ARRAY JOIN arrayDistinct(legal_bases) AS basis {where}"
        f" GROUP BY basis ORDER BY n DESC",
        since,
    )
    components = top_components(store, limit=8).rows
    dead = sorted(result.stats.dead_lettered.items(), key=lambda kv: -kv[1])
    total = store.scalar("SELECT count() FROM events")
    console.print(_table("Events stored per purpose (this run)", ("purpose", "legal basis", "events"), per_purpose))
    console.print(_table("Events stored per legal basis (this run)", ("legal basis", "events"), per_basis))
    console.print(_table("Events sent to the dead-letter topic, and why", ("reason", "events"), dead or [("none", 0)]))
    if result.stats.suppressed:
        console.print(_table("Events not stored: a person stopped them, or they were stored already",
                             ("reason", "events"),
                             sorted(result.stats.suppressed.items())))  # fmt: skip
    console.print(_table("Top components (all stored events)", ("component", "uses", "tenants", "people"), components))
    s = result.stats
    console.print(
        f"Produced {result.produced:,} events in {result.produce_seconds:.1f} s "
        f"({result.produced / max(result.produce_seconds, 1e-9):,.0f} events/s).\n"
        f"Consumed {s.consumed:,} events: {s.stored:,} stored, {sum(s.dead_lettered.values()):,} dead-lettered, "
        f"{sum(s.suppressed.values()):,} not stored (an erasure, opt-out or objection, or sent twice), "
        f"in {s.batches:,} batches.\n"
        f"[bold]Consumer throughput: {s.events_per_second:,.0f} events/s[/] "
        f"(first message to last commit, {s.busy_seconds:.1f} s). Store now holds {total:,} events."
    )
