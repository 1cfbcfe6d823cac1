"""Consent and opt-outs on record, as of a position in the topic.

A decision must come out the same when a batch is redelivered and rebuilt, so
the ledger is read as of the message's own offset: only events that came before
it in the same partition count. Producers key newsletter events by person, so
all of one person's consent events, opt-outs and mailings share a partition.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

GIVING = frozenset({"newsletter.consent_given"})
ENDING = frozenset({"newsletter.consent_withdrawn", "newsletter.opted_out"})
CONSENT_EVENT_TYPES = GIVING | ENDING
# A newsletter subscription after an opt-out starts the mailings again.
RESUBSCRIBING = frozenset({"newsletter.subscribed"})
LEDGER_EVENT_TYPES = CONSENT_EVENT_TYPES | RESUBSCRIBING

Position = tuple[str, int, int]  # topic, partition, offset


class ConsentLedger:
    def __init__(self) -> None:
        self._entries: dict[str, list[tuple[Position, str]]] = {}

    def record(self, subject_id: str, event_type: str, position: Position) -> None:
        if event_type not in LEDGER_EVENT_TYPES:
            return
        entry = (position, event_type)
        entries = self._entries.setdefault(subject_id, [])
        if entry not in entries:  # a redelivered batch records the same event again
            insort(entries, entry)

    def load(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
        """Rows of (subject_id, event_type, topic, partition, offset), e.g. from the store."""
        for subject_id, event_type, topic, partition, offset in rows:
            self.record(subject_id, event_type, (topic, partition, offset))

    def _last(self, subject_id: str, position: Position, among: frozenset[str]) -> str | None:
        """The last event type of ``among`` recorded for the person before ``position``, same partition."""
        entries = self._entries.get(subject_id)
        if not entries:
            return None
        topic, partition, _ = position
        i = bisect_left(entries, (position, ""))
        for pos, event_type in reversed(entries[:i]):
            if pos[0] == topic and pos[1] == partition and event_type in among:
                return event_type
        return None

    def has_consent(self, subject_id: str, position: Position) -> bool:
        return self._last(subject_id, position, CONSENT_EVENT_TYPES) in GIVING

    def stopped_by(self, subject_id: str, position: Position) -> str | None:
        """The opt-out in force for the person at ``position``, if any (it ends with a new subscription)."""
        last = self._last(subject_id, position, frozenset({"newsletter.opted_out"}) | RESUBSCRIBING)
        return last if last not in RESUBSCRIBING else None
