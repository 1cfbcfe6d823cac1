"""One run of a job as OpenLineage events: START, RUNNING now and then, and COMPLETE, FAIL or ABORT.

``Runs.run(job, inputs, outputs)`` is a context manager: it sends START as the block begins and
COMPLETE when it ends, FAIL when it raises (ABORT on Ctrl-C), with what the block recorded on the
handle. Building or sending an event never raises into the block: a fault is logged, once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.uuid import generate_new_uuid

from lineage.lineage_events import facets
from lineage.lineage_events.client import Emitter

log = logging.getLogger("lineage.openlineage")

Facets = dict[str, Any]
Datasets = tuple[list[InputDataset], list[OutputDataset]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    streaming: bool = False


@dataclass
class RunHandle:
    """What the block tells its run: counts as they grow, and the outputs' facets at the end."""

    runs: Runs | None
    job: JobSpec
    run_id: str = ""
    inputs: list[InputDataset] = field(default_factory=list)
    outputs: list[OutputDataset] = field(default_factory=list)
    latest: Callable[[], Facets] | None = None  # the run facets so far, built only when an event needs them
    last_running: float = field(default_factory=time.monotonic)

    @property
    def on(self) -> bool:
        return self.runs is not None

    def record(self, run_facets: Callable[[], Facets],
               outputs: Callable[[], list[OutputDataset]] | None = None) -> None:  # fmt: skip
        """What the run has done so far (its run facets), and its outputs as they now are; sent with the end."""
        if self.runs is None:
            return
        self.latest = run_facets
        if outputs is not None:
            built = self.runs.guarded("the outputs", outputs, None)
            if built is not None:
                self.outputs = built

    def running(self, run_facets: Callable[[], Facets]) -> None:
        """Record the counts so far; a RUNNING event with them once the interval has passed since the last."""
        if self.runs is None:
            return
        self.latest = run_facets
        now = time.monotonic()
        if now - self.last_running >= self.runs.running_seconds:
            self.last_running = now
            self.runs.send(self, RunState.RUNNING, self.runs.guarded("the counts", run_facets, {}), datasets=False)


class Runs:
    """Sends the events of runs of the jobs, under one job namespace, through one emitter (or none: off)."""

    def __init__(self, emitter: Emitter | None, namespace: str, running_seconds: float, wait_seconds: float) -> None:
        self.emitter = emitter
        self.namespace = namespace
        self.running_seconds = running_seconds
        self.wait_seconds = wait_seconds
        self._warned: set[str] = set()

    @property
    def on(self) -> bool:
        return self.emitter is not None

    @contextlib.contextmanager
    def run(self, job: JobSpec, datasets: Callable[[], Datasets], wait: bool = True) -> Iterator[RunHandle]:
        """Events of one run of ``job`` around the block; ``wait``: at the end, wait (bounded) until they are sent."""
        if self.emitter is None:
            yield RunHandle(None, job)
            return
        handle = RunHandle(self, job, str(generate_new_uuid()))
        handle.inputs, handle.outputs = self.guarded("the datasets", datasets, ([], []))
        self.send(handle, RunState.START, facets.engine())
        try:
            yield handle
        except BaseException as exc:
            done = self._ended_well(exc)
            stopped = isinstance(exc, KeyboardInterrupt)
            state = RunState.COMPLETE if done else RunState.ABORT if stopped else RunState.FAIL
            extra = {} if done else facets.error(self._cause(exc))
            self.send(handle, state, {**self._latest(handle), **extra})
            self._wait(wait)
            raise
        self.send(handle, RunState.COMPLETE, self._latest(handle))
        self._wait(wait)

    def send(self, handle: RunHandle, state: RunState, run_facets: Facets, datasets: bool = True) -> None:
        if self.emitter is None:
            return
        try:
            event = RunEvent(
                eventType=state,
                eventTime=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                run=Run(runId=handle.run_id, facets=run_facets),
                job=Job(namespace=self.namespace, name=handle.job.name,
                        facets=facets.job(handle.job.description, handle.job.streaming)),
                inputs=handle.inputs if datasets else [],
                outputs=handle.outputs if datasets else [],
                producer=facets.PRODUCER,
            )  # fmt: skip
        except Exception as exc:
            self._warn_once("the event", exc)
            return
        self.emitter.emit(event)

    def guarded(self, what: str, build: Callable[[], Any], default: Any) -> Any:
        """``build()``, or ``default`` when it fails (a store that does not answer): logged once, never raised."""
        try:
            return build()
        except Exception as exc:
            self._warn_once(what, exc)
            return default

    def _latest(self, handle: RunHandle) -> Facets:
        return self.guarded("the counts", handle.latest, {}) if handle.latest else {}

    def flush(self) -> None:
        """Wait, up to the bound, until every event handed over so far is sent (a service stopping)."""
        self._wait(True)

    def _wait(self, wait: bool) -> None:
        if wait and self.emitter is not None:
            self.emitter.flush(self.wait_seconds)  # past the bound the emitter says so, once

    def _warn_once(self, what: str, exc: Exception) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("OpenLineage: cannot build %s (%s: %s); the events go without it", what,
                        type(exc).__name__, exc)  # fmt: skip

    @staticmethod
    def _ended_well(exc: BaseException) -> bool:
        # A command may end itself early with code 0 (typer's Exit, SystemExit): that run went well.
        if isinstance(exc, SystemExit):
            return exc.code in (0, None)
        return getattr(exc, "exit_code", None) == 0

    @staticmethod
    def _cause(exc: BaseException) -> BaseException:
        # A command turns a failure it expects into an exit with a code; the failure is what it exited for.
        if hasattr(exc, "exit_code") or isinstance(exc, SystemExit):
            return exc.__cause__ or exc.__context__ or exc
        return exc
