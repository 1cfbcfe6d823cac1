"""The pipeline benchmark, run small on the real broker and engine: every figure measured and consistent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def test_the_benchmark_measures_every_figure(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "LINEAGE_HOME": str(tmp_path / "home")}
    # A pool smaller than the second volume: that volume is sent partly as copies with fresh event ids.
    subprocess.run(
        [sys.executable, "-m", "benchmarks.pipeline", "--events", "1500,3000", "--pool", "1500", "--keep", "1500",
         "--latency-rate", "200,400", "--latency-seconds", "3", "--scale-events", "3000", "--out", str(tmp_path)],
        cwd=REPO, env=env, check=True, timeout=900,
    )  # fmt: skip
    result = json.loads(next(tmp_path.glob("pipeline-*.json")).read_text())
    page = next(tmp_path.glob("pipeline-*.md")).read_text()

    assert [v["events"] for v in result["volumes"]] == [1500, 3000]
    for v in result["volumes"]:
        p = v["pipeline"]
        assert p["consumed"] == v["events"]
        assert p["stored"] + p["dead_lettered"] + p["suppressed"] == v["events"]
        assert p["stored_in_clickhouse"] == p["distinct_event_ids"] == p["stored"] > 0.9 * v["events"]
        for rate in (v["produce"]["events_per_second"], v["kafka_read"]["messages_per_second"],
                     v["avro_decode"]["records_per_second"], v["store_insert"]["rows_per_second"],
                     p["events_per_second"], p["cpu_seconds"]):  # fmt: skip
            assert rate > 0
        assert v["kafka_bytes"] > 0
        assert v["engine_decode"]["records_per_second"] > 0
        engine = v["kafka_engine"]  # the yardstick, on the very same topics
        assert engine["events"] == engine["distinct_event_ids"] == v["events"]
        assert engine["events_per_second_from_first_read"] > 0 and engine["cpu_seconds"] > 0 and engine["does_not_do"]
        assert p["rss_peak_bytes"] >= p["rss_before_bytes"] > 0
        assert p["store"]["events"] == p["stored"] and p["store"]["bytes_per_event"] > 0
        assert p["queries"]["subject_access"]["events_found"] > 0
        for q in ("subject_access", "usage_top_components", "retention_plan"):
            assert p["queries"][q]["best_ms"] > 0

    assert [lat["rate"] for lat in result["latency"]] == [200, 400]
    for lat in result["latency"]:
        assert lat["sent"] == lat["consumed"] == lat["latency_ms"]["events"] == lat["rate"] * 3
        assert 0 < lat["latency_ms"]["p50"] <= lat["latency_ms"]["p99"] <= lat["latency_ms"]["max"]

    scale = result["scale_out"]
    assert sum(scale["two"]["consumed"]) == 3000
    assert scale["one"]["events_per_second"] > 0 and scale["two"]["events_per_second"] > 0

    assert "| figure | 1,500 events | 3,000 events |" in page
    assert "## Targets" in page and "| 400 | 1,200 |" in page
    assert "| **consumer / Kafka engine** |" in page and "## Next to ClickHouse's Kafka engine" in page


def test_the_service_benchmark_measures_every_figure(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    subprocess.run(
        [sys.executable, "-m", "benchmarks.service", "--events", "3000", "--person-events", "150", "--rate", "300",
         "--seconds", "5", "--baseline-seconds", "2", "--out", str(tmp_path)],
        cwd=REPO, env=env, check=True, timeout=600,
    )  # fmt: skip
    result = json.loads(next(tmp_path.glob("service-*.json")).read_text())
    page = next(tmp_path.glob("service-*.md")).read_text()

    catch_up = result["catch_up"]
    assert catch_up["consumed"] == result["expected"] == 3150
    assert catch_up["stored"] + sum(catch_up["dead_lettered"].values()) + sum(catch_up["suppressed"].values()) == 3150
    window = result["window"]
    assert window["sent"] > 0 and window["achieved_rate"] > 0
    for asked in ("export", "usage"):
        assert window[asked]["count"] >= 2 and window[asked]["errors"] == []
        assert 0 < window[asked]["p50_ms"] <= window[asked]["p99_ms"] <= window[asked]["max_ms"]
    assert window["export"]["events"] == [150], "every export finds every event of the person"
    for phase in ("baseline", "window"):
        assert result[phase]["lag"]["errors"] == [] and result[phase]["lag"]["zero_seconds_broker"] is not None
    assert result["service"]["exit_code"] == 0
    assert "access export p50 / p99 / max (ms)" in page and "lag recovery after the window" in page


def test_the_audit_benchmark_run_small_gives_consistent_figures(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.audit", "--rows", "20000", "--batch", "5000",
                           "--seal-every", "10000", "--results", str(tmp_path), "--out", "small"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads((tmp_path / "small.json").read_text())
    assert r["rows"] == 20_000 and r["checkpoints"] == 2
    assert r["append_rows_per_s"] > 0 and r["verify_rows_per_s"] == 20_000 / r["verify_seconds"]
    # The last 30 days of four years hold about 30/1460 of the rows; the export carries them, verified elsewhere.
    assert 300 <= r["verify_recent_rows"] <= 500 and r["export_rows"] == r["verify_recent_rows"]
    assert r["standalone_exit"] == 0
    assert r["standalone_output"].startswith(f"verified {r['export_rows']} rows in 1 chains")
    assert "**" in (tmp_path / "small.md").read_text()
