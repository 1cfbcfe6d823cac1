"""People as the privacy officer names them: a business e-mail, or a phone number where no e-mail was
collected (a trial applicant), checked and turned into a subject id by the consumer's own pseudonymiser."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from consumers.identity.pseudonym import Pseudonymizer, normalise_email
from consumers.rights.errors import InvalidContact, InvalidEmail
from schemas.phone import InvalidPhone, normalise_phone


@dataclass(frozen=True)
class Contact:
    """A person named by exactly one of a business e-mail or a phone number."""

    email: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        if bool(self.email) == bool(self.phone):
            raise InvalidContact("name the person by exactly one of an e-mail (--email) or a phone number (--phone)")


# A bare string names a person by e-mail, as every command did before phone numbers.
Who = str | Contact


@dataclass(frozen=True)
class Subject:
    contact: str  # the e-mail trimmed and lower-cased, or the phone number in E.164
    subject_id: str
    # The same person under another id: a phone number an event gave with their e-mail, known alone
    # elsewhere (a trial applicant who later subscribed), or the e-mail an event gave with their number.
    linked: tuple[str, ...] = ()
    linked_contacts: tuple[str, ...] = ()

    @property
    def by_phone(self) -> bool:
        return "@" not in self.contact

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.subject_id, *self.linked)

    @property
    def contacts(self) -> tuple[str, ...]:
        return (self.contact, *self.linked_contacts)


def subject_of(who: Who, pseudonyms: Pseudonymizer) -> Subject:
    """The person behind an e-mail or phone number; InvalidEmail or InvalidPhoneNumber for anything else."""
    contact = who if isinstance(who, Contact) else Contact(email=who or " ")
    if contact.phone:
        try:
            number = normalise_phone(contact.phone)
        except InvalidPhone as exc:
            raise InvalidPhoneNumber(f"{contact.phone!r} is {exc}") from None
        return Subject(number, pseudonyms.of_phone(number))
    normalised = normalise_email(contact.email or "")
    try:
        # Syntax only: a request about an address that no longer receives mail is still a request.
        validate_email(normalised, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"{contact.email!r} is not a valid e-mail address: {exc}") from None
    return Subject(normalised, pseudonyms.of_email(normalised))


class InvalidPhoneNumber(InvalidContact):
    """The phone number given cannot be read as one."""
