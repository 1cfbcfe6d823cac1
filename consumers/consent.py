"""Direct-marketing consent on record, as of a position in the topic.

A decision must come out the same when a batch is redelivered and rebuilt, so
consent is looked up as of the message's own offset: only consent events that
came before it in the same partition count. Producers key newsletter events by
person, so all of one person's consent events and mailings share a partition.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

GIVING = frozenset({"newsletter.consent_given"})
ENDING = frozenset({"newsletter.consent_withdrawn", "newsletter.opted_out"})
CONSENT_EVENT_TYPES = GIVING | ENDING

Position = tuple[str, int, int]  # topic, partition, offset


class ConsentLedger:
    def __init__(self) -> None:
        self._entries: dict[str, list[tuple[Position, bool]]] = {}

    def record(self, subject_id: str, event_type: str, position: Position) -> None:
        if event_type not in CONSENT_EVENT_TYPES:
            return
        entry = (position, event_type in GIVING)
        entries = self._entries.setdefault(subject_id, [])
        if entry not in entries:  # a redelivered batch records the same event again
            insort(entries, entry)

    def load(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
        """Rows of (subject_id, event_type, topic, partition, offset), e.g. from the store."""
        for subject_id, event_type, topic, partition, offset in rows:
            self.record(subject_id, event_type, (topic, partition, offset))

    def has_consent(self, subject_id: str, position: Position) -> bool:
        entries = self._entries.get(subject_id)
        if not entries:
            return False
        topic, partition, _ = position
        i = bisect_left(entries, (position, False))
        for pos, granted in reversed(entries[:i]):
            if pos[0] == topic and pos[1] == partition:
                return granted
        return False
