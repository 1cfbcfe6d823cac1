"""Faults of the parts around the consumer, made for real: a store held elsewhere, a disk that fills, a broker that stops.

The consumer runs as `lineage consume`, in a process of its own, as an operator runs
it. Each fault ends in one line and its documented exit code, or is waited out; once
it clears, a restart leaves every message stored (or dead-lettered, or suppressed)
exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, free_port, store_held_elsewhere
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from pipeline_fixtures import TEST_KEY, Pipeline

from consumers.policy.loader import load_policy
from lineage.broker.local import LocalBroker
from lineage import exits
from lineage.wiring import Parts
from producers.sdk import EventProducer
from producers.simulate import simulate
from schemas.models import FAMILIES

pytestmark = pytest.mark.integration
LINEAGE = str(Path(sys.executable).with_name("lineage"))
COUNTS = """
import clickhouse_connect, json, sys
c = clickhouse_connect.get_client(interface="chdb", path=sys.argv[1], database="lineage")
q = lambda sql: c.query(sql).result_rows[0][0]
print(json.dumps({"events": q("SELECT count() FROM events"), "ids": q("SELECT uniqExact(event_id) FROM events"),
                  "dead": q("SELECT count() FROM dead_letters"),
                  "dead_positions": q("SELECT uniqExact(source_topic, source_partition, source_offset) FROM dead_letters"),
                  "suppressed": q("SELECT count() FROM suppressed_events")}))
"""


def _env(p: Pipeline, store: Path, bootstrap: str | None = None, **extra: str) -> dict[str, str]:
    s = p.settings
    return {k: v for k, v in os.environ.items() if not k.startswith(("LINEAGE_", "CLICKHOUSE_"))} | {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap or p.bootstrap, "CLICKHOUSE_URL": f"chdb://{store}",
        "LINEAGE_HOME": str(store.parent / "home"), "LINEAGE_TOPIC_PREFIX": s.topic_prefix,
        "LINEAGE_DEAD_LETTER_TOPIC": s.dead_letter_topic, "LINEAGE_CONSUMER_GROUP": s.consumer_group,
        "LINEAGE_PSEUDONYM_KEY": TEST_KEY, "COLUMNS": "200", **extra,
    }  # fmt: skip


def _consume(env: dict[str, str], until_idle: float = 3, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINEAGE, "consume", "--until-idle", str(until_idle)], env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def _counts(store: Path) -> dict[str, int]:
    done = subprocess.run([sys.executable, "-c", COUNTS, str(store)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _exactly_once(counts: dict[str, int], sent: int) -> None:
    assert counts["events"] == counts["ids"], "an event stored twice"
    assert counts["dead"] == counts["dead_positions"], "a dead letter recorded twice"
    assert counts["events"] + counts["dead"] + counts["suppressed"] == sent, "a message lost"


def test_a_store_held_by_another_process_stops_the_consumer_in_one_line_and_loses_nothing(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    sent = pipeline.produce(simulate(500, seed=5, tenants=3, days=5))
    with store_held_elsewhere(store):
        held = _consume(_env(pipeline, store))
    assert held.returncode == exits.STORE, held.stderr
    assert "open in another process" in held.stderr and "Traceback" not in held.stderr + held.stdout

    freed = _consume(_env(pipeline, store))
    assert freed.returncode == 0, freed.stderr[-2000:]
    _exactly_once(_counts(store), sent)


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 3 MB filesystem of the test's own (tmpfs), grown afterwards; skipped where the test may not mount one."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip() or made.returncode}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_disk_stops_the_consumer_after_its_bound_and_a_restart_stores_the_rest_once(
    pipeline: Pipeline, tiny_disk: Path
) -> None:
    sent = pipeline.produce(simulate(40_000, seed=6, tenants=12, days=30))
    store = tiny_disk / "store"
    env = _env(pipeline, store, LINEAGE_STORE_RETRY_SECONDS="4", LINEAGE_BATCH_MAX_RECORDS="5000")

    full = _consume(env)
    assert full.returncode == exits.STORE, full.stderr[-2000:]
    assert "disk is full" in full.stderr and "Traceback" not in full.stderr + full.stdout
    assert full.stderr.count("retrying for up to 4 s") == 1, "the wait is said once, not every attempt"

    subprocess.run(["mount", "-o", "remount,size=512m", str(tiny_disk)], check=True)
    after = _consume(env)
    assert after.returncode == 0, after.stderr[-2000:]
    _exactly_once(_counts(store), sent)


def _committed_all(bootstrap: str, group: str, topics: list[str]) -> bool:
    """Whether the group's offsets have reached the end of every partition (the consumer commits after each flush)."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(t, n) for t in topics for n in sorted(reader.partitions_for_topic(t) or ())]
        ends = reader.end_offsets(partitions)
        return all((reader.committed(tp) or 0) >= ends[tp] for tp in partitions)
    finally:
        reader.close(autocommit=False)


def _warm_up_the_group_coordinator(bootstrap: str, topic: str, seconds: float = 180) -> None:
    """Have a fresh broker make and load its offsets topic before the consumer under test joins a group.

    On a loaded machine that first time took minutes, and the consumer, joining meanwhile, read
    nothing in 240 s (seen twice here under an artificial CPU load; the outage under test comes later).
    """
    warm = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"warm-up-{os.getpid()}",
                         enable_auto_commit=False, auto_offset_reset="latest")  # fmt: skip
    try:
        deadline = time.monotonic() + seconds
        while not warm.assignment():
            assert time.monotonic() < deadline, f"the fresh broker's group coordinator was not ready in {seconds:.0f} s"
            warm.poll(timeout_ms=500)
        warm.commit()
    finally:
        warm.close()


def _wait_for(condition, seconds: float, process: subprocess.Popen) -> bool:
    """Whether ``condition`` came true within ``seconds``; False at once if the process ended."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None or time.monotonic() >= deadline:
            return False
        time.sleep(1)
    return True


def test_a_broker_that_stops_mid_run_is_waited_for_and_nothing_is_lost_or_doubled(
    make_pipeline, tmp_path: Path
) -> None:
    broker = LocalBroker(libs_dir=REPO / ".lineage" / "kafka" / "libs", data_dir=tmp_path / "kafka",
                         port=free_port(), controller_port=free_port())  # fmt: skip
    bootstrap = broker.start(timeout=120)
    try:
        p = make_pipeline()  # its names; its topics are made again on this broker
        Parts(p.settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})).prepare_topics(bootstrap)
        topics = [p.settings.topic(f) for f in FAMILIES]
        events = list(simulate(6_000, seed=7, tenants=6, days=10))
        with EventProducer(bootstrap, p.settings.topic_prefix) as producer:
            producer.send_and_wait(events[:3_000])
        _warm_up_the_group_coordinator(bootstrap, topics[0])
        store = tmp_path / "store"
        env = _env(p, store, bootstrap, LINEAGE_BATCH_MAX_RECORDS="500")
        # Running on, as a service does (no --until-idle): it waits for the broker as long as it takes.
        consumer = subprocess.Popen([LINEAGE, "consume"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)  # fmt: skip
        failed = None
        try:
            stored = lambda: _committed_all(bootstrap, p.settings.consumer_group, topics)
            if not _wait_for(stored, 240, consumer):
                failed = "the first half was not stored within 240 s"
            else:
                assert broker.stop(), "the broker was running"
                time.sleep(15)
                assert consumer.poll() is None, "the consumer waits for the broker instead of ending"
                broker.start(timeout=120)
                with EventProducer(bootstrap, p.settings.topic_prefix) as producer:
                    producer.send_and_wait(events[3_000:])
                if not _wait_for(stored, 300, consumer):
                    failed = "the rest was not stored within 300 s"
        finally:
            if consumer.poll() is None:
                consumer.send_signal(signal.SIGTERM)  # a clean stop: what it holds is flushed first
            out, err = consumer.communicate(timeout=120)
        assert failed is None, f"{failed}; the consumer ended {consumer.returncode} and said: {(out + err)[-3000:]}"
        assert consumer.returncode == 0, err[-3000:]
        assert "Traceback" not in out + err
        assert err.count("the Kafka broker is unavailable") == 1 and "the Kafka broker is available again" in err, err
        _exactly_once(_counts(store), len(events))
    finally:
        broker.stop()


def test_a_consumer_the_group_gives_no_partitions_says_so_instead_of_reporting_success(make_pipeline) -> None:
    """One partition per topic and two members: the range assignor gives the second member nothing."""
    import dataclasses
    import threading

    from consumers.pipeline.consumer import TaggingConsumer
    from consumers.pipeline.faults import NoPartitions
    from lineage.wiring import consumer_config

    p = make_pipeline(topic_partitions=1)
    p.produce(simulate(200, seed=8, tenants=2, days=2))
    holder = p.consumer()
    thread = threading.Thread(target=holder.run)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not holder.consumer.assignment() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert holder.consumer.assignment(), "the first member holds the partitions"
        config = dataclasses.replace(consumer_config(p.settings, p.bootstrap), instance_id="second-member",
                                     assignment_timeout_seconds=8)  # fmt: skip
        second = TaggingConsumer(config, p.store, load_policy())
        with pytest.raises(NoPartitions, match="no partitions"):
            second.run(until_idle=2)
    finally:
        holder.stop()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert exits.code_of(NoPartitions("x")) == exits.NO_PARTITIONS
