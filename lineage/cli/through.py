"""A command that the CLI on this machine sent to the running service, run there on the service's parts.

The command is the CLI's own code, so its output and exit code are those it would
have had with the store to itself. The service hands this function to its HTTP
layer (``lineage.service.cli_api``); commands run one at a time, as they write to
the CLI's shared consoles.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from typer.testing import CliRunner

from lineage.cli import context

if TYPE_CHECKING:
    from lineage.wiring import Parts

_one_at_a_time = threading.Lock()


def run_command(parts: Parts, argv: list[str], width: int) -> tuple[int, str, str]:
    """Run ``lineage <argv>`` on ``parts``; its exit code, standard output and standard error."""
    from lineage.cli import app

    with _one_at_a_time:
        widths = context.console.width, context.err.width
        context.console.width = context.err.width = width
        given = context.given_parts.set(parts)
        try:
            result = CliRunner().invoke(app, argv, prog_name="lineage")
        finally:
            context.given_parts.reset(given)
            context.console.width, context.err.width = widths
    return result.exit_code, result.stdout, result.stderr
