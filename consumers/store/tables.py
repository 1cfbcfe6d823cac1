"""How each part hands the store its tables: a ``TableSet`` of DDL, migrations and a finishing step.

The store applies the sets it is given, in order, and knows nothing of who owns
them; ``lineage.wiring`` lists every part's set. A set's statements are idempotent
(``IF NOT EXISTS``, ``ADD COLUMN IF NOT EXISTS``), so opening a store made by an
earlier version brings it up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consumers.store.store import Store

# Insert deduplication is off by default on a non-replicated MergeTree: a batch
# redelivered after a crash carries the same deduplication token and is not stored twice.
DEDUP = "SETTINGS non_replicated_deduplication_window = 10000"

# Tables that hold personal data drop a part replaced by a mutation within seconds, not
# the default eight minutes: an erasure is done only when the old files are gone from disk.
PHYSICAL_ERASURE = (
    "old_parts_lifetime = 2, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 2"
)


@dataclass(frozen=True)
class TableSet:
    """The tables one part owns."""

    owner: str
    ddl: tuple[str, ...]
    migrations: tuple[str, ...] = ()  # statements that bring an older store's tables up to date
    # Runs after the statements: a data migration, or views filled from rows already stored.
    finish: Callable[[Store], None] | None = None
