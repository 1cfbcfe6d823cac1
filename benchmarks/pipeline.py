"""The pipeline against its own limits, at growing volumes, in one run.

    make bench
    python -m benchmarks.pipeline [--events 100000,1000000] [--ten-million] [--out DIR]

On the local broker (started if needed; KAFKA_BOOTSTRAP_SERVERS if set) and the
embedded store, for each volume: fill fresh topics with simulated events, time
each part alone (the producer, kafka-python reading, fastavro decoding, the
engine decoding Avro containers, the sink's column inserts), then one tagging
consumer in a child process from the full topic to rows queryable in ClickHouse,
with its memory, CPU, bytes on disk and query times, then ClickHouse's own Kafka
engine on the same topics (``benchmarks/kafka_engine.py``) as the yardstick. Then the produce-to-queryable latency at a steady input rate,
and two consumers in one group against one. Writes a JSON file and a Markdown
table, and prints the table. 100k and 1M take about twelve minutes on two cores;
``--ten-million`` adds a 10M step of about 45 minutes more.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient
from rich.console import Console

from benchmarks import feed, kafka_engine, limits
from benchmarks.report import markdown
from consumers.policy.model import Policy
from lineage import wiring
from lineage.settings import Settings
from lineage.topics import ensure_topics

console = Console(stderr=True)


def topics_for(settings: Settings, prefix: str) -> Settings:
    return settings.model_copy(update={"topic_prefix": prefix, "dead_letter_topic": f"{prefix}.dead-letter"})


def create_topics(settings: Settings, policy: Policy, bootstrap: str) -> list[str]:
    specs = wiring.topic_specs(settings, policy)
    ensure_topics(bootstrap, specs)
    return [s.name for s in specs]


def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="lineage-bench")
    try:
        admin.delete_topics(names, timeout_ms=30_000)
    finally:
        admin.close()


def topic_bytes(bootstrap: str, names: list[str]) -> int:
    """Bytes the broker keeps on disk for these topics, as it reports them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="lineage-bench")
    try:
        return sum(p["partition_size"] for broker in admin.describe_log_dirs(names) for d in broker["log_dirs"]
                   for t in d["topics"] for p in t["partitions"])  # fmt: skip
    finally:
        admin.close()


def worker(bootstrap: str, prefix: str, group: str, folder: Path, expect: int, *flags: str,
           ready: Path | None = None) -> subprocess.Popen:  # fmt: skip
    out = folder / "result.json"
    cmd = [sys.executable, "-m", "benchmarks.worker", "--bootstrap", bootstrap, "--prefix", prefix, "--group", group,
           "--store", str(folder / "store"), "--expect", str(expect), "--out", str(out), *flags]  # fmt: skip
    if ready:
        cmd += ["--ready", str(ready)]
    return subprocess.Popen(cmd, cwd=Path(__file__).resolve().parent.parent)


def result_of(proc: subprocess.Popen, folder: Path, what: str) -> dict[str, Any]:
    if proc.wait() != 0:
        raise SystemExit(f"{what}: the consumer process failed (exit {proc.returncode})")
    return json.loads((folder / "result.json").read_text())


def one_volume(settings: Settings, policy: Policy, bootstrap: str, pool: feed.Pool, events: int, keep: int,
               run_id: str, work: Path, limit_store) -> dict[str, Any]:  # fmt: skip
    prefix = f"bench{run_id}v{events}"
    local = topics_for(settings, prefix)
    names = create_topics(local, policy, bootstrap)
    figures: dict[str, Any] = {"events": events}
    try:
        console.print(f"[bold]{events:,} events[/]: producing")
        seconds = feed.fill(bootstrap, prefix, pool, events)
        figures["produce"] = {"events_per_second": events / seconds, "seconds": seconds}
        figures["kafka_bytes"] = topic_bytes(bootstrap, [n for n in names if n != local.dead_letter_topic])

        console.print("  kafka-python reading the topic without decoding")
        read, values = limits.consume_raw(bootstrap, prefix, events, keep)
        figures["kafka_read"] = {"messages_per_second": read.per_second, "seconds": read.seconds}
        console.print(f"  fastavro decoding {len(values):,} of them")
        figures["avro_decode"] = {"records_per_second": limits.decode(values).per_second, "sample": len(values)}
        console.print("  the engine decoding them from Avro containers, and column inserts of already-tagged rows")
        batches = limits.tagged_batches(values, policy, settings.batch_max_records)
        db = f"limits_{run_id}_{events}"
        store = limit_store(db)
        try:
            figures["engine_decode"] = {"records_per_second": limits.engine_decode(store, values).per_second}
            inserted = limits.insert(store, batches)
        finally:
            store.drop()
        figures["store_insert"] = {"rows_per_second": inserted.per_second, "rows": inserted.items}
        del values, batches

        console.print("  the tagging consumer, full topic to queryable rows")
        folder = work / f"consume-{events}"
        folder.mkdir()
        figures["pipeline"] = result_of(worker(bootstrap, prefix, f"{prefix}-one", folder, events, "--costs"),
                                        folder, "pipeline")  # fmt: skip
        console.print("  ClickHouse's own Kafka engine on the same topics (no tags), in a process of its own")
        figures["kafka_engine"] = kafka_engine.run(bootstrap, [n for n in names if n != local.dead_letter_topic],
                                                   f"{prefix}-engine", work / f"engine-{events}", events)  # fmt: skip
    finally:
        delete_topics(bootstrap, names)
    return figures


def latency(settings: Settings, policy: Policy, bootstrap: str, pool: feed.Pool, rate: float, seconds: float,
            run_id: str, work: Path) -> dict[str, Any]:  # fmt: skip
    prefix = f"bench{run_id}lat{rate:.0f}"
    names = create_topics(topics_for(settings, prefix), policy, bootstrap)
    folder = work / f"latency-{rate:.0f}"
    folder.mkdir()
    ready = folder / "ready"
    try:
        expect = int(rate * seconds)
        proc = worker(bootstrap, prefix, f"{prefix}-one", folder, expect, "--latency", ready=ready)
        deadline = time.monotonic() + 120
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("latency: the consumer did not get its partitions")
            time.sleep(0.2)
        console.print(f"[bold]latency[/]: {rate:,.0f} events/s for {seconds:.0f} s")
        sent = feed.send_at_rate(bootstrap, prefix, pool, rate, seconds)
        result = result_of(proc, folder, "latency")
        return {"rate": rate, "seconds": seconds, "sent": sent, **result}
    finally:
        delete_topics(bootstrap, names)


def scale_out(settings: Settings, policy: Policy, bootstrap: str, pool: feed.Pool, events: int, run_id: str,
              work: Path) -> dict[str, Any]:  # fmt: skip
    """The same topic read by one consumer, then by two in one group (each with its own embedded store)."""
    prefix = f"bench{run_id}scale"
    names = create_topics(topics_for(settings, prefix), policy, bootstrap)
    try:
        console.print(f"[bold]scale-out[/]: {events:,} events, one consumer, then two in one group")
        feed.fill(bootstrap, prefix, pool, events)
        out: dict[str, Any] = {"events": events, "partitions": settings.topic_partitions * len(names[:-1])}
        folder = work / "scale-1"
        folder.mkdir()
        one = result_of(worker(bootstrap, prefix, f"{prefix}-one", folder, events), folder, "scale-out, one")
        out["one"] = {"events_per_second": one["events_per_second"], "seconds": one["busy_seconds"]}
        procs, folders = [], []
        for i in (1, 2):
            folder = work / f"scale-2-{i}"
            folder.mkdir()
            folders.append(folder)
            procs.append(worker(bootstrap, prefix, f"{prefix}-two", folder, events, "--share"))
        parts = [result_of(p, f, "scale-out, two") for p, f in zip(procs, folders, strict=True)]
        consumed = sum(p["consumed"] for p in parts)
        working = [p for p in parts if p["consumed"]]  # a member the group gave nothing has no span
        span = max(p["last_commit_epoch"] for p in working) - min(p["first_message_epoch"] for p in working)
        out["two"] = {"events_per_second": consumed / span, "seconds": span, "consumed": [p["consumed"] for p in parts]}
        out["speed_up"] = out["two"]["events_per_second"] / out["one"]["events_per_second"]
        return out
    finally:
        delete_topics(bootstrap, names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="100000,1000000", help="Volumes to run, comma-separated.")
    parser.add_argument("--ten-million", action="store_true", help="Add a 10,000,000-event step (about 45 minutes).")
    parser.add_argument("--pool", type=int, default=200_000,
                        help="Distinct simulated events; larger volumes send copies with fresh event ids.")
    parser.add_argument("--keep", type=int, default=200_000,
                        help="Messages decoded and inserted for the raw limits (the rate needs no more).")
    parser.add_argument("--latency-rate", default="1000,2500,5000",
                        help="Steady input rates (events/s) at which to measure the lag, comma-separated.")
    parser.add_argument("--latency-seconds", type=float, default=20, help="How long to send at each rate; 0 skips.")
    parser.add_argument("--scale-events", type=int, default=1_000_000,
                        help="Events for the scale-out comparison; 0 skips it.")
    parser.add_argument("--out", type=Path, help="Folder for the JSON and Markdown files. Default: <home>/bench.")
    args = parser.parse_args()
    volumes = [int(v.replace("_", "")) for v in args.events.split(",") if v.strip()]
    if args.ten_million:
        volumes.append(10_000_000)

    settings = Settings()
    out_dir = (args.out or settings.home / "bench").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    parts = wiring.Parts(settings)
    bootstrap = parts.bootstrap(start_local=True)
    console.print(f"broker {bootstrap}; simulating and encoding a pool of {min(args.pool, max(volumes)):,} events")
    pool = feed.build_pool(min(args.pool, max(volumes)))
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "sdk_encode": {"events_per_second": pool.events_per_second, "events": len(pool.messages)},
        "volumes": [],
    }
    with tempfile.TemporaryDirectory(prefix="lineage-bench-") as tmp:
        work = Path(tmp)
        policy = parts.policy
        limit_url = f"chdb://{work / 'limits'}"
        for events in volumes:
            figures = one_volume(settings, policy, bootstrap, pool, events, args.keep, run_id, work,
                                 lambda db: wiring.open_store(limit_url, db, policy))  # fmt: skip
            results["volumes"].append(figures)
        if args.latency_seconds > 0:
            results["latency"] = [latency(settings, policy, bootstrap, pool, float(rate), args.latency_seconds, run_id, work)
                                  for rate in args.latency_rate.split(",") if rate.strip()]  # fmt: skip
        if args.scale_events > 0:
            results["scale_out"] = scale_out(settings, policy, bootstrap, pool, args.scale_events, run_id, work)
    results["seconds"] = time.perf_counter() - started
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    table = markdown(results)
    (out_dir / f"pipeline-{stamp}.json").write_text(json.dumps(results, indent=2))
    (out_dir / f"pipeline-{stamp}.md").write_text(table)
    print(table)
    console.print(f"written: {out_dir / f'pipeline-{stamp}.json'} and .md ({results['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
