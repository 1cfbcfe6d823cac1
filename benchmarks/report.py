"""The benchmark's figures as a Markdown page: one column per volume, and the targets met or not."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

# (label, how to read it from one volume's figures, format)
Row = tuple[str, Callable[[dict[str, Any]], float | None], str]

MB = 1024 * 1024


def _decode_limit(v: dict[str, Any]) -> float:
    """Decoding as the consumer does it: the engine reading containers (bulk path), else fastavro."""
    return (v.get("engine_decode") or v["avro_decode"])["records_per_second"]


def _slowest_limit(v: dict[str, Any]) -> float:
    """The slowest of the consumer's own parts: reading, decoding, inserting (never the producer)."""
    return min(v["kafka_read"]["messages_per_second"], _decode_limit(v), v["store_insert"]["rows_per_second"])


def _engine_rate(v: dict[str, Any]) -> float | None:
    """The Kafka engine's events/s, timed as ours: from the first message read to the last row stored."""
    engine = v.get("kafka_engine")
    return engine["events_per_second_from_first_read"] if engine else None


def _halves(v: dict[str, Any]) -> tuple[list[int], list[int]] | None:
    """RSS samples of the first and the second half of the run, leaving out the first tenth.

    The first tenth is the engine filling its caches and the first parts being made; what
    follows shows whether memory grows with the volume.
    """
    samples = v["pipeline"]["rss_samples"]
    n = v["pipeline"]["consumed"]
    first = [r for c, r in samples if 0.1 * n < c <= 0.55 * n]
    second = [r for c, r in samples if c > 0.55 * n]
    return (first, second) if len(first) >= 2 and len(second) >= 2 else None


def _rss_growth(v: dict[str, Any]) -> float | None:
    """Median RSS of the second half over that of the first: a merge's brief peak does not sway it."""
    halves = _halves(v)
    return statistics.median(halves[1]) / statistics.median(halves[0]) if halves else None


def _rss_peak_growth(v: dict[str, Any]) -> float | None:
    """Highest RSS sample of the second half over that of the first."""
    halves = _halves(v)
    return max(halves[1]) / max(halves[0]) if halves else None


def _query(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda v: v["pipeline"].get("queries", {}).get(name, {}).get("best_ms")


ROWS: list[Row] = [
    ("producing to the broker (events/s)", lambda v: v["produce"]["events_per_second"], "{:,.0f}"),
    ("kafka-python reading, no decoding (messages/s)", lambda v: v["kafka_read"]["messages_per_second"], "{:,.0f}"),
    ("fastavro decoding (records/s)", lambda v: v["avro_decode"]["records_per_second"], "{:,.0f}"),
    ("the engine decoding Avro containers (records/s)", lambda v: v.get("engine_decode", {}).get("records_per_second"),
     "{:,.0f}"),
    ("column inserts of tagged rows (rows/s)", lambda v: v["store_insert"]["rows_per_second"], "{:,.0f}"),
    ("**tagging consumer, topic to queryable (events/s)**", lambda v: v["pipeline"]["events_per_second"], "{:,.0f}"),
    ("consumer / slowest raw limit of its parts", lambda v: v["pipeline"]["events_per_second"] / _slowest_limit(v),
     "{:.1%}"),
    ("ClickHouse Kafka engine, no tagging (events/s)", _engine_rate, "{:,.0f}"),
    ("**consumer / Kafka engine**", lambda v: v["pipeline"]["events_per_second"] / _engine_rate(v), "{:.2f}"),
    ("Kafka engine CPU seconds per million events",
     lambda v: v.get("kafka_engine", {}).get("cpu_seconds_per_million"), "{:,.0f}"),
    ("consumer time (s)", lambda v: v["pipeline"]["busy_seconds"], "{:,.1f}"),
    ("consumer peak RSS (MiB)", lambda v: v["pipeline"]["rss_peak_bytes"] / MB, "{:,.0f}"),
    ("consumer RSS, median of 2nd half / 1st half", _rss_growth, "{:.3f}"),
    ("consumer RSS, highest sample of 2nd half / 1st half", _rss_peak_growth, "{:.3f}"),
    ("consumer CPU seconds per million events", lambda v: v["pipeline"]["cpu_seconds_per_million"], "{:,.0f}"),
    ("store: bytes on disk per event (all tables)", lambda v: v["pipeline"].get("store", {}).get("bytes_per_event"),
     "{:,.1f}"),
    ("store: bytes on disk per event (events table)",
     lambda v: v["pipeline"].get("store", {}).get("events_table_bytes_per_event"), "{:,.1f}"),
    ("Kafka: bytes on disk per event (raw Avro, zstd)",
     lambda v: v["kafka_bytes"] / v["events"] if v.get("kafka_bytes") else None, "{:,.1f}"),
    ("subject-access lookup (ms)", _query("subject_access"), "{:,.1f}"),
    ("usage query, top components from the rollup (ms)", _query("usage_top_components"), "{:,.1f}"),
    ("usage query, top components from raw events (ms)", _query("usage_top_components_raw"), "{:,.1f}"),
    ("retention plan (ms)", _query("retention_plan"), "{:,.1f}"),
]  # fmt: skip


def _cell(fn: Callable[[dict[str, Any]], float | None], fmt: str, v: dict[str, Any]) -> str:
    try:
        value = fn(v)
    except (KeyError, ZeroDivisionError):
        value = None
    return fmt.format(value) if value is not None else "–"


def _growth(volumes: list[dict[str, Any]]) -> list[str]:
    """How the consumer's time and memory grow against the volume, step by step."""
    lines = []
    for a, b in zip(volumes, volumes[1:], strict=False):
        x = b["events"] / a["events"]
        t = b["pipeline"]["busy_seconds"] / a["pipeline"]["busy_seconds"]
        m = b["pipeline"]["rss_peak_bytes"] / a["pipeline"]["rss_peak_bytes"]
        lines.append(f"- {a['events']:,} → {b['events']:,} events (×{x:.0f}): consumer time ×{t:.1f}, "
                     f"peak memory ×{m:.2f}")  # fmt: skip
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target the issue sets, on the largest volume run."""
    largest = results["volumes"][-1]
    p = largest["pipeline"]
    rate = p["events_per_second"]
    out: list[tuple[str, str, bool | None]] = [
        ("end-to-end ≥ 50,000 events/s", f"{rate:,.0f} events/s", rate >= 50_000),
        ("consumer CPU < 25 s per million events", f"{p['cpu_seconds_per_million']:,.1f} s",
         p["cpu_seconds_per_million"] < 25),
    ]  # fmt: skip
    if engine := _engine_rate(largest):
        out.append(("ahead of ClickHouse's Kafka engine (ratio ≥ 1.0)", f"{rate / engine:.2f}", rate >= engine))
    at_5000 = [lat for lat in results.get("latency", []) if lat["rate"] == 5000]
    for lat in at_5000:
        p99 = lat["latency_ms"]["p99"]
        out.append((f"p99 produce-to-queryable < 1 s at {lat['rate']:,.0f} events/s", f"{p99:,.0f} ms", p99 < 1000))
    if store := p.get("store"):
        out.append(("≤ 32.4 bytes on disk per stored event (as before the bulk path, at 1M)",
                    f"{store['bytes_per_event']:.1f} B", store["bytes_per_event"] <= 32.4))  # fmt: skip
    growth = _rss_growth(largest)
    out.append((f"consumer memory flat over {largest['events']:,} events",
                f"median RSS, 2nd half / 1st half = {growth:.3f}" if growth else "–",
                None if growth is None else growth < 1.05))  # fmt: skip
    return out


def markdown(results: dict[str, Any]) -> str:
    volumes = results["volumes"]
    head = "| figure | " + " | ".join(f"{v['events']:,} events" for v in volumes) + " |"
    lines = [
        f"# Pipeline benchmark, {results['started']}",
        "",
        f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}, local broker, embedded store; "
        f"whole run {results.get('seconds', 0) / 60:.1f} min. Producer SDK simulating and encoding: "
        f"{results['sdk_encode']['events_per_second']:,.0f} events/s.",
        "",
        head,
        "|---|" + "---:|" * len(volumes),
        *("| " + label + " | " + " | ".join(_cell(fn, fmt, v) for v in volumes) + " |" for label, fn, fmt in ROWS),
        "",
    ]
    if len(volumes) > 1:
        lines += ["## Growth with volume", "", *_growth(volumes), ""]
    if runs := results.get("latency"):
        lines += ["## Latency at a steady input rate", "",
                  "The producer sending at the rate runs on the same two cores as the broker and the consumer.", "",
                  "| input rate (events/s) | events | p50 ms | p99 ms | max ms | consumer CPU s per 1M |",
                  "|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for lat in runs:
            ms = lat["latency_ms"]
            lines.append(f"| {lat['rate']:,.0f} | {lat['sent']:,} | {ms['p50']:,.0f} | {ms['p99']:,.0f} | "
                         f"{ms['max']:,.0f} | {lat['cpu_seconds_per_million']:,.0f} |")  # fmt: skip
        lines.append("")
    if so := results.get("scale_out"):
        lines += ["## Scale-out", "",
                  f"{so['events']:,} events on {so['partitions']} partitions: one consumer "
                  f"{so['one']['events_per_second']:,.0f} events/s; two in one group "
                  f"{so['two']['events_per_second']:,.0f} events/s together (×{so['speed_up']:.2f}; they took "
                  f"{' and '.join(f'{n:,}' for n in so['two']['consumed'])} events).", ""]  # fmt: skip
    if engine := volumes[-1].get("kafka_engine"):
        lines += ["## Next to ClickHouse's Kafka engine", "",
                  f"The engine read the same topics in a process of its own ({engine['events']:,} rows; "
                  f"{engine['cpu_seconds']:.1f} CPU s). What it does not do, and the consumer does: "
                  + "; ".join(engine["does_not_do"]) + ".", ""]  # fmt: skip
    lines += ["## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for target, measured, met in targets(results):
        lines.append(f"| {target} | {measured} | {'–' if met is None else 'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"
