"""The one seam to clickhouse-connect: a client for a URL, with the compiled codec on inserts.

``chdb://<path>`` opens the real ClickHouse engine in this process; ``http(s)://``
reaches a server. chDB holds one engine per process, so tests isolate by database.
Nothing outside this package touches the driver's client object.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client


class StoreError(Exception):
    """The store cannot be reached or used as configured."""


def chdb_path(url: str) -> str | None:
    """The folder of a ``chdb://<path>`` URL (``chdb:///abs/path`` or ``chdb://relative/path``)."""
    if not url.startswith("chdb://"):
        return None
    # Not urlparse: it would read the first folder of a relative path as a host name.
    return unquote(url[len("chdb://"):]) or None


def connect(url: str, database: str) -> Client:
    """A client bound to ``database`` at ``url``; raises StoreError for a URL of another kind."""
    parsed = urlparse(url)
    if parsed.scheme == "chdb":
        client = clickhouse_connect.get_client(interface="chdb", path=chdb_path(url), database=database)
    elif parsed.scheme in ("http", "https"):
        client = clickhouse_connect.get_client(dsn=url, database=database)
    else:
        raise StoreError(f"CLICKHOUSE_URL must start with chdb://, http:// or https://, not {url!r}")
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
