"""The store: one clickhouse-connect client, embedded (chDB) or a server, same code.

``chdb:///path`` opens the real ClickHouse engine in this process; ``http(s)://``
reaches a server. chDB holds one engine per process, so tests isolate by database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from consumers import tables
from consumers.policy import Policy
from consumers.retention import tables as retention_tables
from consumers.rights import tables as rights_tables
from consumers.usage import views as usage_views
from consumers.usage.rollups import ensure_rollups

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreError(Exception):
    """The store cannot be reached or used as configured."""


def chdb_path(url: str) -> str | None:
    """The folder of a ``chdb://<path>`` URL (``chdb:///abs/path`` or ``chdb://relative/path``)."""
    if not url.startswith("chdb://"):
        return None
    # Not urlparse: it would read the first folder of a relative path as a host name.
    return unquote(url[len("chdb://"):]) or None


def _client(url: str, database: str) -> Client:
    parsed = urlparse(url)
    if parsed.scheme == "chdb":
        client = clickhouse_connect.get_client(interface="chdb", path=chdb_path(url), database=database)
    elif parsed.scheme in ("http", "https"):
        client = clickhouse_connect.get_client(dsn=url, database=database)
    else:
        raise StoreError(f"CLICKHOUSE_URL must start with chdb://, http:// or https://, not {url!r}")
    _compiled_inserts(client)
    return client


class _CompiledInserts:
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
        client._transform = _CompiledInserts(transform)  # type: ignore[attr-defined]


class Store:
    """The tables of one database, and the few operations the pipeline needs on them."""

    def __init__(self, url: str, database: str) -> None:
        if not _DB_NAME.match(database):
            raise StoreError(f"database name {database!r} must be letters, digits and underscores")
        if path := chdb_path(url):
            from pathlib import Path

            Path(path).mkdir(parents=True, exist_ok=True)
        # Create the database through a client bound to `default`, then bind to it.
        _client(url, "default").command(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.url = url
        self.database = database
        self.client = _client(url, database)
        self._types: dict[tuple[str, tuple[str, ...]], list[Any]] = {}

    def ensure_schema(self) -> None:
        # Views last: they read the tables before them.
        for ddl in (*tables.ALL_DDL, *tables.MIGRATIONS, *rights_tables.ALL_DDL, *retention_tables.ALL_DDL,
                    *usage_views.ALL_DDL):  # fmt: skip
            self.client.command(ddl)
        self._identifiers_by_position()
        self._types.clear()  # a migration may have changed a column
        existing = {t for (t,) in self.rows("SELECT name FROM system.tables WHERE database = currentDatabase()")}
        ensure_rollups(self.client.command, existing)

    def _identifiers_by_position(self) -> None:
        """Bring identifiers written with an event id over to naming their event by its source position."""
        columns = {c for (c,) in self.rows(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'identifiers'")}  # fmt: skip
        if "event_id" not in columns:
            return
        # A value completed by rectification carried its anchor event's id and no position: give it the
        # event's position, or retention would no longer find it when that event goes.
        for (event_id,) in self.rows(
            "SELECT DISTINCT event_id FROM identifiers WHERE source_topic = '' AND event_id != toUUIDOrZero('')"
        ):
            found = self.rows("SELECT source_topic, source_partition, source_offset FROM events"
                              " WHERE event_id = {e:UUID} LIMIT 1", {"e": event_id})  # fmt: skip
            if found:
                t, p, o = found[0]
                self.command(
                    "ALTER TABLE identifiers UPDATE source_topic = {t:String}, source_partition = {p:UInt32},"
                    " source_offset = {o:UInt64} WHERE source_topic = '' AND event_id = {e:UUID}",
                    {"t": t, "p": p, "o": o, "e": event_id}, {"mutations_sync": 2},
                )  # fmt: skip
        self.command("ALTER TABLE identifiers DROP COLUMN event_id", settings={"mutations_sync": 2})

    def insert(self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]], token: str) -> None:
        """Insert column-oriented data; a second insert with the same token stores nothing."""
        if not data or not data[0]:
            return
        self.client.insert(
            table,
            data,
            column_names=list(columns),
            column_types=self._column_types(table, tuple(columns)),
            column_oriented=True,
            settings={"insert_deduplication_token": token},
        )

    def _column_types(self, table: str, columns: tuple[str, ...]) -> list[Any]:
        # Without the types, every insert first asks the engine to describe the table: a
        # query per table per batch, which dominated the cost of the consumer's small batches.
        key = (table, columns)
        found = self._types.get(key)
        if found is None:
            from clickhouse_connect.datatypes.registry import get_from_name

            described = {name: type_name for name, type_name in self.rows(
                "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
                {"t": table})}  # fmt: skip
            found = self._types[key] = [get_from_name(described[c]) for c in columns]
        return found

    def command(self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None) -> None:
        self.client.command(sql, parameters=parameters or {}, settings=settings or {})

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        return self.client.query(sql, parameters=parameters or {}).result_rows

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        rows = self.rows(sql, parameters)
        return rows[0][0] if rows else None

    def drop(self) -> None:
        self.client.command(f"DROP DATABASE IF EXISTS {self.database}")


def open_store(url: str, database: str, policy: Policy) -> Store:
    """The store with every table, and the TTLs and retention facts the policy asks for."""
    from consumers.retention.schema import sync_policy_schema

    store = Store(url, database)
    store.ensure_schema()
    sync_policy_schema(store, policy)
    return store
