"""Producing simulated events and running the tagging consumer, with progress shown.

Shared by `lineage produce`, `lineage consume` and the demo.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from consumers.pipeline.consumer import ConsumeStats
from lineage.wiring import Parts
from producers.sdk import EventProducer
from producers.simulate import simulate


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def produce_simulation(parts: Parts, bootstrap: str, n: int, seed: int | None, console: Console) -> float:
    """Simulate ``n`` events and send them; returns the seconds it took."""
    seed = seed if seed is not None else time.time_ns() % 2**32
    started = time.perf_counter()
    with EventProducer(bootstrap, parts.settings.topic_prefix) as producer, progress_bar(console) as bar:
        task = bar.add_task(f"producing {n:,} simulated events (seed {seed})", total=n)
        for i, event in enumerate(simulate(n, seed=seed), start=1):
            producer.send(event)
            if i % 1000 == 0 or i == n:
                bar.update(task, completed=i)
        producer.flush()
    return time.perf_counter() - started


def consume(parts: Parts, bootstrap: str, until_idle: float | None, expect: int | None, console: Console,
            on_progress: Callable[[ConsumeStats], None] | None = None) -> ConsumeStats:  # fmt: skip
    """Run the tagging consumer until it is idle for ``until_idle`` seconds (or stopped), showing its progress.

    Its changes of state (the store or the broker gone, and back) are printed as they happen; ``on_progress``
    hears its counts too (the run's lineage events).
    """
    consumer = parts.consumer(bootstrap, report=lambda message: console.print(f"[yellow]{message}[/]"))
    # Ctrl-C or a SIGTERM (docker stop) ends the run at the next poll, with what it holds flushed.
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    previous = {sig: signal.signal(sig, lambda *_: consumer.stop()) for sig in signals}
    try:
        with progress_bar(console) as bar:
            task = bar.add_task("consuming, tagging, storing", total=expect)

            def progress(stats: ConsumeStats) -> None:
                bar.update(task, completed=stats.consumed)
                if on_progress is not None:
                    on_progress(stats)

            return consumer.run(until_idle=until_idle, on_progress=progress)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
