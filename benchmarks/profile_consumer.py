"""Where the tagging consumer spends its time: a sampling profile of one full-topic run.

    python -m benchmarks.profile_consumer [--events 200000] [--html FILE]

Fills fresh topics with simulated events, then runs the consumer in this process
until it has processed them all, and prints two things. The consumer's own thread
(reading, staging, taking finished flushes) under pyinstrument, as a call tree
(time per function, children folded below 1%); and the flush writer's thread,
whose time is the store's: the wall time of every statement it sent, summed by
kind. The two threads run at once, so the writer's time is not part of the tree.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from pydantic import SecretStr
from pyinstrument import Profiler

from benchmarks import feed
from benchmarks.pipeline import create_topics, delete_topics, topics_for
from consumers.pipeline.consumer import TaggingConsumer
from consumers.store.store import Store
from lineage import wiring
from lineage.settings import Settings


def time_statements(store: Store) -> tuple[Counter[str], Counter[str]]:
    """Wrap the store's calls: (seconds, calls) per statement kind, its first words with scratch names folded."""
    seconds: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for name in ("command", "rows", "insert", "insert_encoded", "append"):
        call = getattr(store, name)

        def timed(*args, _call=call, _name=name, **kwargs):
            kind = f"{_name}: " + re.sub(r"_[0-9a-f]{12}", "_…", re.sub(r"\s+", " ", str(args[0]))[:70])
            started = time.perf_counter()
            try:
                return _call(*args, **kwargs)
            finally:
                seconds[kind] += time.perf_counter() - started
                calls[kind] += 1

        setattr(store, name, timed)
    return seconds, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--html", type=Path, help="Also write pyinstrument's interactive page here.")
    args = parser.parse_args()

    base = Settings()
    parts = wiring.Parts(base)
    bootstrap = parts.bootstrap(start_local=True)
    prefix = f"profile{uuid.uuid4().hex[:6]}"
    settings = topics_for(base, prefix).model_copy(update={"consumer_group": prefix, "pseudonym_key": SecretStr("profile-key")})
    names = create_topics(settings, parts.policy, bootstrap)
    try:
        feed.fill(bootstrap, prefix, feed.build_pool(min(args.pool, args.events)), args.events)
        with tempfile.TemporaryDirectory(prefix="lineage-profile-") as tmp:
            store = wiring.open_store(f"chdb://{tmp}", "profile", parts.policy)
            seconds, calls = time_statements(store)
            consumer = TaggingConsumer(wiring.consumer_config(settings, bootstrap), store, parts.policy)
            profiler = Profiler(interval=0.002)
            profiler.start()
            stats = consumer.run(max_messages=args.events, until_idle=30)
            profiler.stop()
            print(f"{stats.consumed:,} events in {stats.busy_seconds:.1f} s: {stats.events_per_second:,.0f} events/s"
                  f" ({stats.bulk:,} through the bulk path, {stats.batches} flushes)")  # fmt: skip
            print(f"\nThe consumer's thread ({threading.main_thread().name}):")
            print(profiler.output_text(unicode=True, color=False, show_all=False, time="percent_of_total"))
            print(f"The store's statements, nearly all the flush writer's ({sum(seconds.values()):.2f} s in all), by kind:")
            for kind, spent in seconds.most_common(20):
                print(f"{spent:8.3f} s {calls[kind]:6d}x  {kind}")
            if args.html:
                args.html.write_text(profiler.output_html())
    finally:
        delete_topics(bootstrap, names)


if __name__ == "__main__":
    main()
