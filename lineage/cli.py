"""The `lineage` command: parse, call a function, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lineage.settings import Settings

app = typer.Typer(
    help="Engage Lineage: SaaS events through Kafka, tagged with purpose and legal basis, into ClickHouse.\n\n"
    "Configuration comes from environment variables: LINEAGE_<SETTING>, plus KAFKA_BOOTSTRAP_SERVERS and "
    "CLICKHOUSE_URL. See README.md.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
kafka_app = typer.Typer(help="The local single-node Kafka broker (KRaft) run from the Apache Kafka jars.",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(kafka_app, name="kafka")
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


@kafka_app.command("start")
def kafka_start() -> None:
    """Fetch the jars (first time only), format the storage and start the broker; waits until it answers."""
    from lineage.broker import BrokerError, LocalBroker
    from lineage.wiring import prepare_topics

    settings = _settings()
    try:
        with console.status("starting the local Kafka broker"):
            bootstrap = LocalBroker.from_settings(settings).start()
            prepare_topics(settings, bootstrap)
    except BrokerError as exc:
        raise _fail(str(exc)) from None
    console.print(bootstrap)


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the broker that `lineage kafka start` started, and nothing else."""
    from lineage.broker import LocalBroker

    stopped = LocalBroker.from_settings(_settings()).stop()
    console.print("stopped" if stopped else "not running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs, and its bootstrap address. Exit code 3 when it does not run."""
    from lineage.broker import LocalBroker

    status = LocalBroker.from_settings(_settings()).status()
    if status.running:
        console.print(f"running  pid {status.pid}  {status.bootstrap}")
    else:
        console.print(f"not running  ({status.bootstrap} when started)")
        raise typer.Exit(3)


@app.command()
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
    from lineage import wiring
    from lineage.demo import produce_simulation
    from producers.jsonl import JsonLinesError, read_events
    from producers.sdk import EventProducer

    if (simulate is None) == (from_jsonl is None):
        raise _fail("give exactly one of --simulate N or --from-jsonl FILE", code=2)
    settings = _settings()
    try:
        bootstrap = wiring.bootstrap_servers(settings)
    except wiring.NoBroker as exc:
        raise _fail(str(exc)) from None
    wiring.prepare_topics(settings, bootstrap)
    if simulate is not None:
        seconds = produce_simulation(settings, bootstrap, simulate, seed, console)
        console.print(f"produced {simulate:,} events in {seconds:.1f} s")
        return
    try:
        events = read_events(from_jsonl)  # type: ignore[arg-type]
    except JsonLinesError as exc:
        raise _fail(str(exc)) from None
    with EventProducer(bootstrap, settings.topic_prefix) as producer:
        futures = [producer.send(e) for e in events]
        producer.flush()
        for f in futures:
            f.get(timeout=30)
    console.print(f"produced {len(events):,} events from {from_jsonl}")


@app.command()
def consume(
    until_idle: Annotated[
        float | None, typer.Option("--until-idle", help="Stop once no message arrived for this many seconds.")
    ] = None,
) -> None:
    """Run the tagging consumer: validate, tag and store events; send what cannot be stored to the dead-letter topic."""
    from consumers.errors import MissingPseudonymKey, PolicyFileError
    from lineage import wiring
    from lineage.demo import consume as run_consume

    settings = _settings()
    try:
        bootstrap = wiring.bootstrap_servers(settings)
        wiring.prepare_topics(settings, bootstrap)
        stats = run_consume(settings, bootstrap, wiring.store(settings), until_idle, None, console)  # type: ignore[arg-type]
    except (wiring.NoBroker, MissingPseudonymKey, PolicyFileError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        console.print("stopped")
        return
    dead = ", ".join(f"{k} {v}" for k, v in stats.dead_lettered.items()) or "none"
    console.print(f"consumed {stats.consumed:,}: stored {stats.stored:,}, dead-lettered {dead}; "
                  f"{stats.events_per_second:,.0f} events/s")  # fmt: skip


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="How many events to simulate.", min=1)] = 100_000,
    seed: Annotated[int | None, typer.Option(help="Seed of the simulation (default: random).")] = None,
) -> None:
    """Start the local broker (unless KAFKA_BOOTSTRAP_SERVERS is set), simulate, produce, consume, and summarise."""
    from lineage.broker import BrokerError
    from lineage.demo import run_demo

    try:
        run_demo(_settings(), events, seed, console)
    except BrokerError as exc:
        raise _fail(str(exc)) from None


def main() -> None:
    app()
