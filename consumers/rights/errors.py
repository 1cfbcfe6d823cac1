"""Why a rights request cannot go ahead. Each is raised before anything changes."""

from __future__ import annotations


class RightsError(Exception):
    """A request the rights office refuses as given; the message says what to do instead."""


class InvalidContact(RightsError):
    """The person is not named by exactly one valid e-mail or phone number."""


class InvalidEmail(InvalidContact):
    """The text is not a usable business e-mail address."""


class MissingOperator(RightsError):
    """No operator identity for the access log: set LINEAGE_OPERATOR or pass --operator."""


class ExportFolderRefused(RightsError):
    """The output folder is outside the allowed base, or already holds something."""


class UnknownPurpose(RightsError):
    """The purpose is not in the policy, or is not one a person can object to."""


class UnknownField(RightsError):
    """Rectification names a field that is not a stored identifier."""


class SubjectUnderErasure(RightsError):
    """The person was erased, or their erasure is under way: nothing else can be done for them."""


class UnknownRequest(RightsError):
    """No registered request has this id, or it is for another person or right."""


class ExportNotFound(RightsError):
    """No export of that name is in the export folder."""


class RequestClosed(RightsError):
    """The request is already completed or refused."""


class InvalidExtension(RightsError):
    """An extension must have a reason and be told to the person within the first month (Art. 12(3))."""


class InvalidRefusal(RightsError):
    """A refusal must record its reason (Art. 12(4))."""


class ErasureNotVerified(RightsError):
    """After erasing, the person's data could still be read from the store or the dead-letter topic."""
