"""What the service runs beside its HTTP server: the tagging consumer and the retention schedule.

One process owns the store; these threads and the HTTP handlers share its one
connection (the store serialises calls). The consumer runs until the service
stops; when its broker or store stays away past the consumer's bound, it is
started again after a pause rather than taking the service down, and
``/readyz`` says it is not ready meanwhile.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram

from consumers.pipeline.batch import PartitionBatch
from consumers.pipeline.consumer import TaggingConsumer
from consumers.pipeline.stats import ConsumeStats
from lineage.service.schedule import DailyAt, Scheduler
from lineage.service.tokens import Role, TokenBook
from lineage.settings import Settings
from lineage.wiring import Parts

log = logging.getLogger(__name__)
RESTART_PAUSE_SECONDS = 10.0
# Runs `lineage <argv>` on the given parts at the given terminal width: exit code, stdout, stderr.
Commands = Callable[[Parts, list[str], int], tuple[int, str, str]]


@dataclass
class ConsumerState:
    """What the consumer thread reports, read by the metrics and the status calls."""

    state: str = "starting"  # starting, consuming, waiting (for broker or store), stopped
    detail: str = ""
    assigned: list[tuple[str, int]] = field(default_factory=list)
    stored: int = 0
    consumed: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    restarts: int = 0


class Service:
    def __init__(self, settings: Settings, consume: bool = True, commands: Commands | None = None) -> None:
        """``commands`` runs a CLI command on given parts (the CLI's own runner; ``cli_api``)."""
        self.settings = settings
        self.parts = Parts(settings)
        self.parts.check_consumer_configuration()
        self.parts.store  # noqa: B018 - opened now: a store held elsewhere is told before anything listens
        self.tokens = TokenBook(settings.tokens_path)
        # The token of the CLI on this machine: written to a file only the home folder's owner reads.
        self.local_token = "lin_local_" + secrets.token_urlsafe(32)
        self.consumer_state = ConsumerState()
        self.registry = CollectorRegistry()
        self.flush_latency = Histogram(
            "lineage_flush_latency_seconds", "From the first message of a flush being read to its rows stored",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60), registry=self.registry)  # fmt: skip
        self._consume = consume
        self._stopping = threading.Event()
        self._consumer: TaggingConsumer | None = None
        self._consumer_lock = threading.Lock()
        self._thread = threading.Thread(target=self._consume_loop, name="tagging-consumer", daemon=True)
        self._totals = ConsumeStats()  # of runs before the current one
        self.commands = commands
        schedule = DailyAt.parse(settings.retention_schedule)
        self.scheduler = Scheduler(schedule, self._scheduled_retention) if schedule else None
        self._sealing = threading.Thread(target=self._seal_loop, name="audit-seal", daemon=True)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._consume:
            self._thread.start()
        else:
            self.consumer_state.state = "off"
        if self.scheduler:
            self.scheduler.start()
        self._sealing.start()

    def stop(self, timeout: float = 8.0) -> None:
        """Stop fetching, flush, commit; then the schedule; the store is closed by ``close``."""
        self._stopping.set()
        with self._consumer_lock:
            if self._consumer is not None:
                self._consumer.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.scheduler:
            self.scheduler.stop(timeout=1.0)
        if self._sealing.is_alive():
            self._sealing.join(timeout)
        self.seal()  # what the last calls wrote
        if "lineage_events" in self.parts.__dict__:  # the consumer's last events, sent before the process ends
            self.parts.lineage_events.runs.flush()

    def close(self) -> None:
        if "store" in self.parts.__dict__:
            self.parts.store.close()

    # --- the consumer ---------------------------------------------------------------------

    def _consume_loop(self) -> None:
        state = self.consumer_state
        while not self._stopping.is_set():
            try:
                bootstrap = self.parts.bootstrap()
                self.parts.prepare_topics(bootstrap)
                consumer = self.parts.consumer(bootstrap, after_store=self._flushed, report=self._report)
                with self._consumer_lock:
                    self._consumer = consumer
                    if self._stopping.is_set():
                        consumer.stop()
                state.state, state.detail = "consuming", ""
                # One run of the job per consumer started: a restart after a fault is a new run.
                with self.parts.lineage_events.consumer(wait=False) as run:

                    def progress(stats: ConsumeStats, consumer: TaggingConsumer = consumer) -> None:
                        self._progress(consumer, stats)
                        run.progress(stats)

                    stats = consumer.run(on_progress=progress)
                    run.done(stats)
                self._add(stats)
                state.assigned = []
            except Exception as exc:  # a part stayed down past its bound: said, waited for, started again
                state.state, state.detail, state.assigned = "waiting", f"{type(exc).__name__}: {exc}", []
                state.restarts += 1
                log.error("the consumer stopped (%s); starting it again in %.0f s", state.detail, RESTART_PAUSE_SECONDS)
                if self._consumer is not None:
                    self._add(self._consumer.stats)
                self._stopping.wait(RESTART_PAUSE_SECONDS)
            finally:
                with self._consumer_lock:
                    self._consumer = None
        state.state = "stopped"

    def _add(self, stats: ConsumeStats) -> None:
        t = self._totals
        t.consumed, t.stored = t.consumed + stats.consumed, t.stored + stats.stored
        t.dead_lettered.update(stats.dead_lettered)
        t.suppressed.update(stats.suppressed)
        self._publish(ConsumeStats())

    def _progress(self, consumer: TaggingConsumer, stats: ConsumeStats) -> None:
        # Called in the consumer's own thread, where its Kafka client may be asked.
        self.consumer_state.assigned = sorted((tp.topic, tp.partition) for tp in consumer.consumer.assignment())
        self._publish(stats)

    def _publish(self, current: ConsumeStats) -> None:
        state, t = self.consumer_state, self._totals
        state.consumed, state.stored = t.consumed + current.consumed, t.stored + current.stored
        state.dead_lettered = t.dead_lettered + current.dead_lettered
        state.suppressed = t.suppressed + current.suppressed

    def _flushed(self, batches: list[PartitionBatch]) -> None:
        # From the first message of a flush being read to its rows being in the store.
        oldest = min(b.started for b in batches)
        self.flush_latency.observe(time.monotonic() - oldest)

    def _report(self, message: str) -> None:
        self.consumer_state.detail = message
        log.warning("consumer: %s", message)

    # --- readiness --------------------------------------------------------------------------

    def broker_reachable(self, timeout: float = 2.0) -> tuple[bool, str]:
        try:
            bootstrap = self.parts.bootstrap()
        except Exception as exc:
            return False, str(exc)
        host, _, port = bootstrap.split(",")[0].rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return True, bootstrap
        except OSError as exc:
            return False, f"{bootstrap}: {exc.strerror or exc}"

    def store_open(self) -> tuple[bool, str]:
        try:
            self.parts.store.scalar("SELECT 1")
            return True, self.parts.settings.clickhouse_database
        except Exception as exc:
            return False, str(exc)

    # --- the audit chain ---------------------------------------------------------------------

    def _seal_loop(self) -> None:
        """Seal at the interval: the API's calls write audit rows (the CLI's commands seal at their end)."""
        while not self._stopping.wait(self.settings.audit_seal_seconds):
            self.seal()

    def seal(self) -> None:
        """Seal the audit chains if rows were appended since the last seal."""
        try:
            self.parts.sealer.seal()
        except Exception as exc:  # a key, a folder, the store: logged, and sealed at the next call or interval
            log.error("the audit chain was not sealed: %s", exc)

    # --- retention -------------------------------------------------------------------------

    def _scheduled_retention(self) -> tuple[str, dict[str, int]]:
        with self.parts.lineage_events.retention(wait=False) as run:
            report = self.parts.retention_run("retention-schedule").execute()
            run.done(report)
        totals: Counter[str] = Counter()
        for step in report.steps:
            totals.update(step.rows)
        return report.run_id, dict(totals)

    def role_of_local(self, presented: str) -> Role | None:
        return Role.local if secrets.compare_digest(presented.encode(), self.local_token.encode()) else None
