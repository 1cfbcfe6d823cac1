"""Where a person's data lives besides the store's tables, and what a deletion report says about each place.

A deletion (an erasure, a retention run) removes rows from the store; the same data
also sits in the raw event topics until their retention deletes it, in the
dead-letter topic, and in access exports already written. A report lists every
place with what was removed, what remains, and until when, so it never says more
than is true. The app builds ``Topics`` from the policy's topic terms.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    place: str  # e.g. "store table events", "raw events topic engage.usage"
    removed: int | None = None  # None: not this step's to remove
    remaining: int | None = None  # None: not counted (a count would mean reading every message)
    until: str = ""  # when what remains goes, and why; "" when nothing remains

    def line(self) -> str:
        said = [f"{self.removed:,} removed" if self.removed is not None else "",
                f"{self.remaining:,} remain" if self.remaining is not None else ""]  # fmt: skip
        text = ", ".join(s for s in said if s) or "nothing removed here"
        return f"{self.place}: {text}" + (f" ({self.until})" if self.until else "")

    def public(self) -> dict:
        return {"place": self.place, "removed": self.removed, "remaining": self.remaining, "until": self.until}


@dataclass(frozen=True)
class Topics:
    """The topics that hold events as they arrived, and how long the broker keeps them."""

    raw: tuple[str, ...]
    raw_retention: dt.timedelta
    dead_letters: str
    dead_letter_retention: dt.timedelta
    segment: dt.timedelta  # a segment is deleted whole, once its newest message is past the retention

    def raw_until(self, newest: dt.datetime) -> dt.datetime:
        """The latest moment a raw message written at ``newest`` is still on the broker."""
        return newest + self.raw_retention + self.segment

    def dead_letters_until(self, newest: dt.datetime) -> dt.datetime:
        return newest + self.dead_letter_retention + self.segment
