"""Verification: every chain recomputed row by row, against the signed checkpoints.

A row is checked three ways: its content against its own hash (a changed field), its
link against the row before it (a row changed with its hash recomputed), and, where a
checkpoint sealed its place, against the checkpoint (a chain rewritten from there on).
A missing row is a finding unless it went lawfully: listed by an erasure (with its
hash, so the chain still links), or past its term, which the row after the gap tells
(``chain_prior_at``). Rows a checkpoint sealed that the store no longer holds, the
newest included, are found the same way.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consumers.audit.canonical import GENESIS, content, digest, record
from consumers.audit.chains import CHAINS, removed_rows
from consumers.audit.checkpoints import Checkpoint, fingerprint
from consumers.audit.trail import AuditTrail, Head
from consumers.policy.terms import Term
from consumers.store.store import Store
from schemas.values import as_utc

Progress = Callable[[str, int, int], None]  # chain, rows done, rows in the chain


@dataclass(frozen=True)
class Finding:
    table: str
    row: str  # which row: its place and what names it, or a checkpoint
    what: str  # what differs

    def line(self) -> str:
        return f"{self.table} {self.row}: {self.what}"


@dataclass
class Verification:
    rows: int = 0
    chains: int = 0
    checkpoints: int = 0
    up_to: dt.datetime | None = None  # when the newest valid checkpoint was sealed
    key: str = ""
    findings: list[Finding] = field(default_factory=list)
    unsealed: dict[str, int] = field(default_factory=dict)  # rows after the newest checkpoint
    expired: dict[str, int] = field(default_factory=dict)  # rows gone at the end of their term
    erased: dict[str, int] = field(default_factory=dict)  # rows an erasure removed, as it recorded
    unchained: dict[str, int] = field(default_factory=dict)  # rows written before the chain existed
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Walk:
    """Where the walk of one chain is."""

    expected: int  # the place the next row should have
    prev: str | None  # the hash the next row should link to (None: not known, after --from)
    last_seq: int = 0


def _iso(v: dt.datetime) -> str:
    return as_utc(v).isoformat(timespec="seconds").replace("+00:00", "Z")


class Verifier:
    def __init__(self, store: Store, terms: Mapping[str, Term], key: Ed25519PublicKey,
                 checkpoints: list[Checkpoint], now: dt.datetime | None = None, page: int = 100_000) -> None:  # fmt: skip
        """``terms``: table -> the term after which the TTL removes a row (from the row's own date)."""
        self.store = store
        self.terms = terms
        self.key = key
        self.checkpoints = checkpoints
        self.now = now or dt.datetime.now(dt.UTC)
        self.page = page
        self.trail = AuditTrail.of(store)

    def run(self, since: dt.datetime | None = None, progress: Progress | None = None,
            problems: list[str] = ()) -> Verification:  # fmt: skip
        started = time.monotonic()
        result = Verification(key=fingerprint(self.key))
        result.findings += [Finding("checkpoint", "file", p) for p in problems]
        valid = self._checkpoints(result)
        removed = removed_rows(self.store)
        for table in CHAINS:
            self._chain(table, valid, removed, since, result, progress)
        result.chains = len(CHAINS)
        result.seconds = time.monotonic() - started
        return result

    # --- checkpoints -------------------------------------------------------------------

    def _checkpoints(self, result: Verification) -> list[Checkpoint]:
        valid: list[Checkpoint] = []
        for cp in self.checkpoints:
            if not cp.signed_by(self.key):
                result.findings.append(Finding("checkpoint", str(cp.number), "bad signature: not signed by key "
                                               f"{result.key}, or changed since it was signed"))  # fmt: skip
                continue
            if not valid and cp.number != 1:
                result.findings.append(Finding("checkpoint", str(cp.number), f"checkpoints 1 to {cp.number - 1} are "
                                               "missing"))  # fmt: skip
            elif valid and cp.number != valid[-1].number + 1:
                result.findings.append(Finding("checkpoint", str(cp.number), f"checkpoints {valid[-1].number + 1} to "
                                               f"{cp.number - 1} are missing"))  # fmt: skip
            elif valid and cp.body.get("previous") != valid[-1].digest():
                result.findings.append(Finding("checkpoint", str(cp.number), f"does not link to checkpoint "
                                               f"{valid[-1].number} (a checkpoint was replaced)"))  # fmt: skip
            valid.append(cp)
        result.checkpoints = len(valid)
        result.up_to = valid[-1].sealed_at if valid else None
        return valid

    # --- one chain ---------------------------------------------------------------------

    def _chain(self, table: str, checkpoints: list[Checkpoint], removed: dict[tuple[str, int], tuple[str, str]],
               since: dt.datetime | None, result: Verification, progress: Progress | None) -> None:  # fmt: skip
        chain = CHAINS[table]
        pins: dict[int, tuple[Head, int]] = {}
        for cp in checkpoints:
            if (head := cp.head(table)) is not None and head.seq:
                pins[head.seq] = (head, cp.number)
        last, total, unchained = self.store.rows(
            f"SELECT max(chain_seq), countIf(chain_seq > 0), countIf(chain_seq = 0) FROM {table}")[0]  # fmt: skip
        if unchained:
            result.unchained[table] = int(unchained)
        walk = _Walk(1, GENESIS)
        if since is not None:
            begin = self.store.scalar(f"SELECT minIf(chain_seq, chain_seq > 0) FROM {table} WHERE {chain.date} >="
                                      " {s:DateTime64(6, 'UTC')}", {"s": since})  # fmt: skip
            if not begin:
                begin = int(last) + 1
            walk = _Walk(int(begin), None)
            pins = {s: p for s, p in pins.items() if s >= begin}
        kinds = self.trail.columns(table)
        done = 0
        for fields, seq, prev, prior_at, stored in self.trail.stored_rows(table, walk.expected, int(last), self.page):
            if seq == walk.last_seq:
                self._find(result, table, chain.key, seq, fields, "a second row at the same place (a row was copied "
                           "or inserted)")  # fmt: skip
                continue
            if seq > walk.expected:
                self._gap(table, walk, seq - 1, prev, as_utc(prior_at), removed, result)
            hashed = digest(record(table, seq, prev, prior_at, content(kinds, fields)))
            if hashed != stored:
                self._find(result, table, chain.key, seq, fields, "its content does not match its hash: a field was "
                           "changed after it was written")  # fmt: skip
            elif walk.prev is not None and prev != walk.prev:
                self._find(result, table, chain.key, seq, fields, f"its link to row {seq - 1} does not match: the row "
                           "before it was changed or replaced")  # fmt: skip
            elif seq in pins and pins[seq][0].hash != hashed:
                self._find(result, table, chain.key, seq, fields, f"checkpoint {pins[seq][1]} sealed this place with "
                           f"another hash: the chain was rewritten from here or before")  # fmt: skip
            # The next row links to what this one claims: one changed row is one finding, not two.
            walk.prev, walk.expected, walk.last_seq = stored, seq + 1, seq
            done += 1
            if progress and done % 50_000 == 0:
                progress(table, done, int(total))
        result.rows += done
        sealed = max(pins, default=0)
        if sealed >= walk.expected:  # sealed rows after the last one the store holds
            head, number = pins[sealed]
            self._gap(table, walk, sealed, head.hash, head.latest, removed, result, sealed_by=number)
        if sealed < int(last or 0):
            result.unsealed[table] = int(last) - sealed

    def _gap(self, table: str, walk: _Walk, through: int, next_prev: str, prior_at: dt.datetime,
             removed: dict[tuple[str, int], tuple[str, str]], result: Verification, sealed_by: int = 0) -> None:  # fmt: skip
        """Rows walk.expected..through are missing; ``next_prev`` and ``prior_at`` are what the row after them says
        (for a missing end of the chain: the sealed head's hash and latest date)."""
        places = range(walk.expected, through + 1)
        listed = [removed.get((table, s)) for s in places]
        if all(listed):
            links = [walk.prev, *(h for h, _ in listed)]
            if any(p != links[i] for i, (_, p) in enumerate(listed) if links[i] is not None) or \
                    listed[-1][0] != next_prev:  # fmt: skip
                result.findings.append(Finding(table, f"rows {places[0]}-{through}", "removed by an erasure, but the "
                                               "hashes it recorded do not link into the chain"))  # fmt: skip
            result.erased[table] = result.erased.get(table, 0) + len(places)
        elif (term := self.terms.get(table)) is not None and self._past(term, prior_at):
            result.expired[table] = result.expired.get(table, 0) + len(places)
        else:
            span = f"row {through}" if len(places) == 1 else f"rows {places[0]}-{through}"
            why = (f"sealed by checkpoint {sealed_by} but not in the store: the newest rows were deleted" if sealed_by
                   else "missing: deleted, and not by an erasure or at the end of its term")  # fmt: skip
            result.findings.append(Finding(table, span, why))
        walk.prev = next_prev
        walk.expected = through + 1

    def _past(self, term: Term, latest: dt.datetime) -> bool:
        # The TTL reads the date at whole seconds: toDateTime(date) + term.
        return term.after(as_utc(latest).replace(microsecond=0)) <= self.now

    @staticmethod
    def _find(result: Verification, table: str, key: str, seq: int, fields: dict[str, Any], what: str) -> None:
        date = next((v for v in fields.values() if isinstance(v, dt.datetime)), None)
        names = [f"{key} {fields[key]}"] if fields.get(key) else []
        names += [_iso(date)] if date else []
        result.findings.append(Finding(table, f"row {seq}" + (f" ({', '.join(names)})" if names else ""), what))
