"""The speed figure: an access export of one person among a million stored events, on the embedded store.

The events table of a fresh database is filled with ClickHouse SQL, as the tagging
consumer would have filled it over a year: 36 tenants, 400 people, the four usage
event types. One person, the target, owns about 3,000 of those events, spread over
the year and mixed in with the rest of their tenant. The export is timed twice:
the first (cold) one right after loading, then a second one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumers.identity.pseudonym import Pseudonymizer
from consumers.policy.loader import load_policy
from consumers.rights.office import RightsOffice
from consumers.store.events import EVENT_COLUMNS, IDENTIFIER_COLUMNS
from consumers.store.store import Store
from consumers.usage.rebuild import recount
from lineage.wiring import open_store

STORED = 1_000_000
PEOPLE = 400
TENANTS = 36
EVERY = 333  # every 333rd stored event is the target's
TARGET_EVENTS = len(range(0, STORED, EVERY))  # 3,004
TARGET = "target@example.nl"
TARGET_TENANT = "t-7"
PSEUDONYMS = Pseudonymizer(b"test-key")
BOUND_SECONDS = 5.0  # generous, for a loaded 2-core runner; the printed figure is what matters

# One row per stored event, as the consumer writes a tagged usage event: the n-th of the
# million occurs n x 31.536 s after 1 November 2025, so they fill one year. The person is
# a hash of n, their tenant follows from the person; "updated" events name a second person,
# the last updater. Rows the target owns keep the same shape. One insert per month: an
# insert that spans the twelve monthly partitions spends most of its time splitting its
# block (the constant arrays are materialised for the same reason: converting a constant
# array to Array(LowCardinality(String)) row by row is slow).
MONTHS = [202511, 202512, *range(202601, 202611)]
FILL_EVENTS = f"""
INSERT INTO events ({", ".join(EVENT_COLUMNS)})
SELECT
    generateUUIDv4(number),
    ['usage.record_completed', 'usage.record_updated', 'usage.transaction_completed',
     'usage.transaction_updated'][number % 4 + 1],
    'usage',
    at,
    if(mine, {{tenant:String}}, concat('t-', toString(person % {TENANTS}))),
    if(number % 2 = 1, [creator, updater], [creator]),
    if(number % 2 = 1, ['creator', 'last_updater'], ['creator']),
    creator,
    arraySlice(['process-designer', 'workflow', 'forms', 'risk-register', 'dashboard'], number % 5 + 1, number % 2 + 1),
    map('record_kind', if(number % 4 < 2, 'record', 'transaction')),
    materialize(['B2']),
    materialize(['product_insight']),
    materialize(['functional.service.improve']),
    materialize(['legitimate_interest']),
    materialize(['user.contact.email', 'user.behavior']),
    'customer',
    materialize(['staff', 'cloud_processors']),
    'customer_data',
    'NL',
    {{version:String}},
    'engage.usage',
    number % 6,
    intDiv(number, 6),
    3,
    'engage-app',
    '1.2.3',
    '0.1.0',
    at + toIntervalSecond(2)
FROM (
    SELECT
        number,
        number % {EVERY} = 0 AS mine,
        intHash32(number) % {PEOPLE} AS person,
        if(mine, {{target:String}}, lower(hex(SHA256(toString(person))))) AS creator,
        lower(hex(SHA256(toString((person + 1) % {PEOPLE})))) AS updater,
        toDateTime64('2025-11-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(number * 31536) AS at
    FROM numbers({STORED})
    WHERE toYYYYMM(at) = {{month:UInt32}}
)
"""

# The direct identifiers: an e-mail, a first and a last name per person.
FILL_IDENTIFIERS = f"""
INSERT INTO identifiers ({", ".join(IDENTIFIER_COLUMNS)})
SELECT
    lower(hex(SHA256(toString(person)))),
    ['email', 'first_name', 'last_name'][field + 1],
    [concat('person', toString(person), '@tenant', toString(person % {TENANTS}), '.example'),
     concat('First', toString(person)), concat('Last', toString(person))][field + 1],
    concat('t-', toString(person % {TENANTS})),
    'usage.record_completed', 'customer_data',
    toDateTime64('2025-11-01 00:00:00', 3, 'UTC') + toIntervalHour(person),
    'engage.usage', 0, number, toDateTime64('2025-11-01 00:00:02', 3, 'UTC')
FROM (SELECT number, number % {PEOPLE} AS person, intDiv(number, {PEOPLE}) AS field FROM numbers({PEOPLE * 3}))
UNION ALL
SELECT {{target:String}}, field, value, {{tenant:String}}, 'usage.record_completed', 'customer_data',
       toDateTime64('2025-11-01 00:00:00', 3, 'UTC'), 'engage.usage', 0, 0,
       toDateTime64('2025-11-01 00:00:02', 3, 'UTC')
FROM (SELECT arrayJoin([('email', {{email:String}}), ('first_name', 'Tess'), ('last_name', 'Target')]) AS pair,
             pair.1 AS field, pair.2 AS value)
"""


@pytest.fixture(scope="module")
def million(store_url: str) -> Iterator[Store]:
    """A database holding a million events, the target's among them; loaded once for the file."""
    store = open_store(store_url, f"test_{uuid.uuid4().hex[:10]}", load_policy())
    params = {"target": PSEUDONYMS.of_email(TARGET), "tenant": TARGET_TENANT, "email": TARGET,
              "version": load_policy().version}  # fmt: skip
    try:
        for month in MONTHS:
            store.command(FILL_EVENTS, {**params, "month": month})
        store.command(FILL_IDENTIFIERS, params)
        yield store
    finally:
        store.drop()


def test_the_store_holds_a_million_events_with_the_target_among_them(million: Store) -> None:
    target = PSEUDONYMS.of_email(TARGET)
    assert million.scalar("SELECT count() FROM events") == STORED
    assert million.scalar("SELECT uniqExact(tenant_id) FROM events") == TENANTS
    assert million.scalar("SELECT uniqExact(arrayJoin(subject_ids)) FROM events") == PEOPLE + 1
    mine = million.rows(
        "SELECT count(), countIf(length(subject_ids) = 2), uniqExact(tenant_id),"
        " dateDiff('day', min(occurred_at), max(occurred_at)) FROM events WHERE has(subject_ids, {s:String})",
        {"s": target},
    )
    # Half of them shared with a co-worker, all in one tenant, over the whole year.
    assert mine == [(TARGET_EVENTS, TARGET_EVENTS // 2, 1, 364)]
    others = "SELECT count() FROM events WHERE tenant_id = {t:String} AND NOT has(subject_ids, {s:String})"
    assert million.scalar(others, {"t": TARGET_TENANT, "s": target}) > 5 * TARGET_EVENTS  # about 27,500


def test_an_access_export_of_thousands_of_events_among_a_million_is_quick(million: Store, tmp_path: Path) -> None:
    """Run with ``pytest -s`` to see the figures; the bound only catches a regression by an order of magnitude."""
    office = RightsOffice(million, load_policy(), PSEUDONYMS, "officer@test", export_base=tmp_path / "exports",
                          recount=recount(million))

    timings = []
    for name in ("first, cold", "second"):
        started = time.perf_counter()
        result = office.export(TARGET, tmp_path / "exports" / name.split(",")[0])
        timings.append(time.perf_counter() - started)
        print(f"\nexport of {result.events:,} events among {STORED:,}: {timings[-1]:.3f} s ({name})", end="")

        assert result.events == TARGET_EVENTS
        assert result.identifiers == 3
        lines = (result.folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == TARGET_EVENTS
        events = [json.loads(line) for line in lines]
        assert {e["tenant_id"] for e in events} == {TARGET_TENANT}
        # The co-workers in shared events are left out: the person sees their own roles only.
        assert all(e["your_roles"] == ["creator"] and "subject_ids" not in e for e in events)
        assert len((result.folder / "events.csv").read_text(encoding="utf-8").splitlines()) == TARGET_EVENTS + 1
        info = json.loads((result.folder / "subject.json").read_text(encoding="utf-8"))
        [purpose] = info["purposes"]
        assert (purpose["purpose"], purpose["events"]) == ("product_insight", TARGET_EVENTS)
        assert purpose["first_event"].startswith("2025-11-01") and purpose["last_event"].startswith("2026-10-31")
        assert result.zip_path.is_file()
    print()

    assert max(timings) < BOUND_SECONDS, f"exports took {timings[0]:.3f} s and {timings[1]:.3f} s"
