"""`lineage produce`, `lineage consume` and `lineage demo`: events into Kafka, and through the tagging consumer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lineage import exits
from lineage.cli.context import console, err, fail, parts, settings


def produce(
    simulate: Annotated[int | None, typer.Option("--simulate", help="Simulate this many events.", min=1)] = None,
    from_jsonl: Annotated[
        Path | None,
        typer.Option("--from-jsonl", help="Events as JSON lines (the JSON form of the event models).", exists=True,
                     dir_okay=False, readable=True),
    ] = None,  # fmt: skip
    seed: Annotated[int | None, typer.Option(help="Seed of the simulation (default: random).")] = None,
) -> None:
    """Produce events to Kafka as Avro in the Confluent wire format."""
    from lineage.ingest import produce_simulation
    from producers.jsonl import JsonLinesError, read_events
    from producers.sdk import EventProducer

    if (simulate is None) == (from_jsonl is None):
        raise fail("give exactly one of --simulate N or --from-jsonl FILE", code=exits.USAGE)
    events = []
    if from_jsonl is not None:
        try:  # every line is checked before the broker is asked for anything
            events = read_events(from_jsonl)
        except JsonLinesError as exc:
            raise fail(str(exc), code=exits.USAGE) from None
    p = parts()
    bootstrap = p.bootstrap()
    p.prepare_topics(bootstrap)
    if simulate is not None:
        seconds = produce_simulation(p, bootstrap, simulate, seed, console)
        console.print(f"produced {simulate:,} events in {seconds:.1f} s")
        return
    with EventProducer(bootstrap, p.settings.topic_prefix) as producer:
        producer.send_and_wait(events)
    console.print(f"produced {len(events):,} events from {from_jsonl}")


def consume(
    until_idle: Annotated[
        float | None, typer.Option("--until-idle", help="Stop once no message arrived for this many seconds.")
    ] = None,
) -> None:
    """Run the tagging consumer: validate, tag and store events; send what cannot be stored to the dead-letter topic.

    Exit codes: 4 the store stayed unavailable, 5 the broker did, 6 no partitions came (with --until-idle),
    7 the store and a topic disagree (see README, Exit codes).
    """
    from lineage.ingest import consume as run_consume

    p = parts()
    # What is wrong in its own configuration is said before the broker and the store are asked.
    p.check_consumer_configuration()
    try:
        bootstrap = p.bootstrap()
        p.prepare_topics(bootstrap)
        with p.lineage_events.consumer() as run:
            stats = run_consume(p, bootstrap, until_idle, None, err, on_progress=run.progress)
            run.done(stats)
    except KeyboardInterrupt:
        console.print("stopped")
        return
    dead = ", ".join(f"{k} {v}" for k, v in stats.dead_lettered.items()) or "none"
    console.print(f"consumed {stats.consumed:,}: stored {stats.stored:,}, dead-lettered {dead}; "
                  f"{stats.events_per_second:,.0f} events/s")  # fmt: skip


def demo(
    events: Annotated[int, typer.Option(help="How many events to simulate.", min=1)] = 100_000,
    seed: Annotated[int | None, typer.Option(help="Seed of the simulation (default: random).")] = None,
) -> None:
    """Start the local broker (unless KAFKA_BOOTSTRAP_SERVERS is set), simulate, produce, consume, and summarise."""
    from lineage.broker.errors import BrokerError
    from lineage.demo import run_demo

    try:
        run_demo(settings(), events, seed, console)
    except BrokerError as exc:
        raise fail(str(exc)) from None
