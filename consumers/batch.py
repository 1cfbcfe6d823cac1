"""Batches: one partition's rows built column by column, and the flush that writes several at once.

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
from itertools import chain
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
    def offset_range(self) -> OffsetRange:
        return OffsetRange(self.topic, self.partition, self.first_offset, self.last_offset)

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


def joined(parts: Sequence[list[list[Any]]], width: int) -> list[list[Any]]:
    """Column-oriented data of several batches as one."""
    if len(parts) == 1:
        return parts[0]
    return [list(chain.from_iterable(p[i] for p in parts)) for i in range(width)]


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
