"""Every place a person's traces are held right now, in counts: the store's tables, the usage rollups,
the raw event topics, the dead-letter topic, and access exports written for them.

`lineage sar locate` shows it; an erasure reports what it removed from each place
and what remains where it cannot reach, with until when.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from consumers.rights.topics import TopicScan
from consumers.store.places import Place, Topics
from consumers.store.store import Store

# (place, how to count the person's rows there); {s} is their subject id.
_TABLES = (
    ("store table events", "SELECT count() FROM events WHERE hasAny(subject_ids, {s:Array(String)})"),
    ("store table identifiers", "SELECT count() FROM identifiers WHERE has({s:Array(String)}, subject_id)"),
    ("store table rectifications", "SELECT count() FROM rectifications WHERE has({s:Array(String)}, subject_id)"),
    ("store table retention_facts",
     "SELECT count() FROM retention_facts WHERE scope_kind = 'subject' AND has({s:Array(String)}, scope)"),
    ("store table subject_controls", "SELECT count() FROM subject_controls WHERE has({s:Array(String)}, subject_id)"),
    ("store table dsr_requests", "SELECT uniqExact(request_id) FROM dsr_requests WHERE has({s:Array(String)}, subject_id)"),
    ("store table access_log", "SELECT count() FROM access_log WHERE has({s:Array(String)}, subject_id)"),
    # Each day, tenant and component the person used counts them once among its people.
    ("usage rollups (usage_daily cells counting them)",
     "SELECT uniqExact(toDate(occurred_at, 'Europe/Amsterdam'), tenant_id, arrayJoin(if(empty(components), [''],"
     " components))) FROM events WHERE has({s:Array(String)}, actor_id) AND has(purposes, 'product_insight')"),
)  # fmt: skip
_KEPT_BY_LAW = ("store table subject_controls", "store table dsr_requests", "store table access_log")


class Locator:
    def __init__(self, store: Store, export_base: Path, topics: Topics | None, scan: TopicScan | None) -> None:
        self.store = store
        self.export_base = export_base
        self.topics = topics
        self.scan = scan

    def locate(self, ids: tuple[str, ...], contacts: tuple[str, ...]) -> list[Place]:
        """Every place, for the person's ids (one, or more when an event linked an e-mail and a number)."""
        now = dt.datetime.now(dt.UTC)
        return [*self.in_store(ids), *self.in_topics(contacts, now),
                Place("access exports in the export folder", None, len(self.exports(ids)))]  # fmt: skip

    def in_store(self, ids: tuple[str, ...]) -> list[Place]:
        found = []
        for place, sql in _TABLES:
            n = int(self.store.scalar(sql, {"s": list(ids)}) or 0)
            why = "the record of requests and access, kept by law" if place in _KEPT_BY_LAW and n else ""
            found.append(Place(place, None, n, why))
        return found

    def in_topics(self, contact: str | tuple[str, ...], now: dt.datetime) -> list[Place]:
        """The raw event topics and the dead-letter topic, read whole; unknown without a broker."""
        if self.topics is None:
            return []
        names = (*self.topics.raw, self.topics.dead_letters)
        if self.scan is None:
            return [Place(f"topic {t}", None, None, "not counted: no broker answers") for t in names]
        found = []
        for f in self.scan.count(names, contact):
            dead = f.topic == self.topics.dead_letters
            kind = "dead-letter topic" if dead else "raw events topic"
            until = ""
            if f.messages and f.newest:
                end = self.topics.dead_letters_until(f.newest) if dead else self.topics.raw_until(f.newest)
                until = f"until {max(end, now):%Y-%m-%d} at the latest, topic retention"
            found.append(Place(f"{kind} {f.topic}", None, f.messages, until))
        return found

    def exports(self, ids: tuple[str, ...]) -> list[Path]:
        """The export folders (each with its zip beside it) written for the person's requests."""
        requests = {r for (r,) in self.store.rows("SELECT DISTINCT request_id FROM dsr_requests WHERE "
                                                   "has({s:Array(String)}, subject_id)", {"s": list(ids)})}  # fmt: skip
        found = []
        for manifest in sorted(self.export_base.glob("*/manifest.json")) if self.export_base.is_dir() else []:
            try:
                if json.loads(manifest.read_text(encoding="utf-8")).get("request_id") in requests:
                    found.append(manifest.parent)
            except (OSError, ValueError):
                continue
        return found

    def remove_exports(self, ids: tuple[str, ...]) -> int:
        """Delete the person's exports still in the export folder (copies we hold); how many."""
        gone = self.exports(ids)
        for folder in gone:
            shutil.rmtree(folder, ignore_errors=True)
            folder.with_name(f"{folder.name}.zip").unlink(missing_ok=True)
        return len(gone)
