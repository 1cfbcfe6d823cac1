"""`/metrics` in Prometheus text format, and the consumer lag it and `/api/consumer` show.

The counters of the consumer come from its own counts; the lag from the broker
(the group's committed offsets against each partition's end); the retention and
request figures from the store, asked at each scrape.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from consumers.retention.status import last_run
from consumers.rights.register import Register
from schemas.models import FAMILIES

if TYPE_CHECKING:
    from lineage.service.runtime import Service

log = logging.getLogger(__name__)
LAG_CACHE_SECONDS = 2.0


class _LagProbe:
    """One admin client and one group-less consumer, kept between scrapes; asked one caller at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bootstrap = ""
        self.admin: KafkaAdminClient | None = None
        self.ends: KafkaConsumer | None = None
        self.cached: tuple[float, dict[tuple[str, int], int]] = (0.0, {})

    def close(self) -> None:
        for client in (self.admin, self.ends):
            if client is not None:
                client.close()
        self.admin = self.ends = None

    def lag(self, bootstrap: str, group: str, topics: list[str]) -> dict[tuple[str, int], int]:
        with self.lock:
            at, found = self.cached
            if time.monotonic() - at < LAG_CACHE_SECONDS and bootstrap == self.bootstrap:
                return found
            if bootstrap != self.bootstrap:
                self.close()
                self.bootstrap = bootstrap
            if self.admin is None or self.ends is None:
                self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
                self.ends = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, request_timeout_ms=5000)
            committed = self.admin.list_group_offsets({group: None}).get(group, {})
            partitions = [TopicPartition(t, p) for t in topics for p in sorted(self.ends.partitions_for_topic(t) or ())]
            ends = self.ends.end_offsets(partitions)
            found = {}
            for tp in partitions:
                done = committed.get(tp)
                start = done.offset if done is not None and done.offset >= 0 else 0
                found[(tp.topic, tp.partition)] = max(0, ends[tp] - start)
            self.cached = (time.monotonic(), found)
            return found


# One probe per service, gone with it.
_PROBES: weakref.WeakKeyDictionary[Service, _LagProbe] = weakref.WeakKeyDictionary()


def lag(service: Service) -> dict[tuple[str, int], int]:
    """Messages not yet committed by the group, per partition; empty when the broker does not answer."""
    probe = _PROBES.setdefault(service, _LagProbe())
    reachable, bootstrap = service.broker_reachable(timeout=1.0)
    if not reachable:
        return {}
    settings = service.settings
    try:
        return probe.lag(bootstrap, settings.consumer_group, [settings.topic(f) for f in FAMILIES])
    except Exception as exc:  # the broker went away between the check and the ask
        log.info("consumer lag not known: %s", exc)
        probe.close()
        return {}


class _ServiceCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self):
        service, state = self.service, self.service.consumer_state
        partitions = GaugeMetricFamily("lineage_consumer_lag", "Messages the consumer group has not committed yet",
                                       labels=["topic", "partition"])  # fmt: skip
        for (topic, partition), n in sorted(lag(service).items()):
            partitions.add_metric([topic, str(partition)], n)
        yield partitions
        yield GaugeMetricFamily("lineage_consumer_partitions", "Partitions the consumer holds",
                                value=len(state.assigned))  # fmt: skip
        yield CounterMetricFamily("lineage_events_consumed", "Messages read by the consumer", value=state.consumed)
        yield CounterMetricFamily("lineage_events_stored", "Events stored", value=state.stored)
        dead = CounterMetricFamily("lineage_events_dead_lettered", "Messages sent to the dead-letter topic",
                                   labels=["reason"])  # fmt: skip
        for reason, n in sorted(state.dead_lettered.items()):
            dead.add_metric([reason], n)
        yield dead
        store = service.parts.store
        last = last_run(store)
        yield GaugeMetricFamily("lineage_retention_last_run_timestamp_seconds", "When the last retention run ended",
                                value=last[1].timestamp() if last else 0)  # fmt: skip
        rows = GaugeMetricFamily("lineage_retention_last_run_rows", "Rows the last retention run deleted or "
                                 "anonymised, per table", labels=["table"])  # fmt: skip
        if last:
            for table, n in store.rows("SELECT k, sum(v) FROM retention_runs ARRAY JOIN mapKeys(rows) AS k, "
                                       "mapValues(rows) AS v WHERE run_id = {r:String} GROUP BY k ORDER BY k",
                                       {"r": last[0]}):  # fmt: skip
                rows.add_metric([table], n)
        yield rows
        scheduler = service.scheduler
        failed = 1 if scheduler and scheduler.last and scheduler.last.error else 0
        yield GaugeMetricFamily("lineage_retention_schedule_failed", "1 when the last scheduled run failed",
                                value=failed)  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        requests = Register(store).all()
        yield GaugeMetricFamily("lineage_requests_open", "Data-subject requests not yet answered",
                                value=sum(not r.closed for r in requests))  # fmt: skip
        yield GaugeMetricFamily("lineage_requests_overdue", "Data-subject requests past their deadline",
                                value=sum(r.overdue(now) for r in requests))  # fmt: skip


def install(service: Service) -> None:
    service.registry.register(_ServiceCollector(service))


def exposition(service: Service) -> tuple[bytes, str]:
    return generate_latest(service.registry), CONTENT_TYPE_LATEST
