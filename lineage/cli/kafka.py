"""`lineage kafka`: the local single-node broker, and the pipeline's topics on any broker."""

from __future__ import annotations

import typer

from lineage.cli.context import LineageTyper, console, fail, parts, settings

app = LineageTyper(help="The local single-node Kafka broker (KRaft) run from the Apache Kafka jars.",
                  no_args_is_help=True)  # fmt: skip


@app.command("start")
def kafka_start() -> None:
    """Fetch the jars (first time only), format the storage and start the broker; waits until it answers."""
    from lineage.broker.errors import BrokerError
    from lineage.wiring import local_broker

    p = parts()
    try:
        with console.status("starting the local Kafka broker"):
            bootstrap = local_broker(p.settings).start()
            p.prepare_topics(bootstrap)
    except BrokerError as exc:
        raise fail(str(exc)) from None
    console.print(bootstrap)


@app.command("topics")
def kafka_topics() -> None:
    """Create the pipeline's topics where missing and apply the retention the policy gives them; list them."""
    from rich.table import Table


    p = parts()
    bootstrap = p.bootstrap()
    created = p.prepare_topics(bootstrap)
    table = Table(title=f"Topics on {bootstrap}", title_justify="left")
    for h in ("topic", "partitions", "retention", ""):
        table.add_column(h)
    for spec in p.topic_specs():
        days = int(spec.configs["retention.ms"]) // 86_400_000
        table.add_row(spec.name, str(spec.partitions), f"{days} days", "created" if spec.name in created else "")
    console.print(table)


@app.command("stop")
def kafka_stop() -> None:
    """Stop the broker that `lineage kafka start` started, and nothing else."""
    from lineage.wiring import local_broker

    stopped = local_broker(settings()).stop()
    console.print("stopped" if stopped else "not running")


@app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs, and its bootstrap address. Exit code 3 when it does not run."""
    from lineage.wiring import local_broker

    status = local_broker(settings()).status()
    if status.running:
        console.print(f"running  pid {status.pid}  {status.bootstrap}")
    else:
        console.print(f"not running  ({status.bootstrap} when started)")
        raise typer.Exit(3)
