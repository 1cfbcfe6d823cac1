"""Session-wide real parts: one Kafka broker for the whole run.

Where it comes from, in order: KAFKA_BOOTSTRAP_SERVERS if set; testcontainers'
Kafka where a Docker engine answers; else the project's own local broker run from
the Maven jars (cached under <repo>/.lineage/kafka/libs, shared with `make demo`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage.broker.local import LocalBroker

pytest_plugins = ["pipeline_fixtures"]

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def store_held_elsewhere(folder: Path) -> Iterator[None]:
    """The embedded store at ``folder`` open in another process for the block, as a running consumer holds it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import clickhouse_connect, time; c = clickhouse_connect.get_client(interface='chdb',"
         f" path={str(folder)!r}); c.command('SELECT 1'); print('open', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        yield
    finally:
        holder.kill()
        holder.wait()


def _docker_answers() -> bool:
    try:
        import docker  # installed with testcontainers

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, no permission, no daemon: all mean "no Docker here"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        # testcontainers' Kafka module drives Confluent's image; 7.9 carries Apache Kafka 3.9 in KRaft mode.
        with KafkaContainer("confluentinc/cp-kafka:7.9.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = LocalBroker(
        libs_dir=REPO / ".lineage" / "kafka" / "libs",
        data_dir=tmp_path_factory.mktemp("kafka"),
        port=free_port(),
        controller_port=free_port(),
    )
    try:
        yield broker.start(timeout=120)
    finally:
        broker.stop()
