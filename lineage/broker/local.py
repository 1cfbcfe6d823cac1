"""A real single-node Apache Kafka broker (KRaft, broker+controller) run from Maven jars.

No Docker needed: the official broker jars are fetched from Maven Central with the pom in
``lineage/kafka/pom.xml`` and started as a detached ``java kafka.Kafka`` process on loopback.
Linux only: ownership of a pid is checked through ``/proc/<pid>/cmdline``.

Layout of ``data_dir``: ``server.properties``, ``cluster.id``, ``broker.pid``, ``broker.log``
(the broker's own log), ``broker.out`` (JVM stdout/stderr) and ``kafka-logs/`` (the topic data).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lineage.settings import Settings

log = logging.getLogger(__name__)

_PACKAGED = Path(__file__).parent / "kafka"
POM = _PACKAGED / "pom.xml"
LOG4J2_CONFIG = _PACKAGED / "log4j2.properties"

_STAMP = ".pom.sha256"
_HEAP = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_CLUSTER_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
# A cold ~/.m2 downloads ~45 MB; bound it so a hung network cannot hang `start` forever.
_MAVEN_TIMEOUT_S = 900
_TAIL_LINES = 40


class BrokerError(Exception):
    """Base of every error the local broker raises."""


class JavaNotFound(BrokerError):
    def __init__(self) -> None:
        super().__init__(
            "`java` is not on PATH. Install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`) "
            "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
        )


class MavenNotFound(BrokerError):
    def __init__(self) -> None:
        super().__init__(
            "`mvn` is not on PATH; it is needed once to fetch the Kafka jars. Install Maven "
            "(e.g. `apt-get install maven`) or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
        )


class JarFetchFailed(BrokerError):
    """Maven could not fetch the broker jars; the message carries the tail of its output."""


class PortInUse(BrokerError):
    def __init__(self, port: int, what: str) -> None:
        self.port = port
        super().__init__(
            f"127.0.0.1:{port} ({what}) is already in use by another process. Stop that process or pick "
            f"another port (settings kafka_port / kafka_controller_port, env LINEAGE_KAFKA_PORT / "
            f"LINEAGE_KAFKA_CONTROLLER_PORT)."
        )


class BrokerStartFailed(BrokerError):
    """The broker did not come up; the message carries the tail of its log."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path


class LocalBroker:
    """One local Kafka broker, identified by its data dir."""

    def __init__(self, libs_dir: Path, data_dir: Path, port: int, controller_port: int, heap: str = "512m") -> None:
        if not _HEAP.match(heap):
            raise ValueError(f"heap must look like 512m or 1g, got {heap!r}")
        if port == controller_port:
            raise ValueError("the client port and the controller port must differ")
        # Absolute paths: the config path is what identifies our process in /proc/<pid>/cmdline.
        self.libs_dir = Path(libs_dir).expanduser().resolve()
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.config_file = self.data_dir / "server.properties"
        self.pid_file = self.data_dir / "broker.pid"
        self.log_file = self.data_dir / "broker.log"
        self.out_file = self.data_dir / "broker.out"
        self.cluster_id_file = self.data_dir / "cluster.id"
        self.log_dirs = self.data_dir / "kafka-logs"
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBroker:
        return cls(
            libs_dir=settings.kafka_home / "libs",
            data_dir=settings.kafka_home / "data",
            port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            heap=settings.kafka_heap,
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    # --- jars -------------------------------------------------------------------------

    def ensure_jars(self) -> Path:
        """Fetch the broker jars with Maven unless ``libs_dir`` already holds them for this pom."""
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()
        if self._stamp() == digest:
            return self.libs_dir
        self.libs_dir.parent.mkdir(parents=True, exist_ok=True)
        # Tests and `make demo` share one jar cache; serialise fetches so they don't race on the rename.
        with _flock(self.libs_dir.parent / f".{self.libs_dir.name}.lock"):
            if self._stamp() == digest:
                return self.libs_dir
            if shutil.which("java") is None:
                raise JavaNotFound()
            mvn = shutil.which("mvn")
            if mvn is None:
                raise MavenNotFound()
            log.info("fetching the Kafka broker jars with Maven into %s", self.libs_dir)
            # A sibling temp dir on the same filesystem: the final rename is atomic, so an interrupted
            # fetch leaves a stray temp dir, never a half classpath under libs_dir.
            work = Path(tempfile.mkdtemp(prefix=f".{self.libs_dir.name}.fetch-", dir=self.libs_dir.parent))
            try:
                # Maven runs on a copy so nothing is written next to the installed package.
                pom = work / "pom.xml"
                shutil.copyfile(POM, pom)
                fetched = work / "libs"
                cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                       "-DincludeScope=runtime", f"-DoutputDirectory={fetched}"]
                try:
                    done = subprocess.run(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, timeout=_MAVEN_TIMEOUT_S)
                except subprocess.TimeoutExpired as exc:
                    raise JarFetchFailed(
                        f"Maven did not finish within {_MAVEN_TIMEOUT_S} s; check access to Maven Central "
                        f"(proxy settings in ~/.m2/settings.xml).\n{_tail_text(exc.output or b'')}"
                    ) from None
                if done.returncode != 0 or not any(fetched.glob("kafka_2.13-*.jar")):
                    raise JarFetchFailed(
                        f"Maven failed to fetch the Kafka jars (exit {done.returncode}); check access to Maven "
                        f"Central and the pom {POM}. Last lines of its output:\n{_tail_text(done.stdout)}"
                    )
                (fetched / _STAMP).write_text(digest + "\n")
                if self.libs_dir.exists():
                    self.libs_dir.rename(work / "stale")
                fetched.rename(self.libs_dir)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return self.libs_dir

    def _stamp(self) -> str | None:
        try:
            return (self.libs_dir / _STAMP).read_text().strip()
        except OSError:
            return None

    # --- lifecycle --------------------------------------------------------------------

    def start(self, timeout: float = 90) -> str:
        """Start the broker (or find it running) and return its bootstrap address once it answers."""
        deadline = time.monotonic() + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A second `start` on the same data dir (another shell, a test) must not spawn a second JVM.
        with _flock(self.data_dir / ".lock"):
            pid = self._running_pid()
            if pid is not None:
                self._wait_until_ready(pid, deadline, spawned=False)
                return self.bootstrap
            self.pid_file.unlink(missing_ok=True)
            java = shutil.which("java")
            if java is None:
                raise JavaNotFound()
            _check_free(self.port, "Kafka client port")
            _check_free(self.controller_port, "KRaft controller port")
            libs = self.ensure_jars()
            self._write_config()
            self._format_once(java, libs)
            pid = self._spawn(java, libs)
            self._wait_until_ready(pid, deadline, spawned=True)
        return self.bootstrap

    def stop(self, timeout: float = 30) -> bool:
        """Stop the broker named in the pid file, if it is this data dir's broker; True if one was stopped."""
        if not self.data_dir.is_dir():
            return False
        with _flock(self.data_dir / ".lock"):
            pid = _read_pid(self.pid_file)
            if pid is None:
                return False
            if not self._is_ours(pid):
                # Stale (the broker died, the pid may now belong to anyone): never signal it.
                self.pid_file.unlink(missing_ok=True)
                return False
            _signal(pid, signal.SIGTERM)
            if not self._wait_gone(pid, timeout):
                log.warning("broker pid %s ignored SIGTERM for %.0f s; killing it", pid, timeout)
                _signal(pid, signal.SIGKILL)
                self._wait_gone(pid, 10)
            self.pid_file.unlink(missing_ok=True)
            self._proc = None
            return True

    def status(self) -> BrokerStatus:
        pid = self._running_pid()
        return BrokerStatus(running=pid is not None, pid=pid, bootstrap=self.bootstrap, data_dir=self.data_dir)

    # --- internals --------------------------------------------------------------------

    def _running_pid(self) -> int | None:
        pid = _read_pid(self.pid_file)
        return pid if pid is not None and self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            # Our own child: ask the process handle. Its cmdline is not a reliable witness right
            # after the fork (it still shows this Python until exec), and poll() reaps a dead child
            # that would otherwise linger as a zombie.
            return self._proc.poll() is None
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        # A zombie has an empty cmdline, so it correctly counts as not running.
        return b"kafka.Kafka" in args and os.fsencode(str(self.config_file)) in args

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._is_ours(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _write_config(self) -> None:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Static voters: the storage is formatted without --standalone to match.
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            # One node: every internal topic must fit on it.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Otherwise every new consumer group waits 3 s before its first assignment.
            "group.initial.rebalance.delay.ms": "0",
        }
        text = "# Written by lineage.broker.LocalBroker on every start; edits are overwritten.\n"
        text += "".join(f"{key}={value}\n" for key, value in props.items())
        tmp = self.config_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.config_file)

    def _format_once(self, java: str, libs: Path) -> None:
        if (self.log_dirs / "meta.properties").exists():
            return
        cluster_id = self._cluster_id(java, libs)
        done = _run_tool(java, libs, ["format", "-t", cluster_id, "-c", str(self.config_file), "--ignore-formatted"])
        if done.returncode != 0:
            raise BrokerStartFailed(
                f"formatting the broker storage in {self.log_dirs} failed (exit {done.returncode}); delete "
                f"{self.data_dir} to start from scratch. Output:\n{_tail_text(done.stdout)}"
            )

    def _cluster_id(self, java: str, libs: Path) -> str:
        # Kept beside the data: a half-finished first start retries with the same id.
        with contextlib.suppress(OSError):
            existing = self.cluster_id_file.read_text().strip()
            if _CLUSTER_ID.match(existing):
                return existing
        done = _run_tool(java, libs, ["random-uuid"])
        cluster_id = done.stdout.decode(errors="replace").strip().splitlines()[-1:] if done.returncode == 0 else []
        if not cluster_id or not _CLUSTER_ID.match(cluster_id[0]):
            raise BrokerStartFailed(
                f"`kafka.tools.StorageTool random-uuid` failed (exit {done.returncode}); check that {libs} holds "
                f"the Kafka jars (delete it to fetch again). Output:\n{_tail_text(done.stdout)}"
            )
        self.cluster_id_file.write_text(cluster_id[0] + "\n")
        return cluster_id[0]

    def _spawn(self, java: str, libs: Path) -> int:
        cmd = [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            f"-Dlineage.broker.log={self.log_file}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(self.config_file),
        ]
        with open(self.out_file, "ab") as out:
            # Own session: the broker outlives this Python process and ignores its Ctrl-C.
            self._proc = subprocess.Popen(cmd, cwd=self.data_dir, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(f"{self._proc.pid}\n")
        tmp.replace(self.pid_file)
        log.info("started Kafka broker pid %s on %s", self._proc.pid, self.bootstrap)
        return self._proc.pid

    def _wait_until_ready(self, pid: int, deadline: float, *, spawned: bool) -> None:
        expected = self.cluster_id_file.read_text().strip() if self.cluster_id_file.exists() else None
        while True:
            if not self._is_ours(pid):
                self.pid_file.unlink(missing_ok=True)
                tail = self._log_tail()
                if spawned and "Address already in use" in tail:
                    raise PortInUse(self.port, "Kafka client or controller port")
                raise BrokerStartFailed(f"the Kafka broker (pid {pid}) exited during startup.\n{tail}")
            if _answers(self.bootstrap, expected, deadline):
                return
            if time.monotonic() >= deadline:
                if spawned:
                    # Don't leave a half-started JVM eating a core; the caller sees a clean failure.
                    self.pid_file.write_text(f"{pid}\n")
                    self._stop_locked(pid)
                raise BrokerStartFailed(
                    f"the Kafka broker (pid {pid}) did not answer on {self.bootstrap} in time"
                    f"{'; it was stopped' if spawned else ''}. Retry with a longer timeout, or check the log.\n"
                    f"{self._log_tail()}"
                )
            time.sleep(0.25)

    def _stop_locked(self, pid: int) -> None:
        _signal(pid, signal.SIGTERM)
        if not self._wait_gone(pid, 15):
            _signal(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)
        self.pid_file.unlink(missing_ok=True)

    def _log_tail(self) -> str:
        parts = []
        for path in (self.log_file, self.out_file):
            text = _tail_file(path)
            if text:
                parts.append(f"--- last lines of {path} ---\n{text}")
        return "\n".join(parts) or f"(no broker output in {self.log_file} or {self.out_file})"


# --- helpers --------------------------------------------------------------------------


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _check_free(port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the JVM sets, so a port that only has TIME_WAIT leftovers counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise PortInUse(port, what) from None


def _answers(bootstrap: str, cluster_id: str | None, deadline: float) -> bool:
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
                                 bootstrap_timeout_ms=budget_ms, request_timeout_ms=budget_ms)
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


def _run_tool(java: str, libs: Path, args: list[str]) -> subprocess.CompletedProcess[bytes]:
    # Short-lived tool JVMs: a small heap and the serial GC start fastest.
    cmd = [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", f"{libs}/*",
           "kafka.tools.StorageTool", *args]
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise BrokerStartFailed(f"`kafka.tools.StorageTool {args[0]}` hung for 120 s.\n{_tail_text(exc.output or b'')}")


def _tail_file(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            return _tail_text(fh.read(), lines)
    except OSError:
        return ""


def _tail_text(data: bytes, lines: int = _TAIL_LINES) -> str:
    return "\n".join(data.decode(errors="replace").rstrip().splitlines()[-lines:])
