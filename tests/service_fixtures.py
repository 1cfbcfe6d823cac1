"""A real `lineage serve` in a child process, on a loopback port, with its own home, topics and group.

The service is started the way a user starts it (the `lineage` script), on the
session's broker; it holds its own embedded store (a child process may, the test
process's engine is elsewhere). Calls go over real HTTP.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import free_port
from pipeline_fixtures import TEST_KEY
from scenario import known_scenario

from producers.sdk import EventProducer
from producers.simulate import simulate
from schemas.models import Event

LINEAGE = str(Path(sys.executable).with_name("lineage"))


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def call(url: str, method: str = "GET", token: str | None = None, body: Any = None, timeout: float = 120) -> Answer:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read(), dict(exc.headers))


@dataclass
class RunningService:
    home: Path
    bootstrap: str
    extra: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"svc{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
        env.update({
            "LINEAGE_HOME": str(self.home), "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "LINEAGE_TOPIC_PREFIX": self.prefix, "LINEAGE_DEAD_LETTER_TOPIC": f"{self.prefix}.dead-letter",
            "LINEAGE_CONSUMER_GROUP": f"{self.prefix}-tagger", "LINEAGE_CLICKHOUSE_DATABASE": self.prefix,
            "LINEAGE_PSEUDONYM_KEY": TEST_KEY, "LINEAGE_SERVE_PORT": str(self.port),
            "LINEAGE_OPERATOR": "officer@engage.test", "LINEAGE_RETENTION_SCHEDULE": "off",
            "LINEAGE_BATCH_MAX_SECONDS": "0.1", "COLUMNS": "200", **self.extra,
        })  # fmt: skip
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_file(self) -> Path:
        return self.home / "serve" / "access.json"

    def start(self, timeout: float = 90) -> RunningService:
        self.process = subprocess.Popen([LINEAGE, "serve"], env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited with {self.process.returncode}: {self.process.stdout.read()}")
            if self.access_file.exists():
                try:
                    if call(f"{self.url}/healthz", timeout=2).status == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.2)
        self.process.kill()
        raise AssertionError(f"the service did not listen within {timeout} s: {self.process.stdout.read()}")

    def stop(self, timeout: float = 30) -> tuple[int, float, str]:
        """SIGTERM; the exit code, the seconds it took, and what the service printed."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return self.process.returncode, time.monotonic() - began, out

    def lineage(self, *args: str, timeout: float = 180, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([LINEAGE, *args], env={**self.env, **extra}, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    def token(self, role: str) -> str:
        if role not in self.tokens:
            made = self.lineage("token", "create", "--role", role, "--name", f"{role}-tester")
            assert made.returncode == 0, made.stderr
            self.tokens[role] = made.stdout.splitlines()[0].strip()
        return self.tokens[role]

    def local_token(self) -> str:
        return json.loads(self.access_file.read_text())["token"]

    def call(self, path: str, role: str | None = None, method: str = "GET", body: Any = None,
             token: str | None = None) -> Answer:  # fmt: skip
        return call(self.url + path, method, token or (self.token(role) if role else None), body)

    def produce(self, events: Iterable[Event]) -> int:
        with EventProducer(self.bootstrap, self.prefix) as producer:
            return producer.send_and_wait(events)

    def consumer(self) -> dict[str, Any]:
        answer = self.call("/api/consumer", "operator")
        assert answer.status == 200, answer.text
        return answer.json()

    def wait_consumed(self, n: int, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            seen = self.consumer()
            if seen["consumed"] >= n and not any(seen["lag"].values()):
                return seen
            time.sleep(0.5)
        raise AssertionError(f"the service consumed {seen.get('consumed')} of {n} in {timeout} s: {seen}")


@contextlib.contextmanager
def fed_service(home: Path, bootstrap: str, simulated: int, seed: int, days: int) -> Iterator[RunningService]:
    """A running service that has consumed the known scenario and ``simulated`` events of the last ``days``."""
    svc = RunningService(home, bootstrap).start()
    try:
        events = [s.event for s in known_scenario()]
        events += list(simulate(simulated, seed=seed, days=days, end=dt.datetime.now(dt.UTC), fault_rate=0.01))
        svc.produce(events)
        svc.wait_consumed(len(events))
        yield svc
    finally:
        svc.stop()


def store_counts(home: Path, database: str) -> tuple[int, int]:
    """Events stored, and events stored more than once (by source position), read by a process of its own."""
    code = ("import clickhouse_connect, sys; c = clickhouse_connect.get_client(interface='chdb', path=sys.argv[1], "
            "database=sys.argv[2]); print(c.command('SELECT count() FROM events'), c.command('SELECT count() FROM "
            "(SELECT source_topic, source_partition, source_offset FROM events GROUP BY 1, 2, 3 "
            "HAVING count() > 1)'))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, str(home / "store"), database], capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    return int(out[0]), int(out[1])
