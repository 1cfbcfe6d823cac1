"""Why a retention run refuses to start."""

from __future__ import annotations


class RetentionError(Exception):
    """A retention run cannot go ahead as asked."""


class FutureAsOf(RetentionError):
    """A run as of a future moment would delete data before its term has ended; only a dry run may look ahead."""


class AsOfOutOfRange(RetentionError):
    """A moment the retention terms cannot be counted from or to within the store's range of times."""
