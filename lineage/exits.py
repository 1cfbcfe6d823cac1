"""What each exit code of `lineage` means, and which failure gets which (README, Exit codes); the service
answers the same failures with HTTP statuses (``lineage.service.errors``).

Every command ends in one of these. A failure is one line on stderr, never a
traceback: an error nobody foresaw is written whole to the log file
(``<home>/lineage.log``) and told in one line with code 70.
"""

from __future__ import annotations

OK = 0
ERROR = 1  # configuration or set-up: a store URL, a policy file, a pseudonym key, the local broker, ...
USAGE = 2  # bad input: arguments, files, dates, a request the rights office refuses
NOT_RUNNING = 3  # the local broker is not running; an erasure could not purge the dead-letter topic yet
STORE = 4  # the store does not answer, is held by another process, or its disk is full
BROKER = 5  # the Kafka broker does not answer
NO_PARTITIONS = 6  # the consumer group handed this consumer no partitions within its bound
RECOVERY = 7  # the store and the topic disagree: a recorded flush cannot be read again, a topic was recreated
AUDIT = 8  # the audit chain does not verify: a row or a checkpoint was changed or removed
INTERNAL = 70  # an error nobody foresaw (EX_SOFTWARE); the trace is in the log file
INTERRUPTED = 130  # stopped with Ctrl-C


def code_of(exc: BaseException) -> int | None:
    """The exit code of a failure the commands expect, or None for one nobody foresaw."""
    # Imported here: the map names errors of every part, and `lineage --help` needs none of them.
    from kafka.errors import KafkaError

    from consumers.audit.errors import AuditError
    from consumers.identity.pseudonym import MissingPseudonymKey
    from consumers.pipeline.consumer import InstanceFenced
    from consumers.pipeline.errors import RecoveryError
    from consumers.pipeline.faults import BrokerUnavailable, NoPartitions
    from consumers.policy.errors import PolicyFileError
    from consumers.policy.terms import InvalidTerm
    from consumers.retention.errors import RetentionError
    from consumers.rights.errors import RightsError
    from consumers.store.driver import StoreError, StoreUnavailable
    from lineage.broker.errors import BrokerError
    from lineage.topics import TopicSetupFailed
    from lineage.wiring import NoBroker
    from producers.jsonl import JsonLinesError

    table: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int], ...] = (
        (StoreUnavailable, STORE),
        (StoreError, ERROR),
        ((BrokerUnavailable, NoBroker, KafkaError, TopicSetupFailed), BROKER),
        (NoPartitions, NO_PARTITIONS),
        (RecoveryError, RECOVERY),
        ((RightsError, RetentionError, JsonLinesError, InvalidTerm), USAGE),
        (AuditError, ERROR),
        ((PolicyFileError, MissingPseudonymKey, InstanceFenced, BrokerError), ERROR),
    )
    for kinds, code in table:
        if isinstance(exc, kinds):
            return code
    return None


def message_of(exc: BaseException) -> str:
    """The line a failure is told in: the error's own words, with what failed where they do not say it."""
    from kafka.errors import KafkaError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KafkaError):
        named = text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"
        return f"the Kafka broker does not answer ({named})"
    return text[:500] + ("..." if len(text) > 500 else "")
