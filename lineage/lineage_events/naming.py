"""Names of jobs and datasets, by the OpenLineage naming conventions.

A Kafka topic is ``kafka://{host}:{port}`` / ``{topic}`` (the client's own ``naming.Kafka``); a
table of a ClickHouse server is ``clickhouse://{host}:{port}`` / ``{database}.{table}``, as the
conventions name MySQL's, whose levels ClickHouse shares. The embedded engine has no host and
port: its namespace is the store's own URL, ``chdb://{absolute folder}``, so two stores on one
machine never share names. A local folder is ``file`` / ``{path}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from openlineage.client.naming.dataset import Kafka, LocalFileSystem

from consumers.store.driver import chdb_path

NAMESPACE = "engage-lineage"  # the jobs' namespace unless configured otherwise

CONSUMER = "lineage.consumer"
RETENTION = "lineage.retention"
ERASURE = "lineage.erasure"
RECTIFICATION = "lineage.rectification"
ACCESS_EXPORT = "lineage.access_export"

_DEFAULT_PORTS = {"http": 8123, "https": 8443}


def topic_name(bootstrap: str, topic: str) -> tuple[str, str]:
    """(namespace, name) of a topic: the first bootstrap server names the cluster."""
    first = bootstrap.split(",")[0].strip()
    first = first.split("://", 1)[-1]  # a listener written with its protocol, PLAINTEXT://host:port
    host, _, port = first.rpartition(":")
    found = Kafka(host or first, port or "9092", topic)
    return found.get_namespace(), found.get_name()


def store_namespace(url: str) -> str:
    """``clickhouse://{host}:{port}`` of a server, ``chdb://{folder}`` of the embedded engine; never credentials."""
    path = chdb_path(url)
    if path is not None:
        return f"chdb://{Path(path).expanduser().resolve()}"
    parsed = urlparse(url)
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 8123)
    return f"clickhouse://{parsed.hostname or 'localhost'}:{port}"


def folder_name(path: Path) -> tuple[str, str]:
    """(namespace, name) of a local folder."""
    found = LocalFileSystem(str(path))
    return found.get_namespace(), found.get_name()


@dataclass(frozen=True)
class Places:
    """Where the jobs read and write, named: the broker, the store, the export folder."""

    bootstrap: str
    store_url: str
    database: str
    topics: tuple[tuple[str, str], ...]  # (family, topic) of each raw event topic
    dead_letter_topic: str
    exports_folder: Path

    def topic(self, topic: str) -> tuple[str, str]:
        return topic_name(self.bootstrap, topic)

    def table(self, table: str) -> tuple[str, str]:
        """(namespace, name) of a table of the store."""
        return store_namespace(self.store_url), f"{self.database}.{table}"
