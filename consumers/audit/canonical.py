"""What of an audit row is hashed, and how: one canonical text per row, the same when written and when read.

A row's content is every column but the chain's own, typed by the table: times in UTC
at the column's precision (the value written is cut to it first, so what is read back
is what was hashed), maps with sorted keys, nothing in between. A column holding its
type's default is left out, so that a column a later version adds (with its default)
leaves the hashes of older rows as they were.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from schemas.values import as_utc

CHAIN_COLUMNS = ("chain_seq", "chain_prev", "chain_prior_at", "chain_hash")
GENESIS = "0" * 64  # the "previous row" of a chain's first row

_DEFAULT = object()
_WRAPPER = re.compile(r"^(LowCardinality|Nullable)\((.*)\)$")
_PRECISION = re.compile(r"^DateTime64\((\d)")


class Column:
    """How one column type is made canonical: ``normal`` for the value written, ``canon`` for the text hashed."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        self.normal, self.canon = _converters(type_name)


def _converters(type_name: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    wrapped = _WRAPPER.match(type_name)
    if wrapped:
        inner_normal, inner_canon = _converters(wrapped.group(2))
        if wrapped.group(1) == "Nullable":
            return (lambda v: None if v is None else inner_normal(v)), (lambda v: _DEFAULT if v is None else inner_canon(v))
        return inner_normal, inner_canon
    if precision := _PRECISION.match(type_name):
        digits = int(precision.group(1))
        return functools.partial(_cut, digits=digits), functools.partial(_moment, digits=digits)
    if type_name.startswith("DateTime"):
        return functools.partial(_cut, digits=0), functools.partial(_moment, digits=0)
    if type_name.startswith(("UInt", "Int")):
        return int, lambda v: int(v) or _DEFAULT
    if type_name.startswith("Array("):
        return list, lambda v: [str(x) for x in v] or _DEFAULT
    if type_name.startswith("Map("):
        return dict, lambda v: {str(k): (int(x) if isinstance(x, int) else str(x)) for k, x in sorted(v.items())} or _DEFAULT
    if type_name == "String":
        return str, lambda v: str(v) or _DEFAULT
    raise ValueError(f"the audit chain cannot hash a column of type {type_name}")


def _cut(v: dt.datetime, digits: int) -> dt.datetime:
    v = v.astimezone(dt.UTC) if v.tzinfo is not None else as_utc(v)
    step = 10 ** (6 - digits)
    return v.replace(microsecond=v.microsecond // step * step)


def _moment(v: dt.datetime, digits: int) -> Any:
    # The hot path of verification: isoformat in C, cut (not rounded) to the column's precision.
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    return v.isoformat(timespec="microseconds")[: 20 + digits if digits else 19] + "Z"


def moment(v: dt.datetime) -> str:
    """A chain time (microseconds, UTC) as hashed and as kept in checkpoints."""
    return _moment(v, 6)


def record(chain: str, seq: int, prev: str, prior_at: dt.datetime, content: Mapping[str, Any]) -> dict[str, Any]:
    """The object a row's hash is taken of: its place in the chain and its content."""
    return {"chain": chain, "seq": seq, "prev": prev, "prior_at": moment(prior_at), "row": dict(content)}


def content(columns: Mapping[str, Column], row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's canonical content: each column's canonical value, defaults left out."""
    out = {}
    for name, value in row.items():
        canon = columns[name].canon(value)
        if canon is not _DEFAULT:
            out[name] = canon
    return out


def text(obj: Any) -> bytes:
    """The one serialisation hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(obj: Any) -> str:
    return hashlib.sha256(text(obj)).hexdigest()
