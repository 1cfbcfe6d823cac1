"""`lineage serve` under a steady input: access exports and usage queries while it consumes.

    make bench  (after benchmarks.pipeline)  or  make bench-service
    python -m benchmarks.service [--events N] [--rate R] [--seconds S] [--out DIR]

Fresh topics, group and home folder on KAFKA_BOOTSTRAP_SERVERS or the local broker
(started if needed, then stopped again). N simulated events (default 1,000,000)
and 3,000 usage events of one known person spread among them; `lineage serve` as
a child process on a free loopback port, timed until it has caught up. Then R
events/s (default 2,000): a short baseline without callers, then S seconds
(default 60) with the person's access export called every 2 s and the top
components every 0.5 s, every call timed; the lag sampled from /api/consumer each
second and from the broker each 0.5 s, and timed back under half a second of
input afterwards. SIGTERM must stop the service with 0. Writes service-<N>.json
and .md, each figure with how it was measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from rich.console import Console

from benchmarks import feed
from benchmarks.pipeline import create_topics, delete_topics, topics_for
from benchmarks.service_report import markdown
from lineage import wiring
from lineage.settings import Settings
from producers.sdk import message_key
from producers.simulate import simulate
from schemas import models as m
from schemas import wire
from schemas.models import FAMILIES, topic_name
from schemas.registry import FileSchemaRegistry

console = Console(stderr=True)
PERSON = "bench.subject@deltabouw.nl"  # no simulated address looks like this (theirs carry a number)
REPO = Path(__file__).resolve().parent.parent
Samples = list[tuple[float, int | None]]  # (seconds since the phase started, total lag)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of all values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0


def person_messages(email: str, count: int, seed: int = 29) -> list[feed.Message]:
    """``count`` simulated usage events with ``email`` as the one who completed or updated the record."""
    registry = FileSchemaRegistry()
    out: list[feed.Message] = []
    for event in simulate(count * 2 + 1_000, seed=seed):  # after the tenants' set-up, 70% of the activity is usage
        if not isinstance(event, m.UsageActivity):
            continue
        env = event.envelope
        acting = m.PersonRole.last_updater if event.person(m.PersonRole.last_updater) else m.PersonRole.creator
        people = [m.Person(role=p.role, email=email) if p.role == acting else p for p in env.people]
        # Always in the EU: an event processed elsewhere is dead-lettered, and the export would miss it.
        env = env.model_copy(update={"event_id": uuid.uuid4(), "people": people, "processing_region": "NL"})
        event = event.model_copy(update={"envelope": env})
        value = wire.encode(registry.current(type(event)), event.model_dump())
        out.append(feed.Message(event.FAMILY, message_key(event), value))
        if len(out) == count:
            return out
    raise SystemExit(f"the simulation gave fewer than {count} usage events for the person")


def fill(bootstrap: str, prefix: str, pool: feed.Pool, total: int, person: list[feed.Message]) -> float:
    """Send ``total`` simulated messages with the person's spread evenly among them; seconds until acknowledged."""
    out = feed.producer(bootstrap)
    every, left = max(1, total // max(1, len(person))), iter(person)
    started = time.perf_counter()
    for i, msg in enumerate(feed.stream(pool, total), start=1):
        out.send(topic_name(prefix, msg.family), key=msg.key, value=msg.value)
        if i % every == 0 and (p := next(left, None)) is not None:
            out.send(topic_name(prefix, p.family), key=p.key, value=p.value)
    for p in left:
        out.send(topic_name(prefix, p.family), key=p.key, value=p.value)
    out.flush()
    seconds = time.perf_counter() - started
    out.close()
    return seconds


# --- the service, its API and its lag ---------------------------------------------------------


@dataclass
class Service:
    port: int
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str]  # role -> token

    def call(self, method: str, path: str, role: str = "", body: Any = None,
             timeout: float = 120) -> tuple[int, Any, float]:  # fmt: skip
        """Status, JSON answer and seconds from sending to the answer read; one connection per call."""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.tokens.get(role, '')}"}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            resp = conn.getresponse()
            status, raw = resp.status, resp.read()
        finally:
            conn.close()
        return status, json.loads(raw or b"null"), time.perf_counter() - started

    def lag(self) -> tuple[int | None, dict[str, Any]]:
        """Total lag as /api/consumer shows it (None when it knows none), and its whole answer."""
        status, body, _ = self.call("GET", "/api/consumer", "operator", timeout=10)
        ok = status == 200 and body and body.get("lag")
        return (sum(body["lag"].values()) if ok else None), (body or {})

    def flushes(self) -> tuple[float, float]:
        """Total seconds and count of the consumer's flushes so far, from its histogram on /metrics."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {self.tokens['operator']}"})
        text = conn.getresponse().read().decode()
        conn.close()
        name = "lineage_flush_latency_seconds"
        found = dict(line.split(" ", 1) for line in text.splitlines() if line.startswith(name))
        return float(found[f"{name}_sum"]), float(found[f"{name}_count"])

    def process(self) -> dict[str, float]:
        """CPU seconds so far and peak resident memory of the service's process, from /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{self.proc.pid}/status").read_text().splitlines()
        peak = next((int(x.split()[1]) * 1024 for x in status if x.startswith("VmHWM:")), 0)
        return {"cpu_seconds": (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), "rss_peak_bytes": peak}

    def stop(self) -> dict[str, Any]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return {"exit_code": self.proc.wait(timeout=60), "stop_seconds": time.monotonic() - started}
        except subprocess.TimeoutExpired:
            self.proc.kill()  # reported as its exit code (-9)
            return {"exit_code": self.proc.wait(), "stop_seconds": time.monotonic() - started}


LINEAGE = str(Path(sys.executable).parent / "lineage")  # the command the venv installs


def service_env(home: Path, prefix: str, group: str, port: int, bootstrap: str) -> dict[str, str]:
    # Only this run's settings: a LINEAGE_* or CLICKHOUSE_URL of the caller could point at a shared store.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_") and k != "CLICKHOUSE_URL"}
    return env | {
        "LINEAGE_HOME": str(home), "LINEAGE_PSEUDONYM_KEY": secrets.token_hex(32), "LINEAGE_OPERATOR": "benchmark",
        "LINEAGE_TOPIC_PREFIX": prefix, "LINEAGE_DEAD_LETTER_TOPIC": f"{prefix}.dead-letter",
        "LINEAGE_CONSUMER_GROUP": group, "LINEAGE_SERVE_HOST": "127.0.0.1", "LINEAGE_SERVE_PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LINEAGE_RETENTION_SCHEDULE": "off",  # a retention run inside the window would be another benchmark
    }  # fmt: skip


def create_token(env: dict[str, str], role: str) -> str:
    done = subprocess.run([LINEAGE, "token", "create", "--role", role, "--name", f"bench-{role}"],
                          env=env, cwd=REPO, capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.splitlines()[0].strip()


class Every(threading.Thread):
    """Calls ``fn`` every ``period`` seconds, one call at a time: a slow call delays the next, never overlaps it."""

    def __init__(self, period: float, fn: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.period, self.fn, self.stop = period, fn, stop
        self.errors: list[str] = []

    def run(self) -> None:
        started, n = time.monotonic(), 0
        while not self.stop.is_set():
            try:
                self.fn()
            except Exception as exc:  # recorded and reported: one failed call must not end the run
                self.errors.append(f"{type(exc).__name__}: {exc}")
            n += 1
            self.stop.wait(max(0.0, started + n * self.period - time.monotonic()))


# --- the measurement ----------------------------------------------------------------------------


def catch_up(svc: Service, expect: int, timeout: float) -> dict[str, Any]:
    started, out = time.monotonic(), {}
    while time.monotonic() - started < timeout:
        if svc.proc.poll() is not None:
            raise SystemExit(f"the service exited with {svc.proc.returncode} while catching up")
        try:
            if "listening_seconds" not in out and svc.call("GET", "/healthz", timeout=5)[0] == 200:
                out["listening_seconds"] = time.monotonic() - started
            lag, body = svc.lag() if "listening_seconds" in out else (None, {})
            if body.get("consumed", 0) >= expect:
                out.setdefault("consumed_seconds", time.monotonic() - started)
                if lag == 0:
                    keep = ("consumed", "stored", "dead_lettered", "suppressed", "restarts")
                    return out | {"seconds": time.monotonic() - started, **{k: body[k] for k in keep}}
        except OSError:
            pass  # not listening yet
        time.sleep(1.0)
    raise SystemExit(f"the service did not catch up with {expect:,} messages within {timeout:.0f} s")


def phase(svc: Service, bootstrap: str, prefix: str, group: str, pool: feed.Pool, rate: float, seconds: float,
          callers_on: bool) -> dict[str, Any]:  # fmt: skip
    """Send at ``rate`` for ``seconds`` (with the export and usage callers if asked); then until the lag is 0."""
    calls: dict[str, list[dict[str, float]]] = {"export": [], "usage": []}
    api_samples: Samples = []
    broker_samples: Samples = []
    # The lag asked of the broker directly too: the service caches its answer for 2 s, too coarse for a recovery
    # of a second or two. The same figure: the partitions' ends minus the group's committed offsets.
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="lineage-bench-lag")
    ends = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    partitions = [TopicPartition(topic_name(prefix, f), p) for f in FAMILIES
                  for p in sorted(ends.partitions_for_topic(topic_name(prefix, f)) or ())]  # fmt: skip

    def broker_lag() -> int:
        done, tops = admin.list_group_offsets({group: None}).get(group, {}), ends.end_offsets(partitions)
        return sum(tops[tp] - max(0, done[tp].offset if tp in done else 0) for tp in partitions)

    t0 = time.monotonic()

    def caller(name: str, method: str, path: str, role: str, body: Any = None) -> Callable[[], None]:
        def call() -> None:
            status, answer, s = svc.call(method, path, role, body)
            if status != 200:
                raise RuntimeError(f"{name} answered {status}: {answer}")
            calls[name].append({"ms": s * 1000, "events": answer.get("events", 0),
                                "server_ms": answer.get("seconds", 0) * 1000})  # the export says its own time

        return call

    stop_callers, stop_samplers = threading.Event(), threading.Event()
    export = caller("export", "POST", "/api/subjects/export", "privacy", {"email": PERSON})
    usage = caller("usage", "GET", "/api/usage/components?limit=10", "product")
    callers = {"export": Every(2.0, export, stop_callers), "usage": Every(0.5, usage, stop_callers)}
    callers = callers if callers_on else {}
    samplers = [Every(1.0, lambda: api_samples.append((time.monotonic() - t0, svc.lag()[0])), stop_samplers),
                Every(0.5, lambda: broker_samples.append((time.monotonic() - t0, broker_lag())), stop_samplers)]
    cpu_before, flushes_before = svc.process()["cpu_seconds"], svc.flushes()
    for t in [*samplers, *callers.values()]:
        t.start()
    sent = feed.send_at_rate(bootstrap, prefix, pool, rate, seconds)  # returns once all are acknowledged
    end = time.monotonic() - t0
    service_cpu = svc.process()["cpu_seconds"] - cpu_before
    flushes = [a - b for a, b in zip(svc.flushes(), flushes_before, strict=True)]
    stop_callers.set()
    for t in callers.values():
        t.join()
    callers_done = time.monotonic() - t0 - end
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(t >= end and lag == 0 for t, lag in broker_samples):
        time.sleep(0.25)
    time.sleep(2.0)  # a few samples more, so the service's cached view reaches 0 too
    stop_samplers.set()
    for t in samplers:
        t.join()
    admin.close()
    ends.close()

    def after(samples: Samples, limit: float) -> float | None:
        return next((t - end for t, lag in samples if t >= end and lag is not None and lag <= limit), None)

    broker_in = [lag for t, lag in broker_samples if t <= end and lag is not None]
    api_in = [lag for t, lag in api_samples if t <= end and lag is not None]
    out: dict[str, Any] = {
           "rate": rate, "seconds": seconds, "sent": sent, "achieved_rate": sent / end, "phase_seconds": end,
           "service_cores": service_cpu / end, "callers_done_after_seconds": callers_done, "flushes": flushes[1],
           "flush_mean_seconds": flushes[0] / flushes[1] if flushes[1] else None,
           "lag": {"threshold": rate * 0.5, "max_api": max(api_in, default=None),
                   "max_broker": max(broker_in, default=None), "mean_broker": sum(broker_in) / max(1, len(broker_in)),
                   "recovery_seconds_broker": after(broker_samples, rate * 0.5),
                   "recovery_seconds_api": after(api_samples, rate * 0.5),
                   "zero_seconds_broker": after(broker_samples, 0),
                   "errors": samplers[0].errors + samplers[1].errors,
                   "api_samples": api_samples, "broker_samples": broker_samples}}  # fmt: skip
    for name, thread in callers.items():
        ms = [c["ms"] for c in calls[name]]
        out[name] = {"count": len(ms), "p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99),
                     "max_ms": max(ms, default=0.0), "errors": thread.errors}  # fmt: skip
    if "export" in callers:
        out["export"] |= {"events": sorted({c["events"] for c in calls["export"]}),
                          "server_p50_ms": percentile([c["server_ms"] for c in calls["export"]], 0.5)}  # fmt: skip
    return out


def show_logs(tmp: Path) -> None:
    for f in (tmp / "serve.out", tmp / "home" / "lineage.log"):
        if f.exists():
            console.print(f"{f.name}:\n" + f.read_text(errors="replace")[-3000:], markup=False, highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="Simulated events stored before the window.")
    parser.add_argument("--person-events", type=int, default=3_000, help="Events of the person among them.")
    parser.add_argument("--rate", type=float, default=2_000, help="Input rate (events/s) in the baseline and window.")
    parser.add_argument("--seconds", type=float, default=60, help="Length of the window with callers.")
    parser.add_argument("--baseline-seconds", type=float, default=20, help="Length of the baseline without callers.")
    parser.add_argument("--pool", type=int, default=200_000,
                        help="Distinct simulated events; more are sent as copies with fresh event ids.")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="Folder for the files.")
    args = parser.parse_args()

    settings = Settings()
    started = time.perf_counter()
    r: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "events": args.events,
        "person_events": args.person_events, "expected": args.events + args.person_events,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
                    "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg())},
    }  # fmt: skip
    parts = wiring.Parts(settings)
    local = None if settings.kafka_bootstrap_servers else wiring.local_broker(settings)
    started_broker = local is not None and not local.status().running  # then stopped at the end, and only then
    bootstrap = parts.bootstrap(start_local=True)
    r["broker"] = f"broker {bootstrap}" + (" (local, started for this run)" if started_broker else "")
    prefix = f"bench{uuid.uuid4().hex[:6]}svc"
    group, names, svc = f"{prefix}-service", [], None
    with tempfile.TemporaryDirectory(prefix="lineage-bench-service-") as folder:
        tmp = Path(folder)
        try:
            names = create_topics(topics_for(settings, prefix), parts.policy, bootstrap)
            console.print(f"broker {bootstrap}; simulating a pool of {min(args.pool, args.events):,} events")
            pool = feed.build_pool(min(args.pool, args.events))
            person = person_messages(PERSON, args.person_events)
            console.print(f"[bold]filling[/] {args.events:,} events and {len(person):,} of {PERSON}")
            r["produce_seconds"] = fill(bootstrap, prefix, pool, args.events, person)
            with socket.socket() as sock:  # a free port: the default one may be a running service's
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            env = service_env(tmp / "home", prefix, group, port, bootstrap)
            tokens = {role: create_token(env, role) for role in ("product", "privacy", "operator")}
            with (tmp / "serve.out").open("wb") as log:
                console.print(f"[bold]lineage serve[/] on 127.0.0.1:{port}: catching up")
                svc = Service(port, subprocess.Popen([LINEAGE, "serve"], env=env, cwd=REPO, stdout=log,
                                                     stderr=log), tokens)  # fmt: skip
                r["catch_up"] = catch_up(svc, r["expected"], timeout=max(300.0, r["expected"] / 2_000))
                console.print(f"[bold]baseline[/]: {args.rate:,.0f} events/s for {args.baseline_seconds:.0f} s")
                r["baseline"] = phase(svc, bootstrap, prefix, group, pool, args.rate, args.baseline_seconds, False)
                console.print(f"[bold]window[/]: {args.rate:,.0f} events/s for {args.seconds:.0f} s, with callers")
                r["window"] = phase(svc, bootstrap, prefix, group, pool, args.rate, args.seconds, True)
                peak = svc.process()["rss_peak_bytes"]
                r["service"] = {**svc.stop(), "rss_peak_bytes": peak}
            if r["service"]["exit_code"] != 0:
                show_logs(tmp)
        finally:
            if svc is not None and svc.proc.poll() is None:  # a failed run: the service still holds the group
                svc.stop()
                show_logs(tmp)
            if names:
                delete_topics(bootstrap, names)
                admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="lineage-bench")
                try:  # the group's committed offsets: nothing reads them again
                    admin.delete_groups([group])
                except Exception as exc:  # a group still held (a service killed) expires on its own
                    console.print(f"consumer group {group} not deleted: {exc}")
                admin.close()
            if started_broker and local is not None:
                local.stop()
    r["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    r["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    n = args.events
    base = args.out / f"service-{f'{n // 10**6}m' if n % 10**6 == 0 else f'{n // 1000}k' if n % 1000 == 0 else n}"
    table = markdown(r)
    base.with_suffix(".json").write_text(json.dumps(r, indent=2))
    base.with_suffix(".md").write_text(table)
    print(table)
    console.print(f"written: {base}.json and .md ({r['seconds'] / 60:.1f} min)")
    if r["service"]["exit_code"] != 0:
        raise SystemExit(f"the service exited with {r['service']['exit_code']} on SIGTERM")


if __name__ == "__main__":
    main()
