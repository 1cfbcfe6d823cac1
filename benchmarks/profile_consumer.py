"""Where the tagging consumer spends its time: a sampling profile of one full-topic run.

    python -m benchmarks.profile_consumer [--events 200000] [--html FILE]

Fills fresh topics with simulated events, then runs the consumer in this process
under pyinstrument until it has processed them all, and prints the call tree
(time per function, children folded below 1%).
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from pathlib import Path

from pydantic import SecretStr
from pyinstrument import Profiler

from benchmarks import feed
from benchmarks.pipeline import create_topics, delete_topics, topics_for
from consumers.pipeline.consumer import TaggingConsumer
from lineage import wiring
from lineage.settings import Settings


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
            consumer = TaggingConsumer(wiring.consumer_config(settings, bootstrap), store, parts.policy)
            profiler = Profiler(interval=0.002)
            profiler.start()
            stats = consumer.run(max_messages=args.events, until_idle=30)
            profiler.stop()
            print(f"{stats.consumed:,} events in {stats.busy_seconds:.1f} s: {stats.events_per_second:,.0f} events/s")
            print(profiler.output_text(unicode=True, color=False, show_all=False, time="percent_of_total"))
            if args.html:
                args.html.write_text(profiler.output_html())
    finally:
        delete_topics(bootstrap, names)


if __name__ == "__main__":
    main()
