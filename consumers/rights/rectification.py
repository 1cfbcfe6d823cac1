"""Rectification and completion (Art. 16), keeping the history of each change.

The stored value is replaced wherever it is held, so nothing downstream keeps
using the wrong one; the values replaced are kept in ``rectifications`` with who
changed them, when, and for which request. A field with no stored value is
completed with a new identifier row.
"""

from __future__ import annotations

import datetime as dt

from consumers.store.events import IDENTIFIER_COLUMNS
from consumers.audit.trail import AuditTrail
from consumers.store.store import Store
from schemas.models import EVENT_MODELS, identifier_fields

# The e-mail is the person's key (their subject id is its keyed hash) and free-text
# notes are records of contact, not facts about the person: neither is rectified here.
RECTIFIABLE: tuple[str, ...] = tuple(
    sorted(({f for m in EVENT_MODELS for f in identifier_fields(m)} | {"phone"}) - {"email", "note"})
)
# What a completed value takes from the person's latest event, to live and go with it.
_ANCHOR = ("tenant_id", "retention_rule", "occurred_at", "source_topic", "source_partition", "source_offset")
_COLUMNS = ("subject_id", "field", "old_values", "new_value", "request_id", "operator", "at")


class Rectifier:
    def __init__(self, store: Store) -> None:
        self.store = store

    def apply(self, subject_id: str, changes: dict[str, str], request_id: str, operator: str) -> dict[str, int]:
        """Replace or complete each field; returns field -> how many distinct stored values it replaced."""
        now = dt.datetime.now(dt.UTC)
        done: dict[str, int] = {}
        for field, value in sorted(changes.items()):
            value = value.strip()
            old = [v for (v,) in self.store.rows(
                "SELECT DISTINCT value FROM identifiers WHERE subject_id = {s:String} AND field = {f:String}"
                " ORDER BY value", {"s": subject_id, "f": field})]  # fmt: skip
            if old:
                self.store.command(
                    "ALTER TABLE identifiers UPDATE value = {v:String} WHERE subject_id = {s:String} AND field = {f:String}",
                    {"s": subject_id, "f": field, "v": value},
                    {"mutations_sync": 2},
                )
            else:
                row = dict.fromkeys(IDENTIFIER_COLUMNS, "")
                row.update(subject_id=subject_id, field=field, value=value, event_type="rights.rectification",
                           occurred_at=now, source_partition=0, source_offset=0, ingested_at=now)  # fmt: skip
                row.update(self._anchor(subject_id))
                self.store.append("identifiers", tuple(row), [tuple(row.values())])
            AuditTrail.of(self.store).append("rectifications", _COLUMNS,
                                             [(subject_id, field, old, value, request_id, operator, now)])
            done[field] = len(old)
        return done

    def _anchor(self, subject_id: str) -> dict[str, object]:
        """The person's latest stored event: a completed value lives and goes with it (retention, TTL)."""
        # Only what ties it to the event: its provenance stays "rights.rectification".
        rows = self.store.rows(
            f"SELECT {', '.join(_ANCHOR)} FROM identifiers WHERE subject_id = {{s:String}} AND source_topic != ''"
            " ORDER BY occurred_at DESC LIMIT 1",
            {"s": subject_id},
        )
        if not rows:
            return {}
        return dict(zip(_ANCHOR, rows[0], strict=True))

    def history(self, subject_id: str) -> list[dict[str, object]]:
        return [
            {"field": f, "old_values": list(o), "new_value": n, "request_id": r, "at": at.isoformat()}
            for f, o, n, r, at in self.store.rows(
                "SELECT field, old_values, new_value, request_id, at FROM rectifications WHERE subject_id = {s:String}"
                " ORDER BY at, field",
                {"s": subject_id},
            )
        ]
