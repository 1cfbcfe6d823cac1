"""The local broker's lifecycle: write its config, format its storage once, start, wait until it answers, stop.

Linux only: ownership of a pid is checked through ``/proc/<pid>/cmdline``.

Layout of ``data_dir``: ``server.properties``, ``cluster.id``, ``broker.pid``, ``broker.log``
(the broker's own log), ``broker.out`` (JVM stdout/stderr) and ``kafka-logs/`` (the topic data).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lineage.broker.errors import BrokerStartFailed, JavaNotFound, PortInUse
from lineage.broker.jars import fetch_jars
from lineage.broker.process import (
    answers,
    check_free,
    flock,
    read_pid,
    run_storage_tool,
    send_signal,
    tail_file,
    tail_text,
)

log = logging.getLogger(__name__)

LOG4J2_CONFIG = Path(__file__).parent / "log4j2.properties"
_HEAP = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_CLUSTER_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


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

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ensure_jars(self) -> Path:
        """Fetch the broker jars with Maven unless ``libs_dir`` already holds them for the pom."""
        return fetch_jars(self.libs_dir)

    # --- lifecycle --------------------------------------------------------------------

    def start(self, timeout: float = 90) -> str:
        """Start the broker (or find it running) and return its bootstrap address once it answers."""
        deadline = time.monotonic() + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A second `start` on the same data dir (another shell, a test) must not spawn a second JVM.
        with flock(self.data_dir / ".lock"):
            pid = self._running_pid()
            if pid is not None:
                self._wait_until_ready(pid, deadline, spawned=False)
                return self.bootstrap
            self.pid_file.unlink(missing_ok=True)
            java = shutil.which("java")
            if java is None:
                raise JavaNotFound()
            check_free(self.port, "Kafka client port")
            check_free(self.controller_port, "KRaft controller port")
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
        with flock(self.data_dir / ".lock"):
            pid = read_pid(self.pid_file)
            if pid is None:
                return False
            if not self._is_ours(pid):
                # Stale (the broker died, the pid may now belong to anyone): never signal it.
                self.pid_file.unlink(missing_ok=True)
                return False
            send_signal(pid, signal.SIGTERM)
            if not self._wait_gone(pid, timeout):
                log.warning("broker pid %s ignored SIGTERM for %.0f s; killing it", pid, timeout)
                send_signal(pid, signal.SIGKILL)
                self._wait_gone(pid, 10)
            self.pid_file.unlink(missing_ok=True)
            self._proc = None
            return True

    def status(self) -> BrokerStatus:
        pid = self._running_pid()
        return BrokerStatus(running=pid is not None, pid=pid, bootstrap=self.bootstrap, data_dir=self.data_dir)

    # --- internals --------------------------------------------------------------------

    def _running_pid(self) -> int | None:
        pid = read_pid(self.pid_file)
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
        text = "# Written by lineage.broker.local.LocalBroker on every start; edits are overwritten.\n"
        text += "".join(f"{key}={value}\n" for key, value in props.items())
        tmp = self.config_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.config_file)

    def _format_once(self, java: str, libs: Path) -> None:
        if (self.log_dirs / "meta.properties").exists():
            return
        cluster_id = self._cluster_id(java, libs)
        done = run_storage_tool(java, libs, ["format", "-t", cluster_id, "-c", str(self.config_file), "--ignore-formatted"])
        if done.returncode != 0:
            raise BrokerStartFailed(
                f"formatting the broker storage in {self.log_dirs} failed (exit {done.returncode}); delete "
                f"{self.data_dir} to start from scratch. Output:\n{tail_text(done.stdout)}"
            )

    def _cluster_id(self, java: str, libs: Path) -> str:
        # Kept beside the data: a half-finished first start retries with the same id.
        with contextlib.suppress(OSError):
            existing = self.cluster_id_file.read_text().strip()
            if _CLUSTER_ID.match(existing):
                return existing
        done = run_storage_tool(java, libs, ["random-uuid"])
        cluster_id = done.stdout.decode(errors="replace").strip().splitlines()[-1:] if done.returncode == 0 else []
        if not cluster_id or not _CLUSTER_ID.match(cluster_id[0]):
            raise BrokerStartFailed(
                f"`kafka.tools.StorageTool random-uuid` failed (exit {done.returncode}); check that {libs} holds "
                f"the Kafka jars (delete it to fetch again). Output:\n{tail_text(done.stdout)}"
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
            if answers(self.bootstrap, expected, deadline):
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
        send_signal(pid, signal.SIGTERM)
        if not self._wait_gone(pid, 15):
            send_signal(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)
        self.pid_file.unlink(missing_ok=True)

    def _log_tail(self) -> str:
        parts = []
        for path in (self.log_file, self.out_file):
            text = tail_file(path)
            if text:
                parts.append(f"--- last lines of {path} ---\n{text}")
        return "\n".join(parts) or f"(no broker output in {self.log_file} or {self.out_file})"
