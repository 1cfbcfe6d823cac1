"""The main job on the embedded default: simulate, produce, consume, tag, store, summarise."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from consumers.policy import load_policy
from consumers.service import ConsumeStats, TaggingConsumer
from consumers.store import Store
from consumers.usage.queries import top_components
from lineage import wiring
from lineage.settings import Settings
from producers.sdk import EventProducer
from producers.simulate import simulate


@dataclass
class DemoResult:
    produced: int
    produce_seconds: float
    stats: ConsumeStats
    since: dt.datetime


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def produce_simulation(settings: Settings, bootstrap: str, n: int, seed: int | None, console: Console) -> float:
    """Simulate ``n`` events and send them; returns the seconds it took."""
    seed = seed if seed is not None else time.time_ns() % 2**32
    started = time.perf_counter()
    with EventProducer(bootstrap, settings.topic_prefix) as producer, _progress(console) as bar:
        task = bar.add_task(f"producing {n:,} simulated events (seed {seed})", total=n)
        for i, event in enumerate(simulate(n, seed=seed), start=1):
            producer.send(event)
            if i % 1000 == 0 or i == n:
                bar.update(task, completed=i)
        producer.flush()
    return time.perf_counter() - started


def consume(settings: Settings, bootstrap: str, store: Store, until_idle: float, expect: int | None,
            console: Console) -> ConsumeStats:  # fmt: skip
    consumer = TaggingConsumer(settings, store, load_policy(settings.policy_path), bootstrap)
    with _progress(console) as bar:
        task = bar.add_task("consuming, tagging, storing", total=expect)
        return consumer.run(until_idle=until_idle, on_progress=lambda s: bar.update(task, completed=s.consumed))


def run_demo(settings: Settings, events: int, seed: int | None, console: Console) -> DemoResult:
    settings = wiring.demo_key(settings)
    bootstrap = wiring.bootstrap_servers(settings, start_local=True)
    console.print(f"Kafka broker: [bold]{bootstrap}[/]   store: [bold]{settings.store_url}[/] "
                  f"(database {settings.clickhouse_database})")  # fmt: skip
    store = wiring.store(settings)
    wiring.prepare_topics(settings, bootstrap)
    since = dt.datetime.now(dt.UTC)
    seconds = produce_simulation(settings, bootstrap, events, seed, console)
    stats = consume(settings, bootstrap, store, until_idle=3.0, expect=events, console=console)
    result = DemoResult(events, seconds, stats, since)
    print_summary(store, result, console)
    from consumers.usage.report import write_report

    written = write_report(store, settings.home / "report.html")
    console.print(f"Usage report: [bold]{written.path}[/] (open it in a browser; `lineage usage --help` for the "
                  "questions behind it)")  # fmt: skip
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
        console.print(_table("Events not stored because a person stopped them", ("reason", "events"),
                             sorted(result.stats.suppressed.items())))  # fmt: skip
    console.print(_table("Top components (all stored events)", ("component", "uses", "tenants", "people"), components))
    s = result.stats
    console.print(
        f"Produced {result.produced:,} events in {result.produce_seconds:.1f} s "
        f"({result.produced / max(result.produce_seconds, 1e-9):,.0f} events/s).\n"
        f"Consumed {s.consumed:,} events: {s.stored:,} stored, {sum(s.dead_lettered.values()):,} dead-lettered, "
        f"{sum(s.suppressed.values()):,} stopped by an opt-out or objection, "
        f"in {s.batches:,} batches.\n"
        f"[bold]Consumer throughput: {s.events_per_second:,.0f} events/s[/] "
        f"(first message to last commit, {s.busy_seconds:.1f} s). Store now holds {total:,} events."
    )
