"""Appending to the audit chains: each row gets its place, the previous row's hash, and its own.

One trail per open store, shared by every writer in the process (the access log,
the register, rectification, erasure, retention, incidents), so that rows are
numbered one after the other under one lock. The head of a chain is read once
from the store, or from the last checkpoint when that sealed more rows than the
store still holds (the newest rows were deleted): the next row then links to the
sealed head, and the gap shows when the chain is verified.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from consumers.audit.canonical import CHAIN_COLUMNS, GENESIS, Column, content, digest, moment, record
from consumers.audit.chains import CHAINS
from consumers.store.store import Store

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Head:
    seq: int  # 0: an empty chain
    hash: str
    latest: dt.datetime  # the latest date of the rows up to it

    def public(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "latest": moment(self.latest)}


EMPTY = Head(0, GENESIS, EPOCH)


class AuditTrail:
    _trails: ClassVar[weakref.WeakKeyDictionary[Store, AuditTrail]] = weakref.WeakKeyDictionary()
    _trails_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def of(cls, store: Store) -> AuditTrail:
        """The trail of this open store: one per store, whoever asks."""
        with cls._trails_lock:
            trail = cls._trails.get(store)
            if trail is None:
                trail = cls._trails[store] = cls(store)
            return trail

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.RLock()  # one writer or sealer at a time
        self._heads: dict[str, Head] = {}
        self._columns: dict[str, dict[str, Column]] = {}
        self.sealed: Callable[[str], Head | None] = lambda table: None
        self.unsealed = 0  # rows appended since the last checkpoint

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Append rows to the table's chain, in order."""
        if not rows:
            return
        chain = CHAINS[table]
        kinds = self.columns(table)
        with self.lock:
            head = self.head(table)
            out = []
            for row in rows:
                values = {c: kinds[c].normal(v) for c, v in zip(columns, row, strict=True)}
                seq = head.seq + 1
                row_hash = digest(record(table, seq, head.hash, head.latest, content(kinds, values)))
                out.append([*values.values(), seq, head.hash, head.latest, row_hash])
                head = Head(seq, row_hash, max(head.latest, values[chain.date]))
            self.store.append(table, (*columns, *CHAIN_COLUMNS), out)
            self._heads[table] = head
            self.unsealed += len(out)

    def head(self, table: str) -> Head:
        with self.lock:
            if table not in self._heads:
                found = self._stored_head(table)
                sealed = self.sealed(table)
                self._heads[table] = sealed if sealed is not None and sealed.seq > found.seq else found
            return self._heads[table]

    def heads(self) -> dict[str, Head]:
        with self.lock:
            return {table: self.head(table) for table in CHAINS}

    def columns(self, table: str) -> dict[str, Column]:
        """The table's hashed columns (all but the chain's own) and how each is made canonical."""
        if table not in self._columns:
            self._columns[table] = {n: Column(t) for n, t in self.store.columns(table) if n not in CHAIN_COLUMNS}
        return self._columns[table]

    def stored_rows(self, table: str, first: int, last: int,
                    page: int = 100_000) -> Iterator[tuple[dict[str, Any], int, str, dt.datetime, str]]:  # fmt: skip
        """The chain's rows at places ``first`` to ``last``, in order, as stored: (the row's own columns, place,
        previous hash, prior date, hash). Read a page of places at a time: no sort of the whole table at once."""
        names = list(self.columns(table))
        cols = ", ".join([*names, *CHAIN_COLUMNS])
        sql = (f"SELECT {cols} FROM {table} WHERE chain_seq >= {{a:UInt64}} AND chain_seq < {{b:UInt64}}"
               " ORDER BY chain_seq")
        for low in range(first, last + 1, page):
            for row in self.store.rows(sql, {"a": low, "b": min(low + page, last + 1)}):
                seq, prev, prior_at, row_hash = row[len(names):]
                yield dict(zip(names, row, strict=False)), int(seq), prev, prior_at, row_hash

    def _stored_head(self, table: str) -> Head:
        date = CHAINS[table].date
        rows = self.store.rows(
            f"SELECT chain_seq, chain_hash, greatest(chain_prior_at, toDateTime64({date}, 6, 'UTC')) FROM {table}"
            " WHERE chain_seq > 0 ORDER BY chain_seq DESC LIMIT 1"
        )
        if not rows:
            return EMPTY
        seq, row_hash, latest = rows[0]
        return Head(int(seq), row_hash, latest.replace(tzinfo=dt.UTC))
