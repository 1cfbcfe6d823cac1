"""The service over time: stopped by SIGTERM while it consumes and started again, and its retention schedule."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from retention_scenario import retention_scenario
from service_fixtures import RunningService, store_counts

from lineage.service.schedule import DailyAt
from producers.simulate import simulate
from schemas import models as m

pytestmark = pytest.mark.integration
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_sigterm_during_steady_consumption_then_a_restart_loses_nothing_and_doubles_nothing(kafka_bootstrap, tmp_path):
    svc = RunningService(tmp_path / "home", kafka_bootstrap).start()
    usage = [e for e in simulate(60_000, seed=21, fault_rate=0.0) if isinstance(e, m.UsageActivity)]
    enough = threading.Event()
    sent: list[int] = [0]

    def steady() -> None:  # about 2,000 events a second, through the stop and the restart, until told
        while not enough.is_set() and sent[0] < len(usage):
            svc.produce(usage[sent[0]:sent[0] + 500])
            sent[0] += 500
            time.sleep(0.25)

    producer = threading.Thread(target=steady)
    producer.start()
    try:
        deadline = time.monotonic() + 120
        while svc.consumer()["stored"] < 2_000:
            assert time.monotonic() < deadline, "the service stored nothing for two minutes"
            time.sleep(0.2)
        code, seconds, out = svc.stop()
        assert code == 0 and seconds < 10, (code, seconds, out)
        assert "stopped" in out and "Traceback" not in out and not svc.access_file.exists()
        stopped_at = sent[0]

        svc.start()
        deadline = time.monotonic() + 120
        while svc.consumer()["stored"] < 1_000:  # the new process consumes while events still arrive
            assert time.monotonic() < deadline, "the restarted service stored nothing for two minutes"
            time.sleep(0.2)
        enough.set()
        producer.join(timeout=60)
        assert sent[0] > stopped_at, "events must arrive while the service is stopped and after"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lag = svc.consumer()["lag"]
            if len(lag) == 24 and not any(lag.values()):
                break
            time.sleep(0.5)
        assert len(lag) == 24 and not any(lag.values()), lag
    finally:
        enough.set()
        producer.join(timeout=120)
        code, _, out = svc.stop()
    assert code == 0, out
    stored, doubled = store_counts(svc.home, svc.prefix)
    assert (stored, doubled) == (sent[0], 0)


def test_the_schedule_runs_retention_when_its_time_comes(kafka_bootstrap, tmp_path):
    svc = RunningService(tmp_path / "home", kafka_bootstrap).start()
    events = retention_scenario(dt.datetime.now(dt.UTC))
    svc.produce(events)
    svc.wait_consumed(len(events))
    due = svc.call("/api/retention/plan", "operator").json()
    assert sum(r["events"] for r in due["rules"]) > 0
    code, _, out = svc.stop()
    assert code == 0, out

    at = (dt.datetime.now(AMSTERDAM) + dt.timedelta(seconds=12)).replace(microsecond=0)
    svc.extra["LINEAGE_RETENTION_SCHEDULE"] = f"{at:%H:%M:%S}"
    svc.start()
    try:
        status = svc.call("/api/retention/status", "operator").json()
        assert status["last_run"] is None
        assert dt.datetime.fromisoformat(status["next_scheduled_run"]) == at.astimezone(dt.UTC)
        deadline = time.monotonic() + 90
        while svc.call("/api/retention/status", "operator").json()["last_run"] is None:
            assert time.monotonic() < deadline, "the scheduled run did not come"
            time.sleep(1)
        after = svc.call("/api/retention/status", "operator").json()
        # The next run is the same time tomorrow, Amsterdam time.
        assert dt.datetime.fromisoformat(after["next_scheduled_run"]).astimezone(AMSTERDAM) == at + dt.timedelta(days=1)
        metrics = svc.call("/metrics", "operator").text
        deleted = re.search(r'lineage_retention_last_run_rows\{table="events"\} (\S+)', metrics)
        assert deleted and float(deleted.group(1)) == sum(r["events"] for r in due["rules"])
        assert sum(r["events"] for r in svc.call("/api/retention/plan", "operator").json()["rules"]) == 0
    finally:
        code, _, out = svc.stop()
    assert code == 0, out


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-11-26T01:00:00+00:00", "2026-11-26T02:30:00+00:00"),  # winter: 03:30 Amsterdam is 02:30 UTC
    ("2026-11-26T02:30:00+00:00", "2026-11-27T02:30:00+00:00"),  # at the moment itself: the next day
    ("2026-07-01T12:00:00+00:00", "2026-07-02T01:30:00+00:00"),  # summer: 01:30 UTC
    ("2026-03-28T12:00:00+00:00", "2026-03-29T01:30:00+00:00"),  # the night the clocks go forward
    ("2026-10-24T12:00:00+00:00", "2026-10-25T02:30:00+00:00"),  # the night they go back
])  # fmt: skip
def test_the_daily_time_is_amsterdam_time_across_daylight_saving(now: str, expected: str) -> None:
    schedule = DailyAt(dt.time(3, 30))
    assert schedule.next_after(dt.datetime.fromisoformat(now)) == dt.datetime.fromisoformat(expected)
