"""The chained tables: one chain per audit table, and the columns that link its rows.

Each row carries its place (``chain_seq``), the hash of the row before it
(``chain_prev``), the latest date of every row before it (``chain_prior_at``) and
its own hash (``chain_hash``). ``chain_prior_at`` is what lets rows go at the end
of their term without breaking the chain: a row may be missing when the row after
the gap says every row before it is past its term, and the TTL then removed it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumers.audit.canonical import CHAIN_COLUMNS
from consumers.store.tables import TableSet

if TYPE_CHECKING:
    from consumers.policy.model import Policy
    from consumers.policy.terms import Term
    from consumers.store.store import Store

# Appended to the DDL of every chained table.
CHAIN_DDL = """
    chain_seq       UInt64               COMMENT 'place in its chain (consumers/audit); 0: written before chains',
    chain_prev      String               COMMENT 'SHA-256 of the row before it in its chain',
    chain_prior_at  DateTime64(6, 'UTC') COMMENT 'latest date of any row before it: past its term, all may be gone',
    chain_hash      String               COMMENT 'SHA-256 of its content, place and link'"""

_TYPES = {"chain_seq": "UInt64", "chain_prev": "String", "chain_prior_at": "DateTime64(6, 'UTC')", "chain_hash": "String"}


@dataclass(frozen=True)
class Chain:
    table: str
    date: str  # the row's own date: when it was written, what its TTL reads, what --from and --to select on
    key: str  # what names a row in a finding, besides its place


CHAINS: dict[str, Chain] = {c.table: c for c in (
    Chain("access_log", "at", "action"),
    Chain("dsr_requests", "updated_at", "request_id"),
    Chain("rectifications", "at", "request_id"),
    Chain("erasures", "at", "request_id"),
    Chain("retention_runs", "finished_at", "run_id"),
    Chain("incidents", "updated_at", "incident_id"),
)}  # fmt: skip


def _migrate(store: Store) -> None:
    """A store made before chains: add the chain's columns. A register that kept one row per request
    (replacing older versions on merge, which a chain cannot survive) keeps every version from now on."""
    engines = dict(store.rows("SELECT name, engine FROM system.tables WHERE database = currentDatabase()"))
    for table in CHAINS:
        have = {name for name, _ in store.columns(table)}
        missing = [c for c in CHAIN_COLUMNS if c not in have]
        if not missing:
            continue
        adds = [f"ADD COLUMN {c} {_TYPES[c]}" for c in missing]
        if engines.get(table) == "ReplacingMergeTree" and "chain_seq" in missing:
            key = store.scalar("SELECT sorting_key FROM system.tables WHERE database = currentDatabase()"
                               " AND name = {t:String}", {"t": table})  # fmt: skip
            adds.append(f"MODIFY ORDER BY ({key}, chain_seq)")
        store.command(f"ALTER TABLE {table} {', '.join(adds)}")


# After the rights and retention sets, whose tables it brings up to date.
TABLES = TableSet("audit", (), finish=_migrate)


def terms_of(policy: Policy) -> dict[str, Term]:
    """table -> the term after which its TTL removes a row, counted from the row's own date."""
    return {table: rule.duration for rule in policy.retention_by_ttl().values() for table in rule.applies_to}


def removed_rows(store: Store) -> dict[tuple[str, int], tuple[str, str]]:
    """(chain, place) -> (hash, previous hash) of every audit row an erasure recorded it removes."""
    out = {}
    for (listed,) in store.rows("SELECT removed_rows FROM erasures WHERE stage = 'started'"):
        for r in json.loads(listed or "[]"):
            out[(r["chain"], int(r["seq"]))] = (r["hash"], r["prev"])
    return out
