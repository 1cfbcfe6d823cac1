"""From one Kafka message to rows: decode, validate, pseudonymise, tag.

Every outcome is rows appended to the batch, a dead letter with the typed
reason, or a suppression a person's choice demands (erased, objected, opted
out); nothing is stored untagged, and no error stops the consumer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from consumers.identity.pseudonym import Pseudonymizer
from consumers.pipeline.batch import DeadLetter, PartitionBatch, Suppression
from consumers.pipeline.consent import LEDGER_EVENT_TYPES
from consumers.pipeline.errors import ProcessingFailed, SubjectErased, SuppressedEvent
from consumers.pipeline.tagging import Tagger
from consumers.store.controls import ControlSet
from schemas.errors import RejectedMessage
from schemas.models import Event, PersonRole, identifier_fields
from schemas.reader import EventReader, Shape
from schemas.registry import FileSchemaRegistry

log = logging.getLogger(__name__)

# Who "acted" in an event, for activity counts: the first role present wins.
_ACTOR_ROLES = tuple(r.value for r in (PersonRole.actor, PersonRole.last_updater, PersonRole.creator))
# Whose identifiers the payload's name and phone fields are.
_PRIMARY_ROLES = tuple(r.value for r in (PersonRole.subject, PersonRole.participant, PersonRole.contact,
                                         PersonRole.recipient))  # fmt: skip
# Whose consent a mailing needs.
_CONSENT_ROLES = frozenset(r.value for r in (PersonRole.recipient, PersonRole.subject))


@dataclass(frozen=True, slots=True)
class Outcome:
    """Why a message was not stored: a dead letter, or a suppression a person's choice demands."""

    dead_letter: bool
    reason: str


@cache
def _payload_fields(model: type[Event]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fields that identify nobody, fields that are direct identifiers) of a model's payload."""
    idents = identifier_fields(model)
    plain = tuple(n for n in model.model_fields if n not in idents and n not in ("envelope", "components"))
    return plain, tuple(n for n in model.model_fields if n in idents)


class MessageProcessor:
    def __init__(
        self,
        registry: FileSchemaRegistry,
        tagger: Tagger,
        pseudonyms: Pseudonymizer,
        consumer_version: str,
        controls: Callable[[], ControlSet] = ControlSet,
    ) -> None:
        self.reader = EventReader(registry)
        self.tagger = tagger
        self.pseudonyms = pseudonyms
        self.consumer_version = consumer_version
        self.controls = controls

    def process(
        self,
        batch: PartitionBatch,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]],
        ingested_at: dt.datetime,
    ) -> Outcome | None:
        """Append the message's rows to the batch; returns why it was not stored, or None if it was.

        Never raises for anything about the message: it ends stored, dead-lettered or suppressed.
        """
        schema_id, event_type, stage = 0, "", "decoding"
        try:
            shape, record = self.reader.decode(value or b"")
            schema_id = shape.schema.id
            stage = "validating"
            claimed = record["envelope"]["event_type"]
            # Only a type the schema knows is recorded: a broken producer may put anything there.
            event_type = claimed if claimed in shape.model.EVENT_TYPES else ""
            self.reader.check(shape, record)
            stage = "tagging"
            self._append(batch, shape, record, offset, ingested_at)
            return None
        except SuppressedEvent as exc:
            batch.suppressed.append(Suppression(offset, exc.code, event_type))
            return Outcome(False, exc.code)
        except RejectedMessage as exc:
            batch.dead_letters.append(
                DeadLetter(offset, key, value, headers, exc.code, exc.detail, schema_id, event_type)
            )
            return Outcome(True, exc.code)
        except Exception as exc:
            # The boundary of one message: whatever else goes wrong with it (a bug, a value no rule
            # foresaw) makes it a dead letter, never a stop of the partition. The type and the stage
            # only: a message of the exception may quote the payload.
            log.warning("offset %s of %s/%s failed while %s", offset, batch.topic, batch.partition, stage,
                        exc_info=True)  # fmt: skip
            failed = ProcessingFailed(f"{type(exc).__name__} while {stage}")
            batch.dead_letters.append(
                DeadLetter(offset, key, value, headers, failed.code, failed.detail, schema_id, event_type)
            )
            return Outcome(True, failed.code)
        finally:
            batch.last_offset = offset

    def _append(
        self, batch: PartitionBatch, shape: Shape, record: dict[str, Any], offset: int, ingested_at: dt.datetime
    ) -> None:
        """Work out every row of one event first, then add them all: a failure half-way adds nothing."""
        env = record["envelope"]
        event_type = env["event_type"]
        plain, idents = _payload_fields(shape.model)
        text = shape.text
        attributes = {n: text[n](v) for n in plain if (v := record[n]) is not None}
        people = env["people"]
        ids = [self.pseudonyms.of_contact(p["email"], p["phone"]) for p in people]
        roles = [p["role"] for p in people]
        position = (batch.topic, batch.partition, offset)
        controls = self.controls()
        erased = [i in controls.erased for i in ids] if controls.erased else []
        consent_subjects = [i for i, r in zip(ids, roles, strict=True) if r in _CONSENT_ROLES]
        region = env["processing_region"]
        try:
            tags = self.tagger.tag(event_type, attributes, region, consent_subjects, position,
                                   controls.objected(ids))  # fmt: skip
        except RejectedMessage as exc:
            # A dead letter would keep a copy of an erased person's data on the topic.
            if any(erased):
                raise SubjectErased(f"{event_type} about an erased person ({exc.code})") from None
            raise
        if any(erased) and not tags.survives_erasure:
            # Only a legal obligation keeps an erased person in a row; otherwise the
            # row loses them, and is not stored at all if nobody else is in it.
            ids = ["" if e else i for i, e in zip(ids, erased, strict=True)]
            if not any(ids):
                raise SubjectErased(f"{event_type} about an erased person")

        actor = next((ids[roles.index(r)] for r in _ACTOR_ROLES if r in roles), "")
        tenant = env["tenant_id"] or ""
        event_id = env["event_id"]
        occurred_ms = env["occurred_at"]  # DateTime64(3) takes milliseconds as they are
        producer = env["producer"]
        ingested_ms = int(ingested_at.timestamp() * 1000)
        event_row = (
            event_id, event_type, shape.model.FAMILY, occurred_ms, tenant, ids, roles, actor,
            record.get("components") or [], attributes, tags.activities, tags.purposes, tags.data_uses,
            tags.legal_bases, tags.data_categories, tags.data_subject, tags.recipients, tags.retention_rule,
            tags.region, tags.policy_version, batch.topic, batch.partition, offset, shape.schema.id,
            producer["service"], producer["version"], self.consumer_version, ingested_ms,
        )  # fmt: skip

        # One person often holds two roles in an event (creator and last updater): store each
        # identifier once per event, not once per role.
        identifiers: dict[tuple[str, str, str], tuple[Any, ...]] = {}

        def identify(subject_id: str, field: str, value: str) -> None:
            identifiers.setdefault((subject_id, field, value), (
                subject_id, field, value, tenant, event_type, tags.retention_rule, occurred_ms,
                batch.topic, batch.partition, offset, ingested_ms,
            ))  # fmt: skip

        for subject_id, person in zip(ids, people, strict=True):
            if not subject_id:
                continue
            if email := person["email"]:
                identify(subject_id, "email", email)
            if phone := person["phone"]:
                identify(subject_id, "phone", phone)
        if idents:
            primary = next((ids[roles.index(r)] for r in _PRIMARY_ROLES if r in roles), ids[0] if ids else "")
            for name in idents:
                value = record[name]
                if value is not None and primary:
                    identify(primary, name, text[name](value))

        # Every row is worked out: now the event counts, for the consent ledger and the batch.
        if event_type in LEDGER_EVENT_TYPES:
            for subject_id in consent_subjects:
                self.tagger.consent.record(subject_id, event_type, position)
        batch.add_event(event_row)
        for row in identifiers.values():
            batch.add_identifier(row)
