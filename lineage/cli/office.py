"""The rights office as the sar and dsr commands reach it: the options naming a person and a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lineage.cli.context import fail, parts

if TYPE_CHECKING:
    from consumers.rights.identity import Contact
    from consumers.rights.office import RightsOffice
    from lineage.wiring import Parts

Email = Annotated[str | None, typer.Option("--email", help="The person's business e-mail (trimmed and lower-cased).")]
Phone = Annotated[str | None, typer.Option("--phone", help="Or their phone number, where no e-mail was "
                                           "collected (a trial); any spelling, Dutch without a country code.")]
RequestId = Annotated[str | None, typer.Option("--request", help="Answer this registered request "
                                               "(default: register a new one, received now).")]  # fmt: skip


def who(email: str | None, phone: str | None) -> Contact:
    """The person named by exactly one of --email and --phone, or a clear error (exit code 2)."""
    from consumers.rights.errors import InvalidContact
    from consumers.rights.identity import Contact

    try:
        return Contact(email=email, phone=phone)
    except InvalidContact as exc:
        raise fail(str(exc), code=2) from None


def rights_office(operator: str | None, on: Parts | None = None) -> RightsOffice:
    """The rights office on the configured store (of ``on``, the command's parts, if given), or a clear error
    (exit code 1) when it cannot be built."""
    from consumers.identity.pseudonym import MissingPseudonymKey
    from consumers.rights.errors import RightsError

    try:
        return (on or parts()).rights_office(operator)
    except (RightsError, MissingPseudonymKey) as exc:
        raise fail(str(exc)) from None


def rights_call(fn, *args, **kwargs):
    """Run an office call, turning a refused request into a clear error and exit code 2."""
    from consumers.rights.errors import RightsError

    try:
        return fn(*args, **kwargs)
    except RightsError as exc:
        raise fail(str(exc), code=2) from None
