"""The operating-system side of running a broker: file locks, pid files, signals, ports, the storage tool."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from lineage.broker.errors import BrokerStartFailed, PortInUse

TAIL_LINES = 40


@contextlib.contextmanager
def flock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def send_signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def check_free(port: int, what: str) -> None:
    """Raise PortInUse unless ``port`` on 127.0.0.1 can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the JVM sets, so a port that only has TIME_WAIT leftovers counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUse(port, what) from None


def answers(bootstrap: str, cluster_id: str | None, deadline: float) -> bool:
    """True when the broker answers a metadata request and lists itself (and is the expected cluster)."""
    host, port = bootstrap.rsplit(":", 1)
    # A plain connect first: kafka-python logs an error for every refused bootstrap attempt.
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    budget_ms = int(max(1.0, min(5.0, deadline - time.monotonic())) * 1000)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="lineage-broker-probe",
                                 bootstrap_timeout_ms=budget_ms, request_timeout_ms=budget_ms)  # fmt: skip
    except (KafkaError, OSError):
        return False
    try:
        cluster = admin.describe_cluster()
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
    if cluster_id is not None and cluster.get("cluster_id") != cluster_id:
        return False
    return bool(cluster.get("brokers"))


def run_storage_tool(java: str, libs: Path, args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``kafka.tools.StorageTool`` with ``args``; raises BrokerStartFailed if it hangs."""
    # Short-lived tool JVMs: a small heap and the serial GC start fastest.
    cmd = [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", f"{libs}/*",
           "kafka.tools.StorageTool", *args]  # fmt: skip
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=120)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise BrokerStartFailed(f"`kafka.tools.StorageTool {args[0]}` hung for 120 s.\n{tail_text(exc.output or b'')}")


def tail_file(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            return tail_text(fh.read(), lines)
    except OSError:
        return ""


def tail_text(data: bytes, lines: int = TAIL_LINES) -> str:
    return "\n".join(data.decode(errors="replace").rstrip().splitlines()[-lines:])
