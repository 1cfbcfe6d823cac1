"""People as the privacy officer names them: a business e-mail, checked and turned into a subject id."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from consumers.identity.pseudonym import Pseudonymizer, normalise_email
from consumers.rights.errors import InvalidEmail


@dataclass(frozen=True)
class Subject:
    email: str  # normalised: trimmed, lower-cased
    subject_id: str


def subject_of(email: str, pseudonyms: Pseudonymizer) -> Subject:
    """The person behind a business e-mail; raises InvalidEmail for anything that is not one."""
    normalised = normalise_email(email or "")
    try:
        # Syntax only: a request about an address that no longer receives mail is still a request.
        validate_email(normalised, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"{email!r} is not a valid e-mail address: {exc}") from None
    return Subject(normalised, pseudonyms.of_email(normalised))
