"""The one seam to clickhouse-connect: a client for a URL, with the compiled codec on inserts.

``chdb://<path>`` opens the real ClickHouse engine in this process; ``http(s)://``
reaches a server. chDB holds one engine per process, so tests isolate by database.
Nothing outside this package touches the driver's client object.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError


class StoreError(Exception):
    """The store cannot be used as configured (a URL of an unknown kind, a bad database name)."""


class StoreUnavailable(StoreError):
    """The store does not answer, or cannot take writes now; waiting may help."""


class StoreLocked(StoreUnavailable):
    """Another process holds the embedded store: chDB opens a folder in one process at a time."""


class StoreFull(StoreUnavailable):
    """The store's disk is full: free space (or grow the volume) and the consumer goes on where it stopped."""


# ClickHouse's codes for a full disk: NOT_ENOUGH_SPACE, CANNOT_WRITE_TO_FILE_DESCRIPTOR, ... and the OS's own words.
_FULL = ("NOT_ENOUGH_SPACE", "No space left on device", "Cannot reserve", "not enough space")
# Folders this process opened the embedded engine on: chDB keeps one engine per process, and the
# lock on its status file is then our own, not another process's.
_OPENED: set[str] = set()


def classify(exc: ClickHouseError, url: str) -> Exception:
    """The store's typed error for a driver exception; an error of the SQL itself is returned as it is."""
    text = str(exc)
    if any(marker in text for marker in _FULL):
        return StoreFull(f"the store's disk is full ({_first_line(text)})")
    if isinstance(exc, OperationalError):
        return StoreUnavailable(f"ClickHouse at {_safe(url)} does not answer ({_first_line(text)})")
    return exc


@contextlib.contextmanager
def typed_faults(url: str) -> Iterator[None]:
    """Turn the driver's errors of an unreachable or full store into the store's typed ones."""
    try:
        yield
    except ClickHouseError as exc:
        found = classify(exc, url)
        if found is exc:
            raise
        raise found from None


def _first_line(text: str) -> str:
    # A refused connection buries its reason in a long retry message: keep the reason.
    if found := re.search(r"\[Errno -?\d+\] [^\"')]+", text):
        return found.group(0).strip()
    return text.strip().splitlines()[0][:300] if text.strip() else "no detail"


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def _held_elsewhere(path: str) -> bool:
    """Whether another process holds the engine's lock on ``<path>/status``."""
    status = os.path.join(path, "status")
    if os.path.abspath(path) in _OPENED or not os.path.exists(status):
        return False
    try:
        with open(status, "rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    return False


def chdb_path(url: str) -> str | None:
    """The folder of a ``chdb://<path>`` URL (``chdb:///abs/path`` or ``chdb://relative/path``)."""
    if not url.startswith("chdb://"):
        return None
    # Not urlparse: it would read the first folder of a relative path as a host name.
    return unquote(url[len("chdb://"):]) or None


def connect(url: str, database: str) -> Client:
    """A client bound to ``database`` at ``url``.

    Raises StoreError for a URL of another kind, StoreLocked when another process holds the
    embedded store, StoreUnavailable when a server does not answer.
    """
    scheme = url.split("://", 1)[0] if "://" in url else ""
    try:
        if scheme == "chdb":
            path = chdb_path(url) or ""
            # Asked first: chDB itself would print the engine's own error to stderr, then fail vaguely.
            if path and _held_elsewhere(path):
                raise StoreLocked(f"the embedded store {path} is open in another process (a running "
                                  "`lineage consume` or `lineage serve`?); stop it, or use a ClickHouse server (CLICKHOUSE_URL=http://...)")
            client = clickhouse_connect.get_client(interface="chdb", path=path, database=database)
            _OPENED.add(os.path.abspath(path))
        elif scheme in ("http", "https"):
            client = clickhouse_connect.get_client(dsn=url, database=database, connect_timeout=5)
        else:
            raise StoreError(f"CLICKHOUSE_URL must start with chdb://, http:// or https://, not {_safe(url)!r}")
    except ClickHouseError as exc:
        found = classify(exc, url)
        if found is exc:
            raise StoreUnavailable(f"cannot open the store at {_safe(url)} ({_first_line(str(exc))})") from None
        raise found from None
    _compiled_inserts(client)
    return client


def column_type(name: str) -> Any:
    """The driver's type object for a ClickHouse type name, as an insert takes it."""
    from clickhouse_connect.datatypes.registry import get_from_name

    return get_from_name(name)


class CompiledInserts:
    """Native blocks for inserts built by the compiled codec; query results still read by the Python one."""

    def __init__(self, reader: Any) -> None:
        from clickhouse_connect.driver.rustcodec import _make_native_transform

        self.writer = _make_native_transform("rust")  # routes a type it lacks to the Python codec
        self.reader = reader
        self.threaded_insert = self.writer.threaded_insert

    def build_insert(self, context: Any, error_handler: Any = None) -> Any:
        return self.writer.build_insert(context, error_handler)

    def parse_response(self, source: Any, context: Any) -> Any:
        return self.reader.parse_response(source, context)


def _compiled_inserts(client: Client) -> None:
    # clickhouse-connect gives its chDB client only the Python codec (its `native_codec` option is
    # documented as ignored there), though the engine reads the same Native blocks as a server.
    # Building them in the compiled codec halves the cost of an insert, which was the largest part
    # of the consumer's time after decoding. Results keep the Python reader the rest of the code
    # was written against, and a server client is given the same split, so both read alike.
    # tests/test_store.py fails if a new client version moves this seam.
    transform = getattr(client, "_transform", None)
    if transform is not None and hasattr(transform, "build_insert"):
        client._transform = CompiledInserts(transform)  # type: ignore[attr-defined]


def codec_of(client: Client) -> Any:
    """The transform the client builds inserts and reads results with (for the seam's guard test)."""
    return getattr(client, "_transform", None)
