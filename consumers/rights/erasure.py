"""Erasure in the store (Art. 17), physically, and proof that it happened.

Rows about the person alone are deleted; rows they share with others lose the
person's id; rows a legal obligation keeps (invoicing, bookkeeping) stay, and
the office restricts them. Mutations rewrite the parts (a lightweight DELETE
would only hide rows until a merge), and the erasure is verified by reading
every active part with the delete mask off and by waiting until the replaced
parts are gone from disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from consumers.policy.model import Policy
from consumers.rights.errors import ErasureNotVerified
from consumers.store.controls import Recount
from consumers.store.events import POSITION
from consumers.store.store import Store

_SYNC = {"mutations_sync": 2}
# The tables an erasure changes, by mutation or by recount: their replaced parts must be gone from disk.
PERSONAL_TABLES = ("events", "identifiers", "rectifications", "retention_facts", "usage_daily")
# An identifier row of an event the person's erasure keeps (binds the positions as ``kept``).
_KEPT = f"{POSITION} IN {{kept:Array(Tuple(String, UInt32, UInt64))}}"
# Retention facts that name the person: when their newsletter or marketing ended. Facts
# about a tenant or a contact id stay: other people's retention depends on them.
_OWN_FACTS = "scope_kind = 'subject' AND scope = {s:String}"


@dataclass(frozen=True)
class StoreErasure:
    events_deleted: int
    events_unlinked: int  # shared with other people: the person's id removed from the row
    events_kept: int  # a legal obligation keeps them, restricted
    identifiers_deleted: int
    identifiers_kept: int
    rectifications_deleted: int
    facts_deleted: int = 0  # when their newsletter ended: the person's retention facts
    rollup_cells: int = 0  # usage cells (day, tenant, component) rebuilt without them


class Eraser:
    def __init__(self, store: Store, policy: Policy, recount: Recount) -> None:
        self.store = store
        self.survivors = policy.surviving_erasure()
        self.recount = recount  # what is computed from the person's events (the usage rollups)

    def kept_events(self, subject_id: str) -> list[tuple[str, int, int]]:
        """The source positions of the person's events that survive erasure (their identifiers stay too)."""
        return [
            (t, int(p), int(o))
            for t, p, o in self.store.rows(
                "SELECT source_topic, source_partition, source_offset FROM events"
                " WHERE has(subject_ids, {s:String}) AND hasAny(purposes, {k:Array(String)})",
                {"s": subject_id, "k": self.survivors},
            )
        ]

    def erase(self, subject_id: str, attempts: int = 5, settle_seconds: float = 1.5) -> StoreErasure:
        """Erase and verify; repeats when a consumer stored a row meanwhile, up to ``attempts`` times."""
        first: StoreErasure | None = None
        for _ in range(attempts):
            before = self.parts(active=True)
            done = self._erase_once(subject_id)
            first = first or done
            if not self.remaining(subject_id):
                self._wait_until_gone(before)
                if not self.remaining(subject_id):
                    return first
            # A consumer that had not yet seen the tombstone stored a row after the mutation.
            time.sleep(settle_seconds)
        raise ErasureNotVerified(f"rows of the person remain after {attempts} attempts: {self.remaining(subject_id)}")

    def _erase_once(self, subject_id: str) -> StoreErasure:
        s, k = subject_id, self.survivors
        p = {"s": s, "k": k}
        mine = "has(subject_ids, {s:String}) AND NOT hasAny(purposes, {k:Array(String)})"
        alone = f"{mine} AND arrayAll(x -> x = {{s:String}} OR x = '', subject_ids)"
        deleted = int(self.store.scalar(f"SELECT count() FROM events WHERE {alone}", p) or 0)
        unlinked = int(self.store.scalar(f"SELECT count() FROM events WHERE {mine}", p) or 0) - deleted
        kept_ids = self.kept_events(s)
        ident = {"s": s, "kept": kept_ids}
        ident_kept = f"subject_id = {{s:String}} AND {_KEPT}"
        ident_gone = f"subject_id = {{s:String}} AND NOT {_KEPT}"
        identifiers_deleted = int(self.store.scalar(f"SELECT count() FROM identifiers WHERE {ident_gone}", ident) or 0)
        identifiers_kept = int(self.store.scalar(f"SELECT count() FROM identifiers WHERE {ident_kept}", ident) or 0)
        rectified = int(self.store.scalar("SELECT count() FROM rectifications WHERE subject_id = {s:String}", p) or 0)
        recount = self.recount(s)  # found before the events forget the person
        facts = int(self.store.scalar(f"SELECT count() FROM retention_facts WHERE {_OWN_FACTS}", p) or 0)

        self.store.command(f"ALTER TABLE events DELETE WHERE {alone}", p, _SYNC)
        self.store.command(
            "ALTER TABLE events UPDATE subject_ids = arrayMap(x -> if(x = {s:String}, '', x), subject_ids),"
            f" actor_id = if(actor_id = {{s:String}}, '', actor_id) WHERE {mine}",
            p,
            _SYNC,
        )
        self.store.command(f"ALTER TABLE identifiers DELETE WHERE {ident_gone}", ident, _SYNC)
        self.store.command("ALTER TABLE rectifications DELETE WHERE subject_id = {s:String}", p, _SYNC)
        self.store.command(f"ALTER TABLE retention_facts DELETE WHERE {_OWN_FACTS}", p, _SYNC)
        rollups = recount()
        return StoreErasure(deleted, unlinked, len(kept_ids), identifiers_deleted, identifiers_kept, rectified, facts,
                            rollups)  # fmt: skip

    def remaining(self, subject_id: str) -> dict[str, int]:
        """Rows of the person that erasure must remove and that any part still holds, masked or not."""
        p = {"s": subject_id, "k": self.survivors, "kept": self.kept_events(subject_id)}
        counts = {
            "events": self.store.scalar(
                "SELECT count() FROM events WHERE has(subject_ids, {s:String}) AND NOT hasAny(purposes, {k:Array(String)})"
                " SETTINGS apply_deleted_mask = 0", p),
            "identifiers": self.store.scalar(
                f"SELECT count() FROM identifiers WHERE subject_id = {{s:String}} AND NOT {_KEPT}"
                " SETTINGS apply_deleted_mask = 0", p),
            "rectifications": self.store.scalar(
                "SELECT count() FROM rectifications WHERE subject_id = {s:String} SETTINGS apply_deleted_mask = 0", p),
            "retention_facts": self.store.scalar(
                f"SELECT count() FROM retention_facts WHERE {_OWN_FACTS} SETTINGS apply_deleted_mask = 0", p),
        }  # fmt: skip
        return {t: int(n) for t, n in counts.items() if n}

    def parts(self, active: bool) -> set[tuple[str, str]]:
        """(table, part) of the personal tables: the active parts, or those replaced but still on disk."""
        return self.store.parts(PERSONAL_TABLES, active)

    def _wait_until_gone(self, before: set[tuple[str, str]], timeout: float = 60.0) -> None:
        if self.store.wait_until_dropped(before, timeout):
            raise ErasureNotVerified(
                f"replaced parts still on disk after {timeout:.0f} s; run the erasure again to finish it"
            )
