"""What every command shares: the consoles, the settings and parts, the operator option, and how a failure is told."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from lineage.settings import Settings

if TYPE_CHECKING:
    from lineage.wiring import Parts

console = Console()
err = Console(stderr=True)

Operator = Annotated[str | None, typer.Option("--operator", help="Who you are, for the access log "
                                              "(default: LINEAGE_OPERATOR).")]  # fmt: skip


def settings() -> Settings:
    """The settings, from the environment: built once per command, here at the edge."""
    return Settings()


def parts() -> Parts:
    """The parts of this command, built from the settings on first use (``lineage.wiring.Parts``)."""
    # Imported here: `lineage --help` need not load the store, the broker client and the policy.
    from lineage.wiring import Parts

    return Parts(settings())


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear line on stderr; raise the returned Exit to end the command with ``code``."""
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(code)
