"""The service benchmark's figures (``benchmarks/service.py``) as a Markdown page, each with how it was measured."""

from __future__ import annotations

from typing import Any


def fmt(v: float | None, digits: int = 0) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def markdown(r: dict[str, Any]) -> str:
    c, b, w, mc = r["catch_up"], r["baseline"], r["window"], r["machine"]
    ex, us, lag = w["export"], w["usage"], w["lag"]

    def dist(d: dict[str, Any]) -> str:
        calls = f"{d['count']} calls, {len(d['errors'])} failed"
        return f"{fmt(d['p50_ms'])} / {fmt(d['p99_ms'])} / {fmt(d['max_ms'])} ({calls})"

    rows = [
        ("messages before the window", f"{r['expected']:,}",
         f"{r['events']:,} simulated events and {r['person_events']:,} of the person, spread evenly among them; "
         f"the service's counts after catching up: {c['stored']:,} stored, {sum(c['dead_lettered'].values()):,} "
         f"dead-lettered, {sum(c['suppressed'].values()):,} suppressed (the simulation has faults and objections)"),
        ("initial catch-up (s)", fmt(c["seconds"], 1),
         "from starting `lineage serve` until /api/consumer showed every message consumed and a total lag of 0 "
         f"(listening after {c['listening_seconds']:.1f} s; all consumed after {c['consumed_seconds']:.1f} s); "
         "asked every 1 s, of an answer the service caches for 2 s"),
        ("catch-up rate (messages/s)", fmt(r["expected"] / c["seconds"]), "messages / initial catch-up"),
        ("input rate achieved (events/s)", fmt(w["achieved_rate"]),
         f"{w['sent']:,} events sent by one producer paced at {w['rate']:,.0f}/s for {w['seconds']:.0f} s, "
         "divided by the seconds until the last was acknowledged"),
        ("access export p50 / p99 / max (ms)", dist(ex),
         "POST /api/subjects/export of the person every 2 s in the window (the next at once if one took longer), "
         "from sending to the answer read, in the benchmark process; p99 is nearest-rank, so under 100 calls it is "
         f"the slowest call. The service's own time for it, p50: {fmt(ex['server_p50_ms'])} ms"),
        ("events in each export", ", ".join(f"{n:,}" for n in ex["events"]),
         f"the export's own count (the distinct values over all calls); {r['person_events']:,} were sent"),
        ("usage query p50 / p99 / max (ms)", dist(us),
         "GET /api/usage/components?limit=10 (from the rollup) every 0.5 s in the window, timed as the export"),
        ("max / mean consumer lag in the window (messages)",
         f"{fmt(lag['max_broker'])} / {fmt(lag['mean_broker'])} (API max {fmt(lag['max_api'])})",
         "the partitions' ends minus the group's committed offsets, summed; asked of the broker every 0.5 s, "
         "and of /api/consumer every 1 s (which caches its answer for 2 s)"),
        (f"lag recovery after the window, to ≤ {lag['threshold']:,.0f} messages (s)",
         f"{fmt(lag['recovery_seconds_broker'], 1)} (API {fmt(lag['recovery_seconds_api'], 1)})",
         "from the window's last event acknowledged (the callers then told to stop) to the first sample at or under "
         "half a second of input"),
        ("lag back to 0 after the window (s)", fmt(lag["zero_seconds_broker"], 1), "as above, broker samples, lag 0"),
        ("callers still busy after the window (s)", fmt(w["callers_done_after_seconds"], 1),
         "from the window's last event acknowledged until the export and usage calls in flight had answered"),
        ("baseline without callers: max / mean lag (messages)",
         f"{fmt(b['lag']['max_broker'])} / {fmt(b['lag']['mean_broker'])}",
         f"the same input rate for {b['seconds']:.0f} s just before the window, nobody calling; broker samples"),
        ("baseline without callers: lag recovery (s)", fmt(b["lag"]["recovery_seconds_broker"], 1), "as in the window"),
        ("consumer flush, mean (s): window / baseline",
         f"{fmt(w['flush_mean_seconds'], 2)} / {fmt(b['flush_mean_seconds'], 2)} "
         f"({w['flushes']:.0f} / {b['flushes']:.0f} flushes)",
         "the service's own histogram lineage_flush_latency_seconds on /metrics (first message of a flush read to its "
         "rows stored), its sum over its count, taken before and after each phase"),
        ("service CPU, window / baseline (cores)", f"{w['service_cores']:.2f} / {b['service_cores']:.2f}",
         "CPU seconds of the `lineage serve` process (/proc) over the phase's seconds"),
        ("service peak memory (MiB)", fmt(r["service"]["rss_peak_bytes"] / 2**20), "VmHWM of the process at the end"),
        ("service stop on SIGTERM (s) / exit code", f"{r['service']['stop_seconds']:.1f} / {r['service']['exit_code']}",
         "SIGTERM to exit; it flushes and commits first"),
    ]  # fmt: skip
    lines = [f"# `lineage serve` under a steady input, {r['expected']:,} messages before the window", "",
             f"{mc['cpus']} CPUs, {mc['memory_gib']:.0f} GiB, Python {mc['python']}, {mc['platform']}; load average "
             f"{mc['load_before']} before, {mc['load_after']} after; {r['broker']}; embedded store; started "
             f"{r['started']}, whole run {r['seconds'] / 60:.1f} min. The producer and the callers run in the "
             "benchmark process, on the same cores as the broker and the service.", "",
             "| figure | value | how it was measured |", "|---|---:|---|",
             *[f"| {a} | {v} | {h} |" for a, v, h in rows]]  # fmt: skip
    problems = ex["errors"] + us["errors"] + lag["errors"] + b["lag"]["errors"]
    return "\n".join(lines + (["", "Failed calls:", "", *[f"- {p}" for p in problems[:20]]] if problems else [])) + "\n"
