"""One partition's batch: rows built column by column, each message keeping its offset.

A batch is the unit of insert, of deduplication token and of offset commit. Its
token is derived from its topic, partition and offset range only, so the same
range rebuilt after a crash carries the same token.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from consumers.tables import DEAD_LETTER_COLUMNS, EVENT_COLUMNS, IDENTIFIER_COLUMNS, SUPPRESSED_COLUMNS


@dataclass(slots=True)
class DeadLetter:
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    reason: str
    detail: str
    schema_id: int
    event_type: str


@dataclass(slots=True)
class Suppression:
    offset: int
    reason: str
    event_type: str


@dataclass
class PartitionBatch:
    topic: str
    partition: int
    first_offset: int
    must_end_at: int | None = None  # set when rebuilding a range recorded before a crash
    last_offset: int = -1
    started: float = field(default_factory=time.monotonic)
    events: list[list[Any]] = field(default_factory=lambda: [[] for _ in EVENT_COLUMNS])
    identifiers: list[list[Any]] = field(default_factory=lambda: [[] for _ in IDENTIFIER_COLUMNS])
    dead_letters: list[DeadLetter] = field(default_factory=list)
    suppressed: list[Suppression] = field(default_factory=list)
    # The messages' create times (ms since the epoch), to measure produce-to-stored lag.
    produced_ms: list[int] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return self.last_offset - self.first_offset + 1 if self.last_offset >= 0 else 0

    @property
    def stored(self) -> int:
        return len(self.events[0])

    @property
    def token(self) -> str:
        return f"{self.topic}/{self.partition}/{self.first_offset}-{self.last_offset}"

    def complete(self) -> bool:
        return self.must_end_at is not None and self.last_offset >= self.must_end_at

    def add_event(self, values: tuple[Any, ...]) -> None:
        for col, v in zip(self.events, values, strict=True):
            col.append(v)

    def add_identifier(self, values: tuple[Any, ...]) -> None:
        for col, v in zip(self.identifiers, values, strict=True):
            col.append(v)

    def dead_letter_columns(self, consumer_version: str, at: dt.datetime) -> list[list[Any]]:
        rows = [
            (self.topic, self.partition, d.offset, d.reason, d.detail, d.schema_id, d.event_type, consumer_version, at)
            for d in self.dead_letters
        ]
        return _columns(rows, len(DEAD_LETTER_COLUMNS))

    def suppressed_columns(self, policy_version: str, at: dt.datetime) -> list[list[Any]]:
        rows = [
            (self.topic, self.partition, s.offset, s.reason, s.event_type, policy_version, at) for s in self.suppressed
        ]
        return _columns(rows, len(SUPPRESSED_COLUMNS))


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
