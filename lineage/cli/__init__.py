"""The `lineage` command: parse, call a function, print. One module per command group."""

from __future__ import annotations

import sys

from lineage.cli import dsr, exits, kafka, pipeline, retention, sar, usage
from lineage.cli.context import LineageTyper, fail

app = LineageTyper(
    help="Engage Lineage: SaaS events through Kafka, tagged with purpose and legal basis, into ClickHouse.\n\n"
    "Configuration comes from environment variables: LINEAGE_<SETTING>, plus KAFKA_BOOTSTRAP_SERVERS and "
    "CLICKHOUSE_URL. See README.md.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(kafka.app, name="kafka")
app.command()(pipeline.produce)
app.command()(pipeline.consume)
app.command()(pipeline.demo)
app.add_typer(sar.app, name="sar")
app.add_typer(dsr.app, name="dsr")
app.add_typer(retention.app, name="retention")
app.add_typer(usage.app, name="usage")
app.command()(usage.report)


def main() -> None:
    try:
        app()
    except Exception as exc:  # the last net, outside any command (the parser's own failure, say)
        fail(f"unexpected {type(exc).__name__}: {exc}", code=exits.INTERNAL)
        sys.exit(exits.INTERNAL)
