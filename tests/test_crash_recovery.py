"""Killing the consumer between insert and commit, then restarting it, leaves no duplicates.

The consumer runs in its own process and is killed with SIGKILL (no clean-up, no
leaving the group, no commit), once after a flush is fully stored and once in the
middle of writing a flush. More events arrive before the restart, so the restarted
consumer would batch differently if it did not rebuild the recorded ranges exactly.
The result is compared with an uninterrupted run over the same messages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_fixtures import TEST_KEY, Pipeline

from producers.simulate import simulate

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).with_name("crash_consumer.py")
FIRST_WAVE, SECOND_WAVE = 2_000, 1_000


def _env(p: Pipeline, store_url: str) -> dict[str, str]:
    s = p.settings
    return os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": p.bootstrap,
        "CLICKHOUSE_URL": store_url,
        "LINEAGE_CLICKHOUSE_DATABASE": s.clickhouse_database,
        "LINEAGE_TOPIC_PREFIX": s.topic_prefix,
        "LINEAGE_DEAD_LETTER_TOPIC": s.dead_letter_topic,
        "LINEAGE_CONSUMER_GROUP": s.consumer_group,
        "LINEAGE_TOPIC_PARTITIONS": str(s.topic_partitions),
        "LINEAGE_PSEUDONYM_KEY": TEST_KEY,
        "LINEAGE_BATCH_MAX_RECORDS": "600",
        # The killed member never says goodbye; the restart, under the same instance id, takes its
        # partitions back at once, however long the session timeout.
        "LINEAGE_HOME": str(p.settings.home),
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("crash", ["crash-after-store", "crash-mid-write"])
def test_a_killed_consumer_restarts_without_duplicates(crash: str, make_pipeline, tmp_path: Path) -> None:
    events = list(simulate(FIRST_WAVE + SECOND_WAVE, seed=11, tenants=8, days=20, fault_rate=0.01))

    # The reference: the same messages, consumed once without interruption.
    reference = make_pipeline()
    reference.produce(events)
    reference.consume()
    want_events = reference.store.scalar("SELECT count() FROM events")
    want_dead = reference.store.scalar("SELECT count() FROM dead_letters")
    want_identifiers = reference.store.scalar("SELECT count() FROM identifiers")
    assert want_events + want_dead == len(events) and want_dead > 0

    crashed = make_pipeline()
    # Its own engine in its own processes (chDB holds one per process); a server is shared as it is.
    url = os.environ.get("CLICKHOUSE_URL") or f"chdb://{tmp_path / 'crash-store'}"
    env = _env(crashed, url)
    crashed.produce(events[:FIRST_WAVE])

    killed = _run([crash, "2"], env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    crashed.produce(events[FIRST_WAVE:])
    resumed = _run(["resume"], env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = json.loads(resumed.stdout.strip().splitlines()[-1])

    # A flush writes the ranges of several partitions at once: the rebuild must cover them all.
    assert got["written_beyond_commit_before"] >= 2, "the kill must have left a flush of several ranges uncommitted"
    assert got["events"] == got["distinct_event_ids"] == got["distinct_event_offsets"] == want_events
    assert got["identifiers"] == got["distinct_identifiers"] == want_identifiers
    assert got["dead_letters"] == got["distinct_dead_letters"] == want_dead


def test_a_consumer_killed_with_sigkill_resumes_within_ten_seconds(make_pipeline, tmp_path: Path) -> None:
    """Static membership: the restart is the same group member, so the group does not wait out its session."""
    events = list(simulate(FIRST_WAVE, seed=12, tenants=8, days=20))
    p = make_pipeline()
    url = os.environ.get("CLICKHOUSE_URL") or f"chdb://{tmp_path / 'restart-store'}"
    env = _env(p, url) | {"LINEAGE_CONSUMER_SESSION_TIMEOUT_MS": "45000"}
    p.produce(events[:1000])
    assert _run(["crash-after-store", "1"], env).returncode == -signal.SIGKILL
    p.produce(events[1000:])

    resumed = _run(["resume"], env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = json.loads(resumed.stdout.strip().splitlines()[-1])
    seconds = got["seconds_to_first_message"]
    print(f"\nkill -9, then restart: first message processed {seconds:.1f} s after the new process started")
    assert seconds is not None and seconds < 10, "a dynamic member would wait out the 45 s session"
    assert got["events"] == got["distinct_event_ids"] == got["distinct_event_offsets"]
