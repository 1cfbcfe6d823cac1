"""When the parts around the consumer fail: wait where waiting helps, say so once, give up with a typed error.

The store (unreachable, locked, full) and the broker (gone, or not taking dead
letters) fail for a while and come back. The consumer holds its place while they
do: a flush is retried whole under its token, so a retry stores nothing twice.
Each change of state is reported once (``report``), not every attempt; past its
bound the wait ends in ``StoreUnavailable`` or ``BrokerUnavailable``, which the
command turns into one line and an exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kafka.errors import KafkaError

from consumers.store.driver import StoreUnavailable

T = TypeVar("T")
Report = Callable[[str], None]


class BrokerUnavailable(Exception):
    """The Kafka broker did not answer (or did not take the dead letters) within the consumer's bound.

    Nothing is lost: what was not committed is read again after a restart. Check the broker
    (`lineage kafka status`, KAFKA_BOOTSTRAP_SERVERS) and start the consumer again.
    """


class NoPartitions(Exception):
    """The consumer group gave this consumer no partitions within its bound.

    Another member may hold them all (more consumers than partitions), or the group is still
    rebalancing after a member died; try again, or see `kafka-consumer-groups --describe`.
    """


class Waiting:
    """One kind of outage: when it began, and whether it was reported."""

    def __init__(self, what: str, bound_s: float, report: Report) -> None:
        self.what = what
        self.bound_s = bound_s
        self.report = report
        self.since: float | None = None

    def failed(self, why: str) -> None:
        """Note a failed attempt; reported the first time only."""
        if self.since is None:
            self.since = time.monotonic()
            self.report(f"{self.what} is unavailable: {why}; retrying for up to {self.bound_s:.0f} s")

    def recovered(self) -> None:
        if self.since is not None:
            self.report(f"{self.what} is available again after {time.monotonic() - self.since:.1f} s")
            self.since = None

    @property
    def expired(self) -> bool:
        return self.since is not None and time.monotonic() - self.since >= self.bound_s


def retry(call: Callable[[], T], waiting: Waiting, transient: tuple[type[BaseException], ...],
          give_up: Callable[[str], Exception]) -> T:  # fmt: skip
    """Run ``call`` until it succeeds; on a ``transient`` error wait (1 s, doubling to 10 s) up to the bound."""
    pause = 1.0
    while True:
        try:
            result = call()
        except transient as exc:
            why = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            waiting.failed(why)
            if waiting.expired:
                raise give_up(f"{waiting.what} was unavailable for {waiting.bound_s:.0f} s: {why}") from None
            time.sleep(min(pause, max(0.0, waiting.bound_s - (time.monotonic() - (waiting.since or 0)))))
            pause = min(pause * 2, 10.0)
            continue
        waiting.recovered()
        return result


STORE_FAULTS: tuple[type[BaseException], ...] = (StoreUnavailable,)
BROKER_FAULTS: tuple[type[BaseException], ...] = (KafkaError,)
