"""What a consumer's run did: messages consumed, and what became of them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consumers.pipeline.processing import Outcome


@dataclass
class ConsumeStats:
    consumed: int = 0
    stored: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)  # valid, but stopped by a person's choice, or a duplicate
    batches: int = 0
    bulk: int = 0  # events the engine decoded, checked and tagged (the rest went one by one)
    busy_seconds: float = 0.0  # from the first message received to the last batch committed

    def count(self, outcome: Outcome | None) -> None:
        """One message's outcome: stored (None), dead-lettered or suppressed."""
        if outcome is None:
            self.stored += 1
        elif outcome.dead_letter:
            self.dead_lettered[outcome.reason] += 1
        else:
            self.suppressed[outcome.reason] += 1

    @property
    def events_per_second(self) -> float:
        return self.consumed / self.busy_seconds if self.busy_seconds else 0.0
