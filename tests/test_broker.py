"""The local broker's lifecycle: start answers, a second start reuses it, stop stops only ours."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, free_port
from kafka import KafkaConsumer, KafkaProducer

from lineage.broker.errors import PortInUse
from lineage.broker.local import LocalBroker
from lineage.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")), reason="an external broker is configured; no local one is run"
)


def _broker(tmp_path: Path) -> LocalBroker:
    return LocalBroker(REPO / ".lineage" / "kafka" / "libs", tmp_path / "kafka", free_port(), free_port())


def test_start_status_reuse_stop(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    assert broker.status().running is False
    assert broker.stop() is False, "stop must not claim to stop a broker it never started"
    try:
        bootstrap = broker.start(timeout=120)
        status = broker.status()
        assert status.running and status.pid and bootstrap == status.bootstrap

        # A second object on the same data dir finds the running broker instead of spawning another.
        again = LocalBroker(broker.libs_dir, broker.data_dir, broker.port, broker.controller_port)
        assert again.start(timeout=30) == bootstrap
        assert again.status().pid == status.pid

        ensure_topics(bootstrap, [TopicSpec("lifecycle", 1, {"retention.ms": "3600000"})])
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        producer.send("lifecycle", b"hello").get(timeout=30)
        producer.close()
        consumer = KafkaConsumer("lifecycle", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                 consumer_timeout_ms=10_000)
        assert [m.value for m in consumer] == [b"hello"]
        consumer.close()
    finally:
        assert broker.stop() is True
    assert broker.status().running is False
    assert not broker.pid_file.exists()


def test_stop_never_signals_a_foreign_pid(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    broker.data_dir.mkdir(parents=True)
    # A live process that is not our broker, named by a stale pid file.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        broker.pid_file.write_text(f"{bystander.pid}\n")
        assert broker.stop() is False
        assert bystander.poll() is None, "the unrelated process must still be running"
        assert not broker.pid_file.exists(), "the stale pid file is cleaned up"
    finally:
        bystander.kill()
        bystander.wait()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalBroker(REPO / ".lineage" / "kafka" / "libs", tmp_path / "kafka", port, free_port())
        with pytest.raises(PortInUse, match=str(port)):
            broker.start(timeout=30)
    assert broker.status().running is False


def test_topic_configs_are_applied_to_existing_topics(kafka_bootstrap: str) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    name = f"configured-{os.getpid()}-{free_port()}"
    assert ensure_topics(kafka_bootstrap, [TopicSpec(name, 2, {"retention.ms": "1000000"})]) == [name]
    # Second call: nothing created, the new config applied.
    assert ensure_topics(kafka_bootstrap, [TopicSpec(name, 2, {"retention.ms": "2000000"})]) == []
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        text = repr(described)
        assert "2000000" in text
        assert len(admin.describe_topics([name])[0]["partitions"]) == 2
    finally:
        admin.close()
