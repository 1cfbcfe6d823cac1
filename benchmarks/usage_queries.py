"""Times every `lineage usage` question on the embedded store, from the rollups and from the raw events.

    python -m benchmarks.usage_queries [--events 1000000] [--repeat 3] [--json FILE]

Fills a fresh database (in a temporary folder) with product-insight events
straight through SQL, so the materialised views build the rollups exactly as
they do for the consumer's inserts, then asks each question both ways and
prints the best of ``--repeat`` runs. Both ways must give the same answer; the
benchmark stops if they do not.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from consumers.policy.loader import load_policy
from consumers.store.store import Store
from consumers.usage import queries as q
from lineage import wiring
from lineage.settings import Settings

# Shaped like the simulation of `lineage demo`: tenants of about 15 users, each user working in a
# few components, most records created and last updated by the same person, over 60 days.
TENANTS = 200
PER_TENANT = 15
DAYS = 60
COMPONENTS = ("process-designer", "process-portal", "document-management", "workflow", "forms", "risk-register",
              "dashboards", "improvement-register", "audit", "raci-matrix", "compliance", "process-mining")  # fmt: skip

FILL = f"""
INSERT INTO events (event_id, event_type, family, occurred_at, tenant_id, subject_ids, subject_roles, actor_id,
                    components, purposes, legal_bases, retention_rule, policy_version)
SELECT generateUUIDv4(number), 'usage.record_completed', 'usage',
       toDateTime64('2025-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(intHash32(number) % ({DAYS} * 86400)),
       concat('t-', toString(intDiv(person, {PER_TENANT}))),
       [creator, updater], ['creator', 'last_updater'], updater,
       arraySlice({list(COMPONENTS)}, 1 + (person + intHash32(number + 1) % 3) % 10, 1 + number % 2),
       ['product_insight'], ['legitimate_interest'], 'customer_data', 'bench'
FROM (SELECT number, intHash32(number + 7) % ({TENANTS} * {PER_TENANT}) AS person,
             lower(hex(SHA256(toString(person)))) AS creator,
             if(intHash32(number + 3) % 10 < 7, creator,
                lower(hex(SHA256(toString(person - person % {PER_TENANT} + (person + 1) % {PER_TENANT}))))) AS updater
      FROM numbers({{n:UInt64}}))
"""
PLANS = f"""
INSERT INTO events (event_id, event_type, family, occurred_at, tenant_id, attributes, purposes, retention_rule)
SELECT generateUUIDv4(number + 1000000000), 'subscription.started', 'subscription',
       toDateTime64('2025-01-01 00:00:00', 3, 'UTC'), concat('t-', toString(number)),
       map('subscription_type', ['student', 'business', 'trial'][1 + number % 3]), ['conclude_subscription'],
       'customer_data'
FROM numbers({TENANTS})
"""

W = q.Window()
QUESTIONS: dict[str, Callable[..., q.Answer]] = {
    "usage components (top 10)": lambda s, src: q.top_components(s, W, 10, source=src),
    "usage active --by day": lambda s, src: q.active_users(s, q.Period.day, source=src),
    "usage active --by week": lambda s, src: q.active_users(s, q.Period.week, source=src),
    "usage adoption": lambda s, src: q.adoption(s, source=src),
    "usage adoption --tenant t-7": lambda s, src: q.adoption(s, "t-7", source=src),
    "usage plans": lambda s, src: q.by_subscription_type(s, source=src),
    "usage trend workflow --by week": lambda s, src: q.trend(s, "workflow", q.Period.week, source=src),
    "usage subscriptions --by week": lambda s, src: q.subscriptions(s, q.Period.week, source=src),
}


def fill(store: Store, events: int) -> float:
    started = time.perf_counter()
    step = 1_000_000
    for first in range(0, events, step):
        store.command(FILL.replace("numbers({n:UInt64})", f"numbers({first}, {min(step, events - first)})"))
    store.command(PLANS)
    store.command("OPTIMIZE TABLE usage_daily FINAL")
    return time.perf_counter() - started


def object_to_product_insight(store: Store, people: int) -> None:
    from consumers.store.controls import ControlKind

    controls = wiring.controls(store)
    for person in range(0, people * 97, 97):
        subject = store.scalar("SELECT lower(hex(SHA256(toString({p:UInt32}))))", {"p": person % (TENANTS * PER_TENANT)})
        controls.set(subject, ControlKind.objection, f"bench-{person}", "benchmark", purpose="product_insight")


def best(fn: Callable[[], q.Answer], repeat: int) -> tuple[float, q.Answer]:
    times, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = fn()
        times.append(time.perf_counter() - started)
    return min(times), answer  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--objecting", type=int, default=20,
                        help="Then let this many people object to product insight and time the rollup again.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="usage-bench-") as folder:
        store = wiring.open_store(f"chdb://{folder}", "bench", load_policy(Settings().policy_path))
        seconds = fill(store, args.events)
        rollup_rows = int(store.scalar("SELECT count() FROM usage_daily"))
        print(f"{args.events:,} events stored in {seconds:.1f} s; usage_daily holds {rollup_rows:,} rows "
              f"({args.events / max(rollup_rows, 1):.1f} events per row)")
        results = []
        for name, ask in QUESTIONS.items():
            rollup_s, from_rollup = best(lambda: ask(store, q.Source.rollup), args.repeat)
            raw_s, from_raw = best(lambda: ask(store, q.Source.raw), args.repeat)
            if from_rollup != from_raw:
                raise SystemExit(f"{name}: the rollup and the raw events disagree")
            results.append({"question": name, "rollup_ms": rollup_s * 1000, "raw_ms": raw_s * 1000})
        object_to_product_insight(store, args.objecting)
        print(f"{'question':34} {'rollup ms':>10} {'raw ms':>10} {'speed-up':>9}   rollup ms, {args.objecting} objecting")
        for result, (name, ask) in zip(results, QUESTIONS.items(), strict=True):
            controlled_s, from_rollup = best(lambda: ask(store, q.Source.rollup), args.repeat)
            if from_rollup != ask(store, q.Source.raw):
                raise SystemExit(f"{name}: the rollup and the raw events disagree once people object")
            result["rollup_ms_with_objections"] = controlled_s * 1000
            r, w = result["rollup_ms"], result["raw_ms"]
            print(f"{name:34} {r:10.1f} {w:10.1f} {w / r:8.1f}x   {controlled_s * 1000:10.1f}")
        if args.json:
            args.json.write_text(json.dumps({"events": args.events, "rollup_rows": rollup_rows, "queries": results},
                                            indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
