"""ClickHouse's own Kafka table engine, run inside the embedded engine, as a contender to our consumer.

    python -m benchmarks.kafka_engine --bootstrap HOST:PORT --topics t1,t2,... --group G --store DIR \\
        --expect N --out result.json [--timeout S] [--idle S] [--kafka-setting kafka_NAME=VALUE ...]

What it measures: how fast ClickHouse alone moves our events from the project's
Kafka topics into a MergeTree table. A Kafka table reads every topic with
``kafka_format = 'AvroConfluent'``, its schemas served from the project's
registry file by a small HTTP endpoint in this process; a materialised view
copies the envelope's main columns into a MergeTree table. The engine runs in
this process (chDB), so the CPU and memory figures are ClickHouse's own, as
the worker's (benchmarks/worker.py) are our consumer's.

Why: it is the yardstick for our Python consumer's events/s. Our consumer does
more (policy tags, pseudonyms, identifiers kept apart, dead letters,
exactly-once through the store's flush log); the result's ``does_not_do`` list
says what this one leaves out, so the figures are read side by side, not as
like for like.

Rows reach the table a block at a time, so the first poll that sees any rows
already sees a whole block: ``events_per_second``, timed from the first row
seen to the last, runs high on short runs. ``events_per_second_from_first_read``
starts the clock at the first message the consumers report read, which is how
the worker times our consumer; ``events_per_second_from_create`` includes
joining the group.

The engine is opened without ``import chdb``, whose import-time probe would
stop every Kafka table in the process: see ``load_chdb()``.

``run()`` starts the command above in a child process, so that neither the
engine's threads nor its memory mix with the caller's, and returns its result.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.machinery
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "kafka_bench"
POLL_SECONDS = 0.2

# Fair on two cores: one consumer per core (the most the engine allows without kafka_disable_num_consumers_limit),
# each in a thread of its own so both parse and insert at once. Compared on 300,000 events (8 topics, 3 partitions
# each, broker on the same two cores), events/s from the first message read: 2 consumers with a thread each and
# 65,536-row blocks 52k-68k over three runs; 1 consumer 51k-53k; 2 consumers sharing one thread 50k; blocks of
# 16,384 rows 50k, of 262,144 rows 45k. CPU stayed at 5.3-6.0 s in every case. The flush interval only bounds
# how long the last, partial block waits (7.5 s by default, which would be most of a 300k run).
KAFKA_SETTINGS: dict[str, str | int] = {
    "kafka_num_consumers": 2,
    "kafka_thread_per_consumer": 1,
    "kafka_max_block_size": 65_536,
    "kafka_flush_interval_ms": 1_000,
}

DOES_NOT_DO = [
    "no policy tags (purposes, data uses, legal bases, retention rules)",
    "no pseudonyms: e-mail addresses and phone numbers are not replaced by subject ids",
    "no identifiers kept apart from the analytics rows",
    "no dead letters: a message that does not parse stops the table (its block is retried), not set aside",
    "no exactly-once guarantee across a crash: at-least-once from Kafka offset commits",
]

# The envelope every schema carries, as a named Tuple matching the Avro record field by field. The Kafka
# table declares only this column, so one table reads every schema: the payload fields differ per schema,
# and the Avro reader skips fields the table does not declare.
_ROLES = ["actor", "creator", "last_updater", "subject", "administrator", "participant", "contact", "recipient"]
ENVELOPE = (
    "Tuple(event_id UUID, event_type String, occurred_at DateTime64(3, 'UTC'), tenant_id Nullable(String), "
    "people Array(Tuple(role Enum8(" + ", ".join(f"'{r}' = {i}" for i, r in enumerate(_ROLES)) + "), "
    "email Nullable(String), phone Nullable(String))), "
    "producer Tuple(service String, version String), processing_region String)"
)

# The same partitioning and sort key as the project's own events table, so the MergeTree side costs the same.
EVENTS = f"""
CREATE TABLE {DATABASE}.events (
    event_id          UUID,
    event_type        LowCardinality(String),
    occurred_at       DateTime64(3, 'UTC'),
    tenant_id         LowCardinality(String),
    people_roles      Array(String),
    producer_service  LowCardinality(String),
    producer_version  LowCardinality(String),
    processing_region LowCardinality(String),
    _topic            LowCardinality(String),
    _partition        UInt64,
    _offset           UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, event_type, occurred_at)
"""

VIEW = f"""
CREATE MATERIALIZED VIEW {DATABASE}.events_mv TO {DATABASE}.events AS
SELECT
    envelope.event_id                                AS event_id,
    envelope.event_type                              AS event_type,
    envelope.occurred_at                             AS occurred_at,
    ifNull(envelope.tenant_id, '')                   AS tenant_id,
    arrayMap(p -> toString(p.role), envelope.people) AS people_roles,
    envelope.producer.service                        AS producer_service,
    envelope.producer.version                        AS producer_version,
    envelope.processing_region                       AS processing_region,
    _topic, _partition, _offset
FROM {DATABASE}.queue
"""


class EngineError(RuntimeError):
    pass


# --- the schema registry -------------------------------------------------------------------------------------


def serve_registry() -> tuple[ThreadingHTTPServer, str]:
    """A Confluent-compatible ``GET /schemas/ids/{id}`` on a free local port, from the project's registry file.

    Returns the server (serving in a daemon thread) and its base URL.
    """
    from schemas.registry import FileSchemaRegistry

    registry = FileSchemaRegistry()
    # Built once: ClickHouse asks for each id once and caches it, but the answers must not wait on disk.
    bodies = {rs.id: json.dumps({"schema": json.dumps(registry.by_id(rs.id).schema)}).encode()
              for rs in registry.all()}  # fmt: skip
    route = re.compile(r"/schemas/ids/(\d+)")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            match = route.fullmatch(urlsplit(self.path).path)
            body = bodies.get(int(match[1])) if match else None
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="schema-registry", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


# --- the embedded engine -------------------------------------------------------------------------------------


def load_chdb() -> ModuleType:
    """chDB's ``_chdb`` extension module, loaded without running ``chdb/__init__.py``.

    Why: with chdb 4.4.0, ``import chdb`` (and so ``clickhouse_connect.get_client(interface='chdb')``)
    opens a connection at import time to read the engine's version, then closes it. Closing the process's
    first connection shuts down the engine's registry of streaming tables for the whole process, and every
    Kafka table created afterwards fails with ``Code: 49 ... Shutdown was called``. Loading the extension the
    way ``chdb/__init__.py`` does (from its own folder, preloaded with RTLD_DEEPBIND so its symbols do not
    bind to another copy of the libraries) but without that probe keeps Kafka tables working.
    """
    if "chdb" in sys.modules:  # its probe has run: no Kafka table would start in this process
        raise EngineError("chdb was imported before the Kafka benchmark loaded it: its Kafka tables would not start")
    if (loaded := sys.modules.get("chdb._chdb")) is not None:
        return loaded
    spec = importlib.util.find_spec("chdb")  # finds the package without running its __init__
    folders = list(spec.submodule_search_locations or []) if spec else []
    library = next((Path(f) / "_chdb.abi3.so" for f in folders if (Path(f) / "_chdb.abi3.so").exists()), None)
    if library is None:
        raise EngineError("chdb-core's _chdb.abi3.so was not found; install chdb")
    cwd = os.getcwd()
    # As chdb/__init__.py does: the import runs from the package folder, next to the companion libraries
    # (libpybind11nonlimitedapi_chdb_3.x.so) the extension loads, and the working directory is restored after.
    os.chdir(library.parent)
    try:
        if sys.platform == "linux":
            ctypes.CDLL(str(library), mode=sys.getdlopenflags() | os.RTLD_DEEPBIND)
        loader = importlib.machinery.ExtensionFileLoader("chdb._chdb", str(library))
        module_spec = importlib.util.spec_from_file_location("chdb._chdb", library, loader=loader)
        assert module_spec is not None
        module = importlib.util.module_from_spec(module_spec)
        loader.exec_module(module)
    finally:
        os.chdir(cwd)
    sys.modules["chdb._chdb"] = module  # so that nothing loads the library a second time
    return module


class Engine:
    """One connection to the embedded engine on a folder; the process's only one while the benchmark runs."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    def open(cls, folder: Path) -> Engine:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(load_chdb().connect(str(folder.resolve())))

    def query(self, sql: str, fmt: str = "TSV") -> str:
        result = self.conn.query(sql, fmt)
        if result.has_error():
            raise EngineError(result.error_message())
        return result.bytes().decode()

    def count(self) -> int:
        return int(self.query(f"SELECT count() FROM {DATABASE}.events"))

    def close(self) -> None:
        self.conn.close()


def queue_ddl(bootstrap: str, topics: list[str], group: str, registry_url: str,
              settings: dict[str, str | int] | None = None) -> str:  # fmt: skip
    """The Kafka table: every topic, one ``envelope`` column, Avro in the Confluent wire format."""
    values: dict[str, str | int] = {
        "kafka_broker_list": bootstrap,
        "kafka_topic_list": ",".join(topics),
        "kafka_group_name": group,
        "kafka_format": "AvroConfluent",
        **(KAFKA_SETTINGS if settings is None else settings),
    }
    listed = ",\n    ".join(f"{k} = {v}" if isinstance(v, int) else f"{k} = '{v}'" for k, v in values.items())
    return (f"CREATE TABLE {DATABASE}.queue (envelope {ENVELOPE})\nENGINE = Kafka\nSETTINGS\n    {listed},\n"
            f"    format_avro_schema_registry_url = '{registry_url}'")


def create_tables(engine: Engine, bootstrap: str, topics: list[str], group: str, registry_url: str,
                  settings: dict[str, str | int] | None = None) -> None:  # fmt: skip
    """The MergeTree table, the Kafka table, then the view: consuming starts when the view exists."""
    # A store left by an earlier run would start the count above zero; the database is this benchmark's alone.
    engine.query(f"DROP DATABASE IF EXISTS {DATABASE} SYNC")
    engine.query(f"CREATE DATABASE {DATABASE}")
    engine.query(EVENTS)
    engine.query(queue_ddl(bootstrap, topics, group, registry_url, settings))
    engine.query(VIEW)


# --- the measurement -----------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def kafka_setting(text: str) -> tuple[str, str | int]:
    name, _, value = text.partition("=")
    if not name.startswith("kafka_") or not value:
        raise argparse.ArgumentTypeError(f"expected kafka_<name>=<value>, not {text!r}")
    return name, int(value) if value.isdigit() else value


def consumer_state(engine: Engine) -> tuple[int, str]:
    """Messages the Kafka table's consumers have read so far, and the latest exception one of them met."""
    line = engine.query(f"SELECT sum(num_messages_read), argMax(exceptions.text[-1], exceptions.time[-1]) "
                        f"FROM system.kafka_consumers WHERE database = '{DATABASE}' AND table = 'queue'")  # fmt: skip
    read, _, error = line.rstrip("\n").partition("\t")
    return int(read or 0), error.replace("\\n", " ")


def consume(args: argparse.Namespace) -> dict[str, Any]:
    settings = {**KAFKA_SETTINGS, **dict(args.kafka_setting or [])}
    timeout = args.timeout if args.timeout is not None else 60 + args.expect / 2_000
    server, registry_url = serve_registry()
    engine = Engine.open(args.store)
    topics = [t for t in args.topics.split(",") if t.strip()]
    try:
        cpu_before = cpu_seconds()
        created = time.perf_counter()
        create_tables(engine, args.bootstrap, topics, args.group, registry_url, settings)
        first_read = first_seen = 0.0
        first_rows = rows = 0
        last = created
        while (now := time.perf_counter()) < created + timeout and now - last < args.idle:
            if not first_read and consumer_state(engine)[0]:
                # The first message read, as near as a poll tells: the moment our consumer's rate starts from.
                first_read = time.perf_counter()
            seen = engine.count()
            now = time.perf_counter()
            if seen and not first_seen:
                first_seen, first_rows = now, seen
                first_read = first_read or now
            if seen != rows:
                rows, last = seen, now
            if rows >= args.expect:
                break
            time.sleep(POLL_SECONDS)
        waited = time.perf_counter() - created
        cpu = cpu_seconds() - cpu_before
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        error = consumer_state(engine)[1] if rows < args.expect else ""
        # Stop reading before the process ends, so that the group's offsets are committed and no consumer
        # is left half-way through a block.
        engine.query(f"DROP TABLE {DATABASE}.events_mv SYNC")
        engine.query(f"DROP TABLE {DATABASE}.queue SYNC")
        rows = engine.count()
        distinct = int(engine.query(f"SELECT uniqExact(event_id) FROM {DATABASE}.events"))
    finally:
        engine.close()
        server.shutdown()
    span = last - first_seen if first_seen else 0.0
    return {
        "events": rows,
        "distinct_event_ids": distinct,
        "expected": args.expect,
        "seconds": span,
        "seconds_from_first_read": last - first_read if first_read else 0.0,
        "seconds_from_create": last - created,
        "waited_seconds": waited,
        "first_seen_rows": first_rows,
        "events_per_second": rows / span if span else 0.0,
        "events_per_second_from_first_read": rows / (last - first_read) if first_read and last > first_read else 0.0,
        "events_per_second_from_create": rows / (last - created) if rows else 0.0,
        "cpu_seconds": cpu,
        "cpu_seconds_per_million": cpu / rows * 1e6 if rows else 0.0,
        "max_rss_mb": rss_peak / 2**20,
        "settings": settings,
        "does_not_do": DOES_NOT_DO,
        **({"consumer_error": error} if error else {}),
    }


def run(bootstrap: str, topics: list[str], group: str, folder: Path, expect: int) -> dict[str, Any]:
    """The Kafka engine contender in a child process; its result.json, parsed."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "result.json"
    cmd = [sys.executable, "-m", "benchmarks.kafka_engine", "--bootstrap", bootstrap, "--topics", ",".join(topics),
           "--group", group, "--store", str(folder / "store"), "--expect", str(expect), "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the Kafka engine contender failed (exit {proc.returncode})")
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, HOST:PORT.")
    parser.add_argument("--topics", required=True, help="Topics to read, comma-separated.")
    parser.add_argument("--group", required=True, help="Consumer group of the Kafka table.")
    parser.add_argument("--store", type=Path, required=True, help="Folder of the embedded engine (created).")
    parser.add_argument("--expect", type=int, required=True, help="Rows to wait for in the MergeTree table.")
    parser.add_argument("--out", type=Path, required=True, help="Where to write the result as JSON.")
    parser.add_argument("--timeout", type=float,
                        help="Seconds to wait for --expect rows. Default: 60 plus one per 2,000 events.")
    parser.add_argument("--idle", type=float, default=60, help="Give up after this many seconds without new rows.")
    parser.add_argument("--kafka-setting", type=kafka_setting, action="append", metavar="kafka_NAME=VALUE",
                        help="Override one of the Kafka table's settings (repeatable), to compare them.")
    args = parser.parse_args()
    try:
        result = consume(args)
    except EngineError as e:
        print(f"kafka_engine: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(result, indent=2))
    if result["events"] < args.expect:
        why = f": {result['consumer_error'][:300]}" if "consumer_error" in result else ""
        print(f"kafka_engine: {result['events']:,} of {args.expect:,} rows after {result['waited_seconds']:.0f} s"
              f"{why}", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
