"""OpenLineage without the broker: switching events off, the transport the client is given, naming, faults."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.transport.transport import Transport

from lineage.lineage_events.client import Emitter
from lineage.lineage_events.naming import store_namespace, topic_name
from lineage.lineage_events.runs import JobSpec, Runs
from lineage.settings import Settings
from lineage.wiring import Parts


def test_events_are_off_by_our_setting_or_the_clients_own_switch(tmp_path: Path, monkeypatch) -> None:
    assert Parts(Settings(home=tmp_path, openlineage=True)).lineage_events.on
    assert not Parts(Settings(home=tmp_path, openlineage=False)).lineage_events.on
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not Parts(Settings(home=tmp_path)).lineage_events.on


def test_a_transport_configured_the_clients_way_replaces_the_default_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "console")
    assert Parts(Settings(home=tmp_path)).lineage_events.runs.emitter.transport == "console"
    monkeypatch.delenv("OPENLINEAGE__TRANSPORT__TYPE")
    assert Parts(Settings(home=tmp_path)).lineage_events.runs.emitter.transport == "file"


def test_a_store_server_is_named_by_host_and_port_never_by_its_credentials() -> None:
    assert store_namespace("https://reader:s3cret@ch.example.nl:8443") == "clickhouse://ch.example.nl:8443"
    assert store_namespace("http://ch.example.nl") == "clickhouse://ch.example.nl:8123"
    assert topic_name("PLAINTEXT://k1.example.nl:9092,k2.example.nl:9092", "engage.usage") == (
        "kafka://k1.example.nl:9092", "engage.usage")


def test_a_failing_transport_is_told_once_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Transport):
        kind = "broken"

        def emit(self, event: Any) -> None:
            raise ConnectionError("refused")

    runs = Runs(Emitter(OpenLineageClient(transport=Broken())), "engage-lineage", 60.0, 2.0)
    with caplog.at_level(logging.WARNING, logger="lineage.openlineage"):
        for _ in range(3):
            with runs.run(JobSpec("lineage.test", "a test"), lambda: ([], [])):
                pass
    assert runs.emitter.failed == 6
    assert [r.getMessage() for r in caplog.records if r.name == "lineage.openlineage"][0].startswith(
        "OpenLineage events: cannot deliver")
    assert len([r for r in caplog.records if r.name == "lineage.openlineage"]) == 1
