"""What each erasure removed: a chained record written before it deletes and after.

Before: the audit rows it is about to remove (the person's rectification history),
by chain, place and hash, so that their chain still verifies without them. After:
per place, what was removed and what remains until when. Counts, never the data.
"""

from __future__ import annotations

import datetime as dt
import json

from consumers.audit.trail import AuditTrail
from consumers.store.store import Store

_COLUMNS = ("at", "request_id", "subject_id", "operator", "stage", "removed_rows", "outcome")
# Audit tables whose rows an erasure deletes: rows that name the person's old values.
_ERASED_AUDIT = {"rectifications": "has({s:Array(String)}, subject_id)"}


class ErasureRecord:
    def __init__(self, store: Store, operator: str) -> None:
        self.store = store
        self.operator = operator

    def started(self, request_id: str, subject_id: str, ids: tuple[str, ...]) -> int:
        """Record the audit rows this erasure will remove; returns how many."""
        removed = [
            {"chain": table, "seq": int(seq), "hash": row_hash, "prev": prev}
            for table, where in _ERASED_AUDIT.items()
            for seq, row_hash, prev in self.store.rows(
                f"SELECT chain_seq, chain_hash, chain_prev FROM {table} WHERE {where} AND chain_seq > 0"
                " ORDER BY chain_seq", {"s": list(ids)})  # fmt: skip
        ]
        self._write(request_id, subject_id, "started", json.dumps(removed), "")
        return len(removed)

    def done(self, request_id: str, subject_id: str, outcome: str) -> None:
        self._write(request_id, subject_id, "done", "[]", outcome)

    def _write(self, request_id: str, subject_id: str, stage: str, removed: str, outcome: str) -> None:
        row = (dt.datetime.now(dt.UTC), request_id, subject_id, self.operator, stage, removed, outcome)
        AuditTrail.of(self.store).append("erasures", _COLUMNS, [row])
