"""One tagging consumer in its own process, measured from the inside.

    python -m benchmarks.worker --bootstrap HOST:PORT --prefix P --group G --store PATH --expect N --out FILE

The benchmark starts this as a child so its memory and CPU are the consumer's
alone (chDB runs inside the process that opens it, so the store's work counts
too). It consumes until ``--expect`` messages are processed and writes a JSON
file: throughput, peak and sampled RSS, CPU seconds, and with ``--latency`` the
produce-to-queryable lag of every event; with ``--costs`` also the store's bytes
on disk and the time of the queries the three kinds of users run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from consumers.pipeline.batch import PartitionBatch
from consumers.pipeline.consumer import ConsumeStats, TaggingConsumer
from consumers.policy.loader import load_policy
from consumers.policy.model import Policy
from consumers.store.store import Store
from lineage.settings import Settings
from lineage.wiring import consumer_config, open_store

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Sampler(threading.Thread):
    """RSS against messages consumed, twice a second: memory that grows with the volume shows here."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.consumed = 0
        self.samples: list[tuple[int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.samples.append((self.consumed, rss_bytes()))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def timed(fn, repeat: int = 3) -> dict[str, float]:
    """Milliseconds of the first call (cold) and the best of ``repeat`` more."""
    started = time.perf_counter()
    fn()
    first = time.perf_counter() - started
    best = min(_once(fn) for _ in range(repeat))
    return {"first_ms": first * 1000, "best_ms": best * 1000}


def _once(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def store_cost(store: Store) -> dict[str, Any]:
    """Bytes on disk per table once merged, per stored event."""
    for (table,) in store.rows("SELECT name FROM system.tables WHERE database = currentDatabase()"
                               " AND engine LIKE '%MergeTree'"):  # fmt: skip
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    tables = {
        t: {"bytes": int(b), "rows": int(r), "uncompressed": int(u)}
        for t, b, r, u in store.rows(
            "SELECT table, sum(bytes_on_disk), sum(rows), sum(data_uncompressed_bytes) FROM system.parts"
            " WHERE database = currentDatabase() AND active GROUP BY table ORDER BY table"
        )
    }
    events = tables.get("events", {}).get("rows", 0)
    total = sum(t["bytes"] for t in tables.values())
    return {
        "tables": tables,
        "events": events,
        "bytes_per_event": total / events if events else 0.0,
        "events_table_bytes_per_event": tables["events"]["bytes"] / events if events else 0.0,
    }


def query_costs(store: Store, policy: Policy) -> dict[str, Any]:
    from consumers.retention.run import RetentionRun
    from consumers.rights.export import Exporter
    from consumers.usage import queries as q

    # A person in the middle of the data, as a privacy officer would get them: by their subject id.
    subject = store.scalar("SELECT actor_id FROM events WHERE actor_id != '' ORDER BY cityHash64(event_id) LIMIT 1")
    exporter = Exporter(store, policy)
    access = timed(lambda: (exporter.events_of(subject), exporter.identifiers_of(subject)))
    return {
        "subject_access": {**access, "events_found": len(exporter.events_of(subject))},
        "usage_top_components": timed(lambda: q.top_components(store, q.Window(), 10)),
        "usage_top_components_raw": timed(lambda: q.top_components(store, q.Window(), 10, source=q.Source.raw)),
        "retention_plan": timed(lambda: RetentionRun(store, policy).plan()),
    }


def wait_for_partitions(consumer: TaggingConsumer, timeout: float = 60) -> None:
    """Join the group before the producer starts, so the lag measured is not the join's."""
    deadline = time.monotonic() + timeout
    while not consumer.consumer.assignment():
        if consumer.consumer.poll(timeout_ms=200):
            raise SystemExit("the latency topic was not empty when the consumer joined")
        if time.monotonic() > deadline:
            raise SystemExit("the consumer got no partitions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True, help="Topic prefix: the events are read from <prefix>.<family>.")
    parser.add_argument("--group", required=True)
    parser.add_argument("--store", required=True, type=Path, help="Folder of the embedded store (one per process).")
    parser.add_argument("--database", default="bench")
    parser.add_argument("--expect", type=int, required=True, help="Stop once this many messages are processed.")
    parser.add_argument("--latency", action="store_true", help="Record each event's produce-to-queryable lag.")
    parser.add_argument("--costs", action="store_true", help="Then measure bytes on disk and query times.")
    parser.add_argument("--share", action="store_true",
                        help="One of several consumers in the group: stop when idle, not at --expect.")
    parser.add_argument("--ready", type=Path,
                        help="Touch this file once the consumer holds its partitions (the topic must be empty then).")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    settings = Settings(
        home=args.store.parent, topic_prefix=args.prefix, consumer_group=args.group,
        dead_letter_topic=f"{args.prefix}.dead-letter", kafka_bootstrap_servers=args.bootstrap,
        clickhouse_url=f"chdb://{args.store}", clickhouse_database=args.database, pseudonym_key="benchmark-key",
        consumer_session_timeout_ms=10_000,
    )  # fmt: skip
    policy = load_policy(settings.policy_path)
    store = open_store(settings.store_url, settings.clickhouse_database, policy)
    lags: list[float] = []

    def measure_lag(batches: list[PartitionBatch]) -> None:
        # Called once the flush's inserts have returned: ClickHouse's synchronous insert makes
        # the rows visible to the next query, so this is the moment they are queryable.
        now_ms = time.time() * 1000
        for batch in batches:
            lags.extend(now_ms - t for t in batch.produced_ms)

    consumer = TaggingConsumer(consumer_config(settings, args.bootstrap), store, policy,
                               after_store=measure_lag if args.latency else None)  # fmt: skip
    sampler = Sampler()
    rss_before, cpu_before = rss_bytes(), cpu_seconds()
    if args.ready:
        wait_for_partitions(consumer)
        args.ready.touch()
    sampler.start()
    epochs = {"first_message_epoch": 0.0, "last_commit_epoch": 0.0}
    batches = 0

    def progress(stats: ConsumeStats) -> None:
        nonlocal batches
        sampler.consumed = stats.consumed
        if stats.consumed and not epochs["first_message_epoch"]:
            epochs["first_message_epoch"] = time.time()
        if stats.batches != batches:
            batches, epochs["last_commit_epoch"] = stats.batches, time.time()

    started = time.perf_counter()
    if args.share:
        stats = consumer.run(until_idle=8, on_progress=progress)
    else:
        stats = consumer.run(max_messages=args.expect, until_idle=30, on_progress=progress)
    wall = time.perf_counter() - started
    sampler.stop.set()
    cpu = cpu_seconds() - cpu_before
    # Before the checks below: counting distinct ids of 10M events takes the engine hundreds of MiB,
    # which is the check's memory, not the consumer's.
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    stored, distinct_ids = store.rows("SELECT count(), uniqExact(event_id) FROM events")[0]
    result: dict[str, Any] = {
        "consumed": stats.consumed,
        "stored": stats.stored,
        "stored_in_clickhouse": int(stored),
        "distinct_event_ids": int(distinct_ids),
        "dead_lettered": sum(stats.dead_lettered.values()),
        "suppressed": sum(stats.suppressed.values()),
        "batches": stats.batches,
        "busy_seconds": stats.busy_seconds,
        "wall_seconds": wall,
        "events_per_second": stats.events_per_second,
        "cpu_seconds": cpu,
        "cpu_seconds_per_million": cpu / stats.consumed * 1e6 if stats.consumed else 0.0,
        "rss_before_bytes": rss_before,
        "rss_peak_bytes": rss_peak,
        "rss_samples": sampler.samples,
        **epochs,
    }
    if args.latency:
        result["latency_ms"] = {"events": len(lags), "p50": percentile(lags, 0.50), "p99": percentile(lags, 0.99),
                                "max": max(lags, default=0.0), "mean": statistics.fmean(lags) if lags else 0.0}  # fmt: skip
    if args.costs:
        result["store"] = store_cost(store)
        result["queries"] = query_costs(store, policy)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
