"""What the audit chain raises."""

from __future__ import annotations


class AuditError(Exception):
    """The audit chain cannot be sealed, verified or exported as asked (a key, a folder, a date)."""


class CheckpointUnreadable(AuditError):
    """A checkpoint file that is not a checkpoint: not JSON, or missing what a checkpoint holds."""
