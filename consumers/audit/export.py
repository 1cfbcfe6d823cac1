"""Audit export: a range of every chain's rows, the checkpoints that seal them and the public key,
with a script that verifies them anywhere Python and the ``cryptography`` package run.

Each chain's rows are those dated within the range, carried on to the first row a
checkpoint sealed (so the last one is vouched for by a signature), each written as
the very record its hash was taken of. Rows an erasure removed within the range are
listed with their hashes, as the erasure recorded them.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from consumers.audit.canonical import content, moment, record
from consumers.audit.chains import CHAINS, removed_rows
from consumers.audit.checkpoints import Checkpoint, fingerprint, load_public_key
from consumers.audit.errors import AuditError
from consumers.audit.trail import AuditTrail
from consumers.policy.terms import Term
from consumers.store.store import Store

STANDALONE = Path(__file__).with_name("standalone.py")
_PAGE = 50_000


@dataclass
class AuditExport:
    folder: Path
    rows: dict[str, int] = field(default_factory=dict)
    unsealed: list[str] = field(default_factory=list)  # chains whose newest exported rows no checkpoint seals yet
    checkpoints: int = 0


def export_audit(store: Store, checkpoints: list[Checkpoint], public_pem: bytes, terms: dict[str, Term],
                 start: dt.datetime, end: dt.datetime, out: Path) -> AuditExport:  # fmt: skip
    if end < start:
        raise AuditError("--to is before --from")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AuditError(f"{out} exists and is not an empty folder")
    key = fingerprint(load_public_key(public_pem, "the public key"))
    (out / "rows").mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    trail = AuditTrail.of(store)
    result = AuditExport(out)
    ranges: dict[str, tuple[int, int]] = {}
    removed = removed_rows(store)
    for table, chain in CHAINS.items():
        p = {"f": start, "t": end}
        lo, hi = store.rows(
            f"SELECT minIf(chain_seq, {chain.date} >= {{f:DateTime64(6, 'UTC')}}),"
            f" maxIf(chain_seq, {chain.date} <= {{t:DateTime64(6, 'UTC')}}) FROM {table} WHERE chain_seq > 0", p)[0]  # fmt: skip
        lo, hi = int(lo or 0), int(hi or 0)
        if not lo or hi < lo:
            result.rows[table] = 0
            continue
        sealed = sorted(h.seq for cp in checkpoints if (h := cp.head(table)) is not None and h.seq >= hi)
        if sealed:
            hi = sealed[0]
        else:
            result.unsealed.append(table)
        ranges[table] = (lo, hi)
        result.rows[table] = _write_rows(trail, table, lo, hi, out / "rows" / f"{table}.jsonl")
        gone = [{"seq": s, "hash": h, "prev": pv} for (t, s), (h, pv) in sorted(removed.items())
                if t == table and lo <= s <= hi]  # fmt: skip
        if gone:
            (out / "rows" / f"{table}.removed.json").write_text(json.dumps(gone, indent=1))
    needed = [cp.number for cp in checkpoints for table, (lo, hi) in ranges.items()
              if (h := cp.head(table)) is not None and lo <= h.seq <= hi]  # fmt: skip
    if needed:
        for cp in checkpoints:
            if min(needed) <= cp.number <= max(needed):
                (out / "checkpoints" / f"{cp.number:08d}.json").write_text(cp.file_text())
                result.checkpoints += 1
    (out / "public_key.pem").write_bytes(public_pem)
    (out / "manifest.json").write_text(json.dumps({
        "exported_at": moment(dt.datetime.now(dt.UTC)), "from": moment(start), "to": moment(end), "key": key,
        "terms": {t: str(term) for t, term in terms.items()},
        "chains": {t: {"first": lo, "last": hi, "rows": result.rows[t]} for t, (lo, hi) in ranges.items()},
    }, indent=1))  # fmt: skip
    shutil.copyfile(STANDALONE, out / "verify_audit.py")
    return result


def _write_rows(trail: AuditTrail, table: str, lo: int, hi: int, path: Path) -> int:
    kinds = trail.columns(table)
    n = 0
    with path.open("w") as f:
        for fields, seq, prev, prior_at, row_hash in trail.stored_rows(table, lo, hi, _PAGE):
            rec = record(table, seq, prev, prior_at, content(kinds, fields))
            f.write(json.dumps({"record": rec, "hash": row_hash}, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n

