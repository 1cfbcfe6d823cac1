"""The bulk path stores what the per-message path stores: the same topics, two databases, identical tables.

The per-message path is the reference (``LINEAGE_BULK=false``); the bulk path runs with
every schema in a container however few its messages (``bulk_min_rows=1``). The topics
carry simulated traffic, edge values the engine and Python could read differently, the
hostile corpus, duplicates, and people with an erasure or an objection on record.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from kafka import KafkaProducer
from pipeline_fixtures import TEST_KEY, Pipeline
from test_hostile_ingest import corpus, encode, send_all, usage

from consumers.identity.pseudonym import Pseudonymizer
from consumers.store.controls import ControlKind, Controls, no_recount
from producers.simulate import simulate
from schemas import models as m

pytestmark = pytest.mark.integration
IGNORED = {"ingested_at", "dead_lettered_at", "suppressed_at"}  # when a row was written: differs run to run
TABLES = ("events", "identifiers", "dead_letters", "suppressed_events", "usage_daily")


def _with(event: m.Event, **fields) -> m.Event:
    return event.model_copy(update=fields)


def edge_values() -> list[m.Event]:
    """Good events whose values sit where the engine's reading and Python's could part."""
    base = dt.datetime(2026, 3, 29, 0, 59, 59, 999000, tzinfo=dt.UTC)  # the night the clocks go forward
    out: list[m.Event] = [
        _with(usage(100), created_at=dt.datetime(1900, 1, 1, tzinfo=dt.UTC)),  # the first instant the store holds
        _with(usage(101), created_at=dt.datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)),
        _with(usage(102), created_at=dt.datetime(1969, 12, 31, 23, 59, 59, 1000, tzinfo=dt.UTC)),  # before the epoch
        _with(usage(103), created_at=base, updated_at=base + dt.timedelta(milliseconds=1)),
        usage(104, record_id="Zoë's ‘record’ \u00a0 with\ttabs"),
    ]
    envelope = usage(105).envelope.model_dump()
    out.append(m.UsageActivity(envelope={**envelope, "people": [
        {"role": "creator", "email": "  Ünïcode.Person@Example.NL "}, {"role": "last_updater", "email": "a@b.nl"},
        {"role": "actor", "phone": "+31 6 1234 5678"}]}, record_id="r-105", record_kind="transaction",
        created_at=base, components=[]))  # fmt: skip
    out.append(m.UsageActivity(envelope={**envelope, "event_id": uuid.uuid4(), "tenant_id": None,
                                         "people": []}, record_id="r-106", record_kind="record", created_at=base,
                               components=["a", "a"]))  # fmt: skip
    invoice = {**envelope, "event_id": uuid.uuid4(), "event_type": "invoice.issued",
               "people": [{"role": "contact", "email": "billing@example.nl"}]}  # fmt: skip
    out.append(m.InvoiceEvent(envelope=invoice, invoice_id="i-1", subscription_id="s-1", billing_company="B",
                              amount_cents=-(2**62), currency="EUR", due_date=dt.date(1900, 1, 1)))  # fmt: skip
    return out


def _rows(p: Pipeline, table: str) -> list[tuple]:
    if table == "usage_daily":  # cells merge whenever the engine likes: compare them merged
        return sorted(p.store.rows("SELECT day, tenant_id, component, retention_rule, sum(uses), sum(events),"
                                   " uniqExactMerge(people) FROM usage_daily GROUP BY ALL"))  # fmt: skip
    columns = [c for (c,) in p.store.rows("SELECT name FROM system.columns WHERE database = currentDatabase()"
                                          " AND table = {t:String} ORDER BY position", {"t": table})
               if c not in IGNORED]  # fmt: skip
    select = ", ".join(f"toString({c})" for c in columns)
    return sorted(p.store.rows(f"SELECT {select} FROM {table}"))


def test_the_bulk_path_stores_exactly_what_the_per_message_path_stores(make_pipeline) -> None:
    bulk = make_pipeline(bulk_min_rows=1, topic_partitions=3)
    reference = make_pipeline(bulk=False, topic_prefix=bulk.settings.topic_prefix,
                              dead_letter_topic=bulk.settings.dead_letters, topic_partitions=3)  # fmt: skip
    events = list(simulate(6_000, seed=21, tenants=5, days=20))
    events += edge_values()
    bulk.produce(events)
    bulk.produce(events[:300])  # a producer's retry: the same events again
    goods, bads = corpus()
    send_all(bulk, goods, bads)
    # An upper-case event id: the engine leaves it to Python, which accepts it.
    producer = KafkaProducer(bootstrap_servers=bulk.bootstrap)
    upper = usage(201)
    body = bytearray(encode(upper))
    at = body.find(str(upper.envelope.event_id).encode())
    body[at:at + 36] = str(upper.envelope.event_id).upper().encode()
    producer.send(f"{bulk.settings.topic_prefix}.usage", value=bytes(body)).get(30)
    producer.close()

    # People with controls on record, in both stores: an erasure, and an objection to product insight.
    pseudonyms = Pseudonymizer(TEST_KEY.encode())
    people = sorted({p.email for e in events[:400] for p in e.envelope.people if p.email})
    erased, objecting = pseudonyms.of_email(people[0]), pseudonyms.of_email(people[1])
    for p in (bulk, reference):
        controls = Controls(p.store, no_recount)
        controls.set(erased, ControlKind.erasure, "r-1", "asked")
        controls.set(objecting, ControlKind.objection, "r-2", "asked", purpose="product_insight")

    bulk_stats, reference_stats = bulk.consume(until_idle=3), reference.consume(until_idle=3)

    assert bulk_stats.consumed == reference_stats.consumed
    assert (bulk_stats.stored, dict(bulk_stats.dead_lettered), dict(bulk_stats.suppressed)) == (
        reference_stats.stored, dict(reference_stats.dead_lettered), dict(reference_stats.suppressed))
    for table in TABLES:
        ours, theirs = _rows(bulk, table), _rows(reference, table)
        assert len(ours) == len(theirs), table
        assert ours == theirs, f"{table}: first difference " + next(
            (f"{a} != {b}" for a, b in zip(ours, theirs, strict=True) if a != b), "")
    assert bulk.store.scalar("SELECT count() FROM events WHERE has(subject_ids, {s:String})", {"s": erased}) == 0
    assert bulk_stats.bulk > 5_000 and reference_stats.bulk == 0, f"the engine stored the traffic: {bulk_stats}"
