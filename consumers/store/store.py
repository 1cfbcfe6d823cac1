"""The ``Store``: the tables of one database, and the few operations every part needs on them.

Every part reads and writes through these methods, never through the driver: a
column-oriented insert under a deduplication token for the pipeline's batches, a
row-oriented append for the small records of the jobs, commands and queries with
bound parameters.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from consumers.store import driver
from consumers.store.driver import StoreError
from consumers.store.tables import TableSet

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Store:
    """The tables of one database, embedded or on a server."""

    def __init__(self, url: str, database: str) -> None:
        if not _DB_NAME.match(database):
            raise StoreError(f"database name {database!r} must be letters, digits and underscores")
        if path := driver.chdb_path(url):
            Path(path).mkdir(parents=True, exist_ok=True)
        # Create the database through a client bound to `default`, then bind to it.
        with driver.typed_faults(url):
            driver.connect(url, "default").command(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.url = url
        self.database = database
        self._client = driver.connect(url, database)
        # The consumer writes a flush in a thread of its own while its main thread may read: one
        # call at a time on the one connection (chDB's is not made for two at once).
        self._lock = threading.RLock()
        self._types: dict[tuple[str, tuple[str, ...]], list[Any]] = {}

    def ensure(self, table_sets: Sequence[TableSet]) -> None:
        """Create or bring up to date every set's tables, in the order given (a view after what it reads)."""
        for tables in table_sets:
            for statement in (*tables.ddl, *tables.migrations):
                self.command(statement)
            if tables.finish is not None:
                tables.finish(self)
            self._types.clear()  # a migration may have changed a column

    def insert(self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]], token: str | None) -> None:
        """Insert column-oriented data; a second insert with the same token stores nothing.

        ``token`` None: no deduplication (a scratch table in memory); it also spares the embedded
        driver's round of setting, reading back and restoring a setting, some 4 ms an insert.
        """
        if not data or not data[0]:
            return
        types = self._column_types(table, tuple(columns))
        settings = {"insert_deduplication_token": token} if token is not None else None
        with self._lock, driver.typed_faults(self.url):
            self._client.insert(table, data, column_names=list(columns), column_types=types, column_oriented=True,
                                settings=settings)  # fmt: skip

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert a few rows as they are (a record of what was done); no deduplication."""
        if rows:
            types = self._column_types(table, tuple(columns))
            with self._lock, driver.typed_faults(self.url):
                self._client.insert(table, [list(r) for r in rows], column_names=list(columns), column_types=types)

    def insert_encoded(self, table: str, data: bytes, fmt: str) -> None:
        """Insert data already encoded in one of the engine's input formats (an Avro container, say).

        No deduplication: for the consumer's own scratch tables, whose rows a later insert under a
        token moves on. An error of the data itself (bytes the format cannot read) is raised as the
        driver's; an unreachable or full store as the store's typed one.
        """
        with self._lock, driver.typed_faults(self.url):
            self._client.raw_insert(table, None, data, fmt=fmt)

    def _column_types(self, table: str, columns: tuple[str, ...]) -> list[Any]:
        # Without the types, every insert first asks the engine to describe the table: a
        # query per table per batch, which dominated the cost of the consumer's small batches.
        key = (table, columns)
        found = self._types.get(key)
        if found is None:
            described = dict(self.columns(table))
            found = self._types[key] = [driver.column_type(described[c]) for c in columns]
        return found

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of each of a table's columns, in the table's order."""
        return self.rows("SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String}"
                         " ORDER BY position", {"t": table})  # fmt: skip

    def command(self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None) -> None:
        with self._lock, driver.typed_faults(self.url):
            self._client.command(sql, parameters=parameters or {}, settings=settings or {})

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        with self._lock, driver.typed_faults(self.url):
            return self._client.query(sql, parameters=parameters or {}).result_rows

    def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        rows = self.rows(sql, parameters)
        return rows[0][0] if rows else None

    def table_names(self) -> set[str]:
        """The tables and views of this database."""
        return {t for (t,) in self.rows("SELECT name FROM system.tables WHERE database = currentDatabase()")}

    def insert_codec(self) -> Any:
        """The transform the driver builds inserts with; the compiled-codec seam's guard test reads it."""
        return driver.codec_of(self._client)

    def parts(self, tables: Sequence[str], active: bool) -> set[tuple[str, str]]:
        """(table, part) of ``tables``: the active parts, or those replaced but still on disk."""
        sql = ("SELECT table, name FROM system.parts WHERE database = currentDatabase()"
               " AND has({t:Array(String)}, table) AND active = {a:UInt8}")
        return {(t, n) for t, n in self.rows(sql, {"t": list(tables), "a": int(active)})}

    def wait_until_dropped(self, parts: set[tuple[str, str]], timeout: float = 60.0) -> set[tuple[str, str]]:
        """Wait until none of ``parts`` is left on disk replaced; those still there after ``timeout``.

        A delete rewrites the parts that held the rows and leaves the old ones on disk until the
        engine drops them; the personal tables drop them within seconds (``PHYSICAL_ERASURE``).
        Until then the old files still hold the deleted values.
        """
        tables = sorted({t for t, _ in parts})
        deadline = time.monotonic() + timeout
        while left := parts & self.parts(tables, active=False):
            if time.monotonic() > deadline:
                return left
            time.sleep(0.5)
        return set()

    def drop(self) -> None:
        self.command(f"DROP DATABASE IF EXISTS {self.database}")

    def close(self) -> None:
        """Let go of the connection (a service stopping); a call after this fails."""
        with self._lock, driver.typed_faults(self.url):
            self._client.close()


def open_store(url: str, database: str, table_sets: Sequence[TableSet]) -> Store:
    """The store at ``url`` with every table of the given sets, created or brought up to date."""
    store = Store(url, database)
    store.ensure(table_sets)
    return store
