"""Batches: one partition's rows, and the flush that writes several partitions' batches at once.

A partition's batch is an offset range; a flush writes the batches of every
partition that has one in a single insert per table, under one deduplication
token, and commits all their offsets together. The flush's ranges and token are
recorded before its rows, so after a crash exactly those ranges are rebuilt and
written under the same token, and whatever was already stored is not stored twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any


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
    last_offset: int = -1
    started: float = field(default_factory=time.monotonic)
    # Rows as tuples, turned into columns once per flush: one append per row, where appending to
    # every column list cost a Python call per value (6% of the consumer's time).
    events: list[tuple[Any, ...]] = field(default_factory=list)
    identifiers: list[tuple[Any, ...]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    suppressed: list[Suppression] = field(default_factory=list)
    # The messages' create times (ms since the epoch), to measure produce-to-stored lag.
    produced_ms: list[int] = field(default_factory=list)
    # The bulk path's messages: per schema id their framed bodies and offsets, and each message as
    # read (by offset, with its key, value and headers), for the per-message path and dead letters.
    staged: dict[int, list[bytes]] = field(default_factory=dict)
    staged_offsets: dict[int, list[int]] = field(default_factory=dict)
    raw: dict[int, Any] = field(default_factory=dict)
    bulk_rows: int = 0  # staged messages the engine stores (set when the flush is settled)
    _mark: tuple[int, int, int, int] | None = None

    @property
    def messages(self) -> int:
        return self.last_offset - self.first_offset + 1 if self.last_offset >= 0 else 0

    @property
    def stored(self) -> int:
        return len(self.events) + self.bulk_rows

    def rewind(self) -> None:
        """Back to the rows the batch held before its flush was first settled (settling may be repeated)."""
        if self._mark is None:
            self._mark = (len(self.events), len(self.identifiers), len(self.dead_letters), len(self.suppressed))
            return
        e, i, d, s = self._mark
        del self.events[e:], self.identifiers[i:], self.dead_letters[d:], self.suppressed[s:]

    @property
    def offset_range(self) -> OffsetRange:
        return OffsetRange(self.topic, self.partition, self.first_offset, self.last_offset)

    def add_event(self, values: tuple[Any, ...]) -> None:
        self.events.append(values)

    def add_identifier(self, values: tuple[Any, ...]) -> None:
        self.identifiers.append(values)

    def dead_letter_rows(self, consumer_version: str, at: dt.datetime) -> list[tuple[Any, ...]]:
        return [
            (self.topic, self.partition, d.offset, d.reason, d.detail, d.schema_id, d.event_type, consumer_version, at)
            for d in self.dead_letters
        ]

    def suppressed_rows(self, policy_version: str, at: dt.datetime) -> list[tuple[Any, ...]]:
        return [
            (self.topic, self.partition, s.offset, s.reason, s.event_type, policy_version, at) for s in self.suppressed
        ]


@dataclass(frozen=True, slots=True, order=True)
class OffsetRange:
    topic: str
    partition: int
    first_offset: int
    last_offset: int

    @property
    def messages(self) -> int:
        return self.last_offset - self.first_offset + 1

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.first_offset}-{self.last_offset}"


def flush_token(ranges: Sequence[OffsetRange]) -> str:
    """The deduplication token of a flush: its ranges, hashed (a token is kept in every part's log)."""
    if len(ranges) == 1:
        return str(ranges[0])  # also what a store written by a single-range version recorded
    return "flush:" + hashlib.blake2b(";".join(map(str, sorted(ranges))).encode(), digest_size=16).hexdigest()


def columns(parts: Sequence[list[tuple[Any, ...]]], width: int) -> list[list[Any]]:
    """The rows of several batches as one column-oriented block."""
    rows = parts[0] if len(parts) == 1 else list(chain.from_iterable(parts))
    return _columns(rows, width)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
