"""`lineage serve` and `lineage token`: the long-running service, and who may call it."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from lineage import exits
from lineage.cli.context import LineageTyper, console, fail, settings

tokens = LineageTyper(help="API tokens of the service: each has a name (the operator in the access log) and one "
                      "role: product (usage and the report), privacy (data-subject requests) or operator "
                      "(retention, status, metrics). Only a hash of each token is kept, in LINEAGE_TOKENS_FILE.",
                      no_args_is_help=True)  # fmt: skip


def serve(
    no_consume: Annotated[bool, typer.Option("--no-consume", help="Serve without the tagging consumer.")] = False,
) -> None:
    """Run the service: the tagging consumer, retention daily at LINEAGE_RETENTION_SCHEDULE (Europe/Amsterdam), and
    the HTTP API and pages on LINEAGE_SERVE_HOST:LINEAGE_SERVE_PORT (default 127.0.0.1:8787).

    While it runs, the usage, report, sar, dsr and retention commands go through it. SIGTERM or Ctrl-C stops it
    cleanly: what it consumed is flushed and committed first. Exit codes: 1 the address is in use or the
    configuration is wrong, 4 the store is held by another process.
    """
    from lineage.cli.through import run_command
    from lineage.service.server import PortInUse, serve as run

    found = settings()
    stderr = logging.StreamHandler()
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("lineage", "uvicorn.error"):
        logging.getLogger(name).addHandler(stderr)
    try:
        run(found, consume=not no_consume, commands=run_command, on_ready=lambda url: console.print(
            f"serving on {url} (API docs at {url}/docs); stop with Ctrl-C or SIGTERM"))  # fmt: skip
    except PortInUse as exc:
        raise fail(str(exc), code=exits.ERROR) from None
    console.print("stopped")


@tokens.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help="product, privacy or operator.")],
    name: Annotated[str, typer.Option("--name", help="Who or what holds it; the operator in the access log.")],
) -> None:
    """Make a token and print it, once: only its hash is kept."""
    from lineage.service.tokens import Role, TokenBook, TokenError

    try:
        token = TokenBook(settings().tokens_path).create(name, Role(role))
    except ValueError:
        raise fail(f"--role is product, privacy or operator, not {role!r}", code=exits.USAGE) from None
    except TokenError as exc:
        raise fail(str(exc), code=exits.USAGE) from None
    console.print(token, soft_wrap=True, highlight=False)
    console.print(f"[dim]token {name!r} ({role}); it is not shown again[/]", highlight=False)


@tokens.command("list")
def token_list() -> None:
    """The tokens: name, role, made at (never the token)."""
    from rich.table import Table

    from lineage.service.tokens import TokenBook, TokenError

    try:
        found = TokenBook(settings().tokens_path).tokens()
    except TokenError as exc:
        raise fail(str(exc)) from None
    table = Table(title="API tokens", title_justify="left")
    for h in ("name", "role", "created"):
        table.add_column(h)
    for t in found:
        table.add_row(t.name, t.role.value, t.created_at)
    console.print(table if found else "no tokens yet: `lineage token create --role ... --name ...`")


@tokens.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: the service refuses it from its next call on."""
    from lineage.service.tokens import TokenBook, TokenError

    try:
        gone = TokenBook(settings().tokens_path).revoke(name)
    except TokenError as exc:
        raise fail(str(exc), code=exits.USAGE) from None
    console.print(f"revoked {gone.name} ({gone.role.value})")
