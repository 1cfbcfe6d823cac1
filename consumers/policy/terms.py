"""Retention terms: the policy's ISO 8601 durations, in Python, in ClickHouse SQL and for Kafka.

One parser for all three, so a term means the same in the retention run, in a
table's TTL and on a topic. Months and years are calendar months and years in
both Python (dateutil) and ClickHouse (addMonths): 31 August plus one month is
30 September in both.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta

DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?$")
_DAY_MS = 86_400_000


class InvalidTerm(ValueError):
    """Not a duration of whole years, months and days (e.g. P6M, P7Y, P30D)."""


@dataclass(frozen=True)
class Term:
    years: int = 0
    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> Term:
        m = DURATION.match(text)
        if not m or text == "P":
            raise InvalidTerm(f"{text!r} is not a term like P6M, P7Y or P30D")
        y, mo, d = (int(g or 0) for g in m.groups())
        return cls(y, mo, d)

    def after(self, moment: dt.datetime) -> dt.datetime:
        return moment + relativedelta(years=self.years, months=self.months, days=self.days)

    def before(self, moment: dt.datetime) -> dt.datetime:
        return moment - relativedelta(years=self.years, months=self.months, days=self.days)

    def sql_after(self, expression: str) -> str:
        """ClickHouse SQL for ``expression`` plus this term."""
        parts = [f"toIntervalYear({self.years})" if self.years else "", f"toIntervalMonth({self.months})"
                 if self.months else "", f"toIntervalDay({self.days})" if self.days else ""]  # fmt: skip
        return " + ".join([expression, *[p for p in parts if p]])

    def milliseconds(self) -> int:
        """For Kafka's retention.ms, which counts time, not calendar: only a term in days converts exactly."""
        if self.years or self.months:
            raise InvalidTerm(f"a broker retention is a number of days (e.g. P7D), not {self}")
        return self.days * _DAY_MS

    def __str__(self) -> str:
        text = "P" + "".join(f"{n}{u}" for n, u in ((self.years, "Y"), (self.months, "M"), (self.days, "D")) if n)
        return text if text != "P" else "P0D"

