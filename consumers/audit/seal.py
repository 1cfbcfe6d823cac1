"""Sealing: a signed checkpoint of every chain's head, written to the folder and handed to the topic.

Sealed at the end of every command that wrote audit rows, at an interval while the
service runs, and when it stops. The heads come from the trail, which appended the
rows, not from the store: rows deleted from the store before a seal are still sealed,
and their absence shows when the chain is verified.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from consumers.audit.canonical import GENESIS, moment
from consumers.audit.checkpoints import Checkpoint, CheckpointBook, Signer, fingerprint
from consumers.audit.trail import EPOCH, AuditTrail

log = logging.getLogger("lineage.audit")

Publish = Callable[[Checkpoint], None]


class Sealer:
    def __init__(self, trail: AuditTrail, signer: Signer, book: CheckpointBook, publish: Publish | None = None) -> None:
        self.trail = trail
        self.signer = signer
        self.book = book
        self.publish = publish
        trail.sealed = book.sealed_head  # a new process continues each chain from what was sealed

    def seal(self, force: bool = False) -> Checkpoint | None:
        """Seal every chain's head; only when rows were appended since the last seal, unless forced."""
        with self.trail.lock:
            if not force and not self.trail.unsealed:
                return None
            if self.signer.ensure():
                log.warning("created the audit signing key %s", self.signer.key_file)
            latest = self.book.latest()
            body = {
                "number": latest.number + 1 if latest else 1,
                "sealed_at": moment(dt.datetime.now(dt.UTC)),
                "previous": latest.digest() if latest else GENESIS,
                "key": fingerprint(self.signer.public),
                "chains": {table: {"start": self._start(table), "head": head.public()}
                           for table, head in self.trail.heads().items()},
            }  # fmt: skip
            checkpoint = self.signer.sign(body)
            self.book.write(checkpoint)
            self.trail.unsealed = 0
        if self.publish is not None:
            try:
                self.publish(checkpoint)
            except Exception as exc:  # the folder holds it; the topic gets it with the next seal
                log.warning("checkpoint %d not published to the topic: %s", checkpoint.number, exc)
        return checkpoint

    def _start(self, table: str) -> dict[str, object]:
        """Where the chain starts now: its first row in the store, with the link and date before it."""
        rows = self.trail.store.rows(
            f"SELECT chain_seq, chain_prev, chain_prior_at, count() OVER () FROM {table} WHERE chain_seq > 0"
            " ORDER BY chain_seq LIMIT 1"
        )
        if not rows:
            return {"seq": 0, "prev": GENESIS, "prior_at": moment(EPOCH), "rows": 0}
        seq, prev, prior_at, count = rows[0]
        return {"seq": int(seq), "prev": prev, "prior_at": moment(prior_at), "rows": int(count)}

