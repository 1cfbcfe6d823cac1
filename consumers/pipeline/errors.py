"""Why the consumer refuses to store a message that passed the contract."""

from __future__ import annotations

from schemas.errors import RejectedMessage


class NoPolicyEntry(RejectedMessage):
    """No rule of the policy file covers this event type (or these attribute values)."""

    code = "no_policy_entry"


class ProcessingFailed(RejectedMessage):
    """Something no rule foresaw went wrong with this message; the consumer's log has the trace.

    The message is kept on the dead-letter topic, so it can be replayed once the fault is fixed.
    """

    code = "processing_failed"


class PolicyViolation(RejectedMessage):
    """The event breaks the policy; ``code`` says which promise it would break."""

    code = "policy_violation"


class ProcessedOutsideEU(PolicyViolation):
    """Statement section 5: all data is processed inside the EU."""

    code = "outside_eu"


class NoMarketingConsent(PolicyViolation):
    """Activity F2: direct marketing is never sent without consent given beforehand."""

    code = "no_marketing_consent"


class SuppressedEvent(Exception):
    """A valid event the pipeline must not store because of a person's choice.

    Not a dead letter: nothing is wrong with the message, and a copy on the
    dead-letter topic would keep exactly the data the person asked to stop.
    """

    code = "suppressed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SubjectErased(SuppressedEvent):
    """Every person of the event was erased; a tombstone keeps them from coming back."""

    code = "subject_erased"


class PurposeStopped(SuppressedEvent):
    """Every purpose of the event is stopped for its person: an objection (Art. 21) or an opt-out."""

    code = "objection"


class RecoveryError(Exception):
    """A flush recorded before a crash cannot be rebuilt: its messages are no longer on the topic.

    The consumer stops rather than skip the range: its offsets stay uncommitted, and the
    rows it may have written stay as they are, until an operator decides.
    """
