"""The one rule for the values of logical types: what the store and the exports can hold.

Every reader of the contract applies it alike (``wire.decode``, the pydantic models,
the consumer's reader), so a message is accepted by all of them or refused by all of
them, for the same reason. Times and dates must fall in ClickHouse's ``DateTime64``
range, 1900-01-01 to 2299-12-31 (UTC): a value outside it could not be stored as it
was sent, and one far outside it does not even fit Python's ``datetime``.
"""

from __future__ import annotations

import datetime as dt

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
EPOCH_DAY = dt.date(1970, 1, 1)
EARLIEST_MS = (EARLIEST - EPOCH) // dt.timedelta(milliseconds=1)
LATEST_MS = (LATEST - EPOCH) // dt.timedelta(milliseconds=1)
EARLIEST_DAY = (EARLIEST.date() - EPOCH_DAY).days
LATEST_DAY = (LATEST.date() - EPOCH_DAY).days
OUT_OF_RANGE = "outside what the store can hold (1900-01-01 to 2299-12-31 UTC)"


def as_utc(v: dt.datetime | None) -> dt.datetime | None:
    """A moment given without a zone (a command line's date, a row the driver read) taken as UTC; None stays None."""
    return v.replace(tzinfo=dt.UTC) if v is not None and v.tzinfo is None else v


def millis_to_datetime(ms: int) -> dt.datetime:
    """A timestamp-millis value as an aware UTC datetime; only for values already checked to be in range."""
    return EPOCH + dt.timedelta(milliseconds=ms)


def days_to_date(days: int) -> dt.date:
    """A date value (days since the epoch) as a date; only for values already checked to be in range."""
    return EPOCH_DAY + dt.timedelta(days=days)


def time_in_range(v: dt.datetime) -> dt.datetime:
    """Pydantic's check of a timestamp (after it is truncated to milliseconds in UTC)."""
    if not EARLIEST <= v <= LATEST:
        raise ValueError(OUT_OF_RANGE)
    return v


def day_in_range(v: dt.date) -> dt.date:
    """Pydantic's check of a date."""
    if not EARLIEST.date() <= v <= LATEST.date():
        raise ValueError(OUT_OF_RANGE)
    return v
