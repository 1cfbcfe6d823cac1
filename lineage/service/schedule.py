"""The retention schedule: once a day at a time of day in Europe/Amsterdam, run in a thread of the service.

The time is the privacy statement's clock (Dutch time), so 03:30 stays 03:30 across
daylight saving. The thread wakes at least once a minute and asks the clock again,
so a clock that jumps (a suspended laptop, a test driving it) is followed.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from consumers.policy.local_time import TIME_ZONE

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class DailyAt:
    at: dt.time
    zone: ZoneInfo = ZoneInfo(TIME_ZONE)

    @classmethod
    def parse(cls, text: str) -> DailyAt | None:
        """``HH:MM[:SS]`` in Europe/Amsterdam, or None for 'off'."""
        return None if text.strip().lower() == "off" else cls(dt.time.fromisoformat(text.strip()))

    def next_after(self, now: dt.datetime) -> dt.datetime:
        """The first scheduled moment strictly after ``now`` (an aware datetime), in UTC."""
        local = now.astimezone(self.zone)
        for days in (0, 1, 2):
            candidate = dt.datetime.combine(local.date() + dt.timedelta(days=days), self.at, tzinfo=self.zone)
            # A time skipped by the spring change (02:30) lands an hour on, as the wall clock does.
            moment = candidate.astimezone(dt.UTC)
            if moment > now:
                return moment
        raise AssertionError("unreachable: a day always has the time of day once")


@dataclass
class LastRun:
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    run_id: str = ""
    rows: dict[str, int] | None = None
    error: str = ""


class Scheduler:
    """Runs ``job`` at each moment of ``schedule``; a failing job is logged and tried again at the next moment."""

    def __init__(self, schedule: DailyAt, job: Callable[[], tuple[str, dict[str, int]]], clock: Clock = utc_now,
                 poll_seconds: float = 60.0) -> None:  # fmt: skip
        self.schedule = schedule
        self.job = job
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.next_run = schedule.next_after(clock())
        self.last: LastRun | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention-schedule", daemon=True)

    def start(self) -> None:
        log.info("retention scheduled daily at %s %s; next at %s UTC", self.schedule.at, self.schedule.zone.key,
                 f"{self.next_run:%Y-%m-%d %H:%M:%S}")  # fmt: skip
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = (self.next_run - self.clock()).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, self.poll_seconds))
                continue
            self._run_once()
            self.next_run = self.schedule.next_after(max(self.clock(), self.next_run))

    def _run_once(self) -> None:
        last = LastRun(started_at=self.clock())
        log.info("scheduled retention run starting")
        try:
            last.run_id, last.rows = self.job()
            log.info("scheduled retention run %s done: %s", last.run_id, last.rows)
        except Exception as exc:  # the service goes on; the next day tries again, the metrics show it
            last.error = f"{type(exc).__name__}: {exc}"
            log.exception("scheduled retention run failed")
        last.finished_at = self.clock()
        self.last = last
