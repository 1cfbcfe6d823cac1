"""Rebuilding the usage cells of one person: after their controls change, and after an erasure.

A cell's count of distinct people is a hash state that cannot forget one id, so
the cells the person appears in are found in the events and recomputed from them
as they are now: without the person when they are controlled or erased, with
them again when a restriction is lifted. For an erasure the cells are found
before the events forget the person. On a server, an event of the same cells
that a running consumer stores between the delete and the insert may be counted
twice in its cell; the embedded store runs one process at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from consumers.store.controls import Recount
from consumers.store.store import Store
from consumers.usage.rollups import COMPONENTS, DAY, usage_cells_select
from consumers.usage.views import PRODUCT_PURPOSE

_SYNC = {"mutations_sync": 2}
Cell = tuple[dt.date, str, str]  # day, tenant, component


def cells_of(store: Store, subject_id: str) -> list[Cell]:
    """The usage cells that count events about the person."""
    return [tuple(r) for r in store.rows(  # type: ignore[misc]
        f"SELECT DISTINCT {DAY} AS day, tenant_id, component FROM events ARRAY JOIN {COMPONENTS} AS component"
        f" WHERE has(purposes, '{PRODUCT_PURPOSE}') AND has(subject_ids, {{s:String}})", {"s": subject_id})]


def rebuild_cells(store: Store, cells: list[Cell]) -> int:
    """Recompute the cells from the events as they are now; returns how many cells were rebuilt."""
    if not cells:
        return 0
    p = {"days": [c[0] for c in cells], "tenants": [c[1] for c in cells], "components": [c[2] for c in cells]}
    key = "has(arrayZip({days:Array(Date)}, {tenants:Array(String)}, {components:Array(String)}), (day, tenant_id, component))"
    store.command(f"ALTER TABLE usage_daily DELETE WHERE {key}", p, _SYNC)
    store.command(f"INSERT INTO usage_daily {usage_cells_select(key.replace('(day, tenant_id', f'({DAY}, tenant_id'))}", p)
    return len(cells)


def recount(store: Store) -> Recount:
    """The usage rollups' ``Recount``: a person's cells, found before a change, rebuilt after it."""

    def before(subject_id: str) -> Callable[[], int]:
        cells = cells_of(store, subject_id)
        return lambda: rebuild_cells(store, cells)

    return before
