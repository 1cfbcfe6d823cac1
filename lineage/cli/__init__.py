"""The `lineage` command: parse, call a function, print. One module per command group."""

from __future__ import annotations

import sys

from lineage import exits
from lineage.cli import audit, dsr, incident, kafka, pipeline, retention, sar, service, usage
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
app.add_typer(incident.app, name="incident")
app.add_typer(audit.app, name="audit")
app.add_typer(retention.app, name="retention")
app.add_typer(usage.app, name="usage")
app.command()(usage.report)
app.command()(service.serve)
app.add_typer(service.tokens, name="token")


def _through_service(argv: list[str]) -> int | None:
    """The exit code of a store command run by the service holding the store; None to run it here."""
    from pydantic import ValidationError

    from lineage.service.local import ROUTED, route
    from lineage.settings import Settings

    if not argv or argv[0] not in ROUTED:
        return None
    try:
        found = Settings()
    except ValidationError:
        return None  # the command itself tells what is wrong with them
    return route(argv, found.home, found.operator)


def main() -> None:
    try:
        code = _through_service(sys.argv[1:])
        if code is not None:
            sys.exit(code)
        app()
    except Exception as exc:  # the last net, outside any command (the parser's own failure, say)
        fail(f"unexpected {type(exc).__name__}: {exc}", code=exits.INTERNAL)
        sys.exit(exits.INTERNAL)
