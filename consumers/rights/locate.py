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
    ("store table events", "SELECT count() FROM events WHERE has(subject_ids, {s:String})"),
    ("store table identifiers", "SELECT count() FROM identifiers WHERE subject_id = {s:String}"),
    ("store table rectifications", "SELECT count() FROM rectifications WHERE subject_id = {s:String}"),
    ("store table retention_facts",
     "SELECT count() FROM retention_facts WHERE scope_kind = 'subject' AND scope = {s:String}"),
    ("store table subject_controls", "SELECT count() FROM subject_controls WHERE subject_id = {s:String}"),
    ("store table dsr_requests", "SELECT count() FROM dsr_requests FINAL WHERE subject_id = {s:String}"),
    ("store table access_log", "SELECT count() FROM access_log WHERE subject_id = {s:String}"),
    # Each day, tenant and component the person used counts them once among its people.
    ("usage rollups (usage_daily cells counting them)",
     "SELECT uniqExact(toDate(occurred_at, 'Europe/Amsterdam'), tenant_id, arrayJoin(if(empty(components), [''],"
     " components))) FROM events WHERE actor_id = {s:String} AND has(purposes, 'product_insight')"),
)  # fmt: skip
_KEPT_BY_LAW = ("store table subject_controls", "store table dsr_requests", "store table access_log")


class Locator:
    def __init__(self, store: Store, export_base: Path, topics: Topics | None, scan: TopicScan | None) -> None:
        self.store = store
        self.export_base = export_base
        self.topics = topics
        self.scan = scan

    def locate(self, subject_id: str, contact: str) -> list[Place]:
        now = dt.datetime.now(dt.UTC)
        return [*self.in_store(subject_id), *self.in_topics(contact, now),
                Place("access exports in the export folder", None, len(self.exports(subject_id)))]  # fmt: skip

    def in_store(self, subject_id: str) -> list[Place]:
        found = []
        for place, sql in _TABLES:
            n = int(self.store.scalar(sql, {"s": subject_id}) or 0)
            why = "the record of requests and access, kept by law" if place in _KEPT_BY_LAW and n else ""
            found.append(Place(place, None, n, why))
        return found

    def in_topics(self, contact: str, now: dt.datetime) -> list[Place]:
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

    def exports(self, subject_id: str) -> list[Path]:
        """The export folders (each with its zip beside it) written for the person's requests."""
        requests = {r for (r,) in self.store.rows("SELECT DISTINCT request_id FROM dsr_requests WHERE subject_id = "
                                                   "{s:String}", {"s": subject_id})}  # fmt: skip
        found = []
        for manifest in sorted(self.export_base.glob("*/manifest.json")) if self.export_base.is_dir() else []:
            try:
                if json.loads(manifest.read_text(encoding="utf-8")).get("request_id") in requests:
                    found.append(manifest.parent)
            except (OSError, ValueError):
                continue
        return found

    def remove_exports(self, subject_id: str) -> int:
        """Delete the person's exports still in the export folder (copies we hold); how many."""
        gone = self.exports(subject_id)
        for folder in gone:
            shutil.rmtree(folder, ignore_errors=True)
            folder.with_name(f"{folder.name}.zip").unlink(missing_ok=True)
        return len(gone)
