"""What every command shares: the consoles, the settings and parts, the operator option, and how a failure is told.

Commands are registered through ``LineageTyper``, which guards each one: a failure
it expects (``exits.code_of``) becomes one line and its exit code, and one nobody
foresaw is logged whole to the log file and told in one line with code 70. No
traceback reaches the terminal.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from lineage import logs
from lineage import exits
from lineage.settings import Settings

if TYPE_CHECKING:
    from lineage.wiring import Parts

console = Console()
err = Console(stderr=True)
log = logging.getLogger("lineage.cli")

Operator = Annotated[str | None, typer.Option("--operator", help="Who you are, for the access log "
                                              "(default: LINEAGE_OPERATOR).")]  # fmt: skip


# Set by the service while it runs a command the CLI sent it: the command then uses the service's parts.
given_parts: ContextVar[Parts | None] = ContextVar("given_parts", default=None)


def settings() -> Settings:
    """The settings, from the environment: built once per command, here at the edge."""
    if (given := given_parts.get()) is not None:
        return given.settings
    try:
        found = Settings()
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise fail(f"the environment's settings are not valid: {where}", code=exits.USAGE) from None
    logs.configure(found.home)
    return found


def parts() -> Parts:
    """The parts of this command, built from the settings on first use (``lineage.wiring.Parts``)."""
    if (given := given_parts.get()) is not None:
        return given
    # Imported here: `lineage --help` need not load the store, the broker client and the policy.
    from lineage.wiring import Parts

    return Parts(settings())


def fail(message: str, code: int = exits.ERROR) -> typer.Exit:
    """Print one clear line on stderr; raise the returned Exit to end the command with ``code``."""
    err.print(f"[red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def _guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own: a usage error, an exit
            raise
        except KeyboardInterrupt:
            raise fail("stopped", code=exits.INTERRUPTED) from None
        except Exception as exc:
            code = exits.code_of(exc)
            if code is not None:
                raise fail(exits.message_of(exc), code=code) from None
            log.exception("unexpected error in `lineage %s`", command.__name__)
            raise fail(f"unexpected {type(exc).__name__}: {exits.message_of(exc)} (the trace is in "
                       f"{logs.FILE_NAME} in the home folder, LINEAGE_HOME; please report it)",
                       code=exits.INTERNAL) from None  # fmt: skip
        finally:
            _seal()

    return run


def _seal() -> None:
    """Seal the audit rows the command wrote (consumers/audit), whether it succeeded or not."""
    wiring = sys.modules.get("lineage.wiring")  # not loaded: the command opened no store
    if wiring is None:
        return
    for line in wiring.seal_open_trails():
        err.print(f"[yellow]warning:[/] {line}", soft_wrap=True)
        log.warning(line)


class LineageTyper(typer.Typer):
    """A Typer whose commands never let a traceback through (see the module's docstring)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            register(_guarded(function))
            return function

        return decorator
