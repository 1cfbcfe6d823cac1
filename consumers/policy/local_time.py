"""The time zone the product and its customers work in: days and weeks are days and weeks there.

An event at 23:30 UTC on 31 March belongs to 1 April. The usage rollups count per
day here, and retention's cut-off in a daily rollup falls on a day here too.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

TIME_ZONE = "Europe/Amsterdam"


def today() -> dt.date:
    """Today in the time zone the figures use."""
    return dt.datetime.now(ZoneInfo(TIME_ZONE)).date()
