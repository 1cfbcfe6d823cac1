"""What the pipeline must do differently for a person: erased, restricted, or objecting.

The rights office writes controls; the tagging consumer reads them (refreshed
while it runs, so a choice reaches events still arriving) and the product view
filters by them. Whatever is computed from a person's events and must follow
their controls (the usage rollups) is recounted through a ``Recount`` that
``lineage.wiring`` connects: the store does not know who keeps such figures.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from consumers.store.store import Store
from consumers.store.tables import TableSet

# Called with a person's subject id before their controls change or their events are
# erased, it finds what is computed from their events and returns the recount to run
# after the change, which returns how many units (rollup cells) it recounted.
Recount = Callable[[str], Callable[[], int]]


def no_recount(_subject_id: str) -> Callable[[], int]:
    """A Recount for a store where nothing is computed from a person's events."""
    return lambda: 0


# What the pipeline must do differently for a person: erased (a tombstone that
# keeps replays and late events from bringing them back), restricted, or
# objecting to one purpose. One row per (person, kind, purpose); the newest wins.
SUBJECT_CONTROLS = """
CREATE TABLE IF NOT EXISTS subject_controls (
    subject_id   String,
    kind         LowCardinality(String) COMMENT 'erasure, restriction or objection',
    purpose      LowCardinality(String) COMMENT 'the purpose objected to; empty for the other kinds',
    active       UInt8,
    request_id   String,
    reason       String,
    since        DateTime64(3, 'UTC'),
    updated_at   DateTime64(6, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (subject_id, kind, purpose)
"""

TABLES = TableSet("controls", (SUBJECT_CONTROLS,))


class ControlKind(StrEnum):
    erasure = "erasure"
    restriction = "restriction"
    objection = "objection"


@dataclass(frozen=True)
class Control:
    subject_id: str
    kind: ControlKind
    purpose: str
    active: bool
    request_id: str
    reason: str
    since: dt.datetime


@dataclass(frozen=True)
class ControlSet:
    """The active controls, as the consumer applies them."""

    erased: frozenset[str] = frozenset()
    restricted: frozenset[str] = frozenset()
    objections: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def objected(self, subject_ids: list[str]) -> frozenset[str]:
        """The purposes any of these people objected to."""
        if not self.objections:
            return frozenset()
        found: set[str] = set()
        for s in subject_ids:
            found |= self.objections.get(s, frozenset())
        return frozenset(found)


_COLUMNS = ("subject_id", "kind", "purpose", "active", "request_id", "reason", "since", "updated_at")


class Controls:
    """Reads and writes the ``subject_controls`` table; ``recount`` follows each change (see ``Recount``)."""

    def __init__(self, store: Store, recount: Recount) -> None:
        self.store = store
        self.recount = recount

    def set(self, subject_id: str, kind: ControlKind, request_id: str, reason: str, purpose: str = "",
            active: bool = True, at: dt.datetime | None = None) -> None:  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        row = (subject_id, kind.value, purpose, int(active), request_id, reason, at or now, now)
        self.store.append("subject_controls", _COLUMNS, [row])
        # What counts nobody controlled (the usage rollups) is recounted under the new controls.
        self.recount(subject_id)()

    def of_subject(self, subject_id: str) -> list[Control]:
        return [
            Control(s, ControlKind(k), p, bool(a), r, why, since.replace(tzinfo=dt.UTC))
            for s, k, p, a, r, why, since in self.store.rows(
                "SELECT subject_id, kind, purpose, active, request_id, reason, since FROM subject_controls FINAL"
                " WHERE subject_id = {s:String} ORDER BY kind, purpose",
                {"s": subject_id},
            )
        ]

    def active_set(self) -> ControlSet:
        erased: set[str] = set()
        restricted: set[str] = set()
        objections: dict[str, set[str]] = {}
        for s, kind, purpose in self.store.rows(
            "SELECT subject_id, kind, purpose FROM subject_controls FINAL WHERE active"
        ):
            if kind == ControlKind.erasure:
                erased.add(s)
            elif kind == ControlKind.restriction:
                restricted.add(s)
            else:
                objections.setdefault(s, set()).add(purpose)
        return ControlSet(
            frozenset(erased), frozenset(restricted), {s: frozenset(p) for s, p in objections.items()}
        )


class ControlCache:
    """The active controls, re-read at most every ``max_age`` seconds."""

    def __init__(self, controls: Controls, max_age: float = 1.0) -> None:
        self.controls = controls
        self.max_age = max_age
        self._read_at = -float("inf")
        self._current = ControlSet()

    def current(self) -> ControlSet:
        now = time.monotonic()
        if now - self._read_at >= self.max_age:
            self._current = self.controls.active_set()
            self._read_at = now
        return self._current
