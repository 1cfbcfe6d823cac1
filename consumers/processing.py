"""From one Kafka message to rows: decode, validate, pseudonymise, tag.

Every outcome is rows appended to the batch, a dead letter with the typed
reason, or a suppression a person's choice demands (erased, objected, opted
out); nothing is stored untagged, and no error stops the consumer.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from functools import cache
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from consumers.batch import DeadLetter, PartitionBatch, Suppression
from consumers.consent import LEDGER_EVENT_TYPES
from consumers.errors import SubjectErased, SuppressedEvent
from consumers.pseudonym import Pseudonymizer
from consumers.rights.controls import ControlSet
from consumers.tagging import Tagger
from schemas import wire
from schemas.errors import InvalidEvent, RejectedMessage, validation_summary
from schemas.models import Event, PersonRole, identifier_fields
from schemas.registry import FileSchemaRegistry

# Who "acted" in an event, for activity counts: the first role present wins.
_ACTOR_ROLES = (PersonRole.actor, PersonRole.last_updater, PersonRole.creator)
# Whose identifiers the payload's name and phone fields are.
_PRIMARY_ROLES = (PersonRole.subject, PersonRole.participant, PersonRole.contact, PersonRole.recipient)
# Whose consent a mailing needs.
_CONSENT_ROLES = (PersonRole.recipient, PersonRole.subject)


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


def _text(v: Any) -> str:
    if isinstance(v, Enum):
        return str(v.value)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return str(v)


class MessageProcessor:
    def __init__(
        self,
        registry: FileSchemaRegistry,
        tagger: Tagger,
        pseudonyms: Pseudonymizer,
        consumer_version: str,
        controls: Callable[[], ControlSet] = ControlSet,
    ) -> None:
        self.registry = registry
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
        headers: list[tuple[str, bytes]],
        ingested_at: dt.datetime,
    ) -> Outcome | None:
        """Append the message's rows to the batch; returns why it was not stored, or None if it was."""
        schema_id, event_type = 0, ""
        try:
            schema, record = wire.decode(self.registry, value or b"")
            schema_id = schema.id
            event_type = str(record.get("envelope", {}).get("event_type", ""))
            try:
                event = schema.model.model_validate(record)
            except ValidationError as exc:
                raise InvalidEvent(validation_summary(exc)) from None
            self._append(batch, event, schema_id, offset, ingested_at)
            return None
        except SuppressedEvent as exc:
            batch.suppressed.append(Suppression(offset, exc.code, event_type))
            return Outcome(False, exc.code)
        except RejectedMessage as exc:
            batch.dead_letters.append(
                DeadLetter(offset, key, value, headers, exc.code, exc.detail, schema_id, event_type)
            )
            return Outcome(True, exc.code)
        finally:
            batch.last_offset = offset

    def _append(
        self, batch: PartitionBatch, event: Event, schema_id: int, offset: int, ingested_at: dt.datetime
    ) -> None:
        env = event.envelope
        plain, idents = _payload_fields(type(event))
        attributes = {n: _text(v) for n in plain if (v := getattr(event, n)) is not None}
        ids = [self.pseudonyms.of_person(p) for p in env.people]
        roles = [p.role for p in env.people]
        position = (batch.topic, batch.partition, offset)
        controls = self.controls()
        erased = [i in controls.erased for i in ids] if controls.erased else []
        consent_subjects = [i for i, r in zip(ids, roles, strict=True) if r in _CONSENT_ROLES]
        try:
            tags = self.tagger.tag(env.event_type, attributes, env.processing_region, consent_subjects, position,
                                   controls.objected(ids))  # fmt: skip
        except RejectedMessage as exc:
            # A dead letter would keep a copy of an erased person's data on the topic.
            if any(erased):
                raise SubjectErased(f"{env.event_type} about an erased person ({exc.code})") from None
            raise
        if any(erased) and not tags.survives_erasure:
            # Only a legal obligation keeps an erased person in a row; otherwise the
            # row loses them, and is not stored at all if nobody else is in it.
            ids = ["" if e else i for i, e in zip(ids, erased, strict=True)]
            if not any(ids):
                raise SubjectErased(f"{env.event_type} about an erased person")
        if env.event_type in LEDGER_EVENT_TYPES:
            for subject_id in consent_subjects:
                self.tagger.consent.record(subject_id, env.event_type, position)

        actor = next((ids[roles.index(r)] for r in _ACTOR_ROLES if r in roles), "")
        tenant = env.tenant_id or ""
        batch.add_event((
            env.event_id, env.event_type, type(event).FAMILY, env.occurred_at, tenant, ids,
            [r.value for r in roles], actor, list(getattr(event, "components", ())), attributes,
            list(tags.activities), list(tags.purposes), list(tags.data_uses), list(tags.legal_bases),
            list(tags.data_categories), tags.data_subject, list(tags.recipients), tags.retention_rule,
            tags.region, tags.policy_version, batch.topic, batch.partition, offset, schema_id,
            env.producer.service, env.producer.version, self.consumer_version, ingested_at,
        ))  # fmt: skip

        # One person often holds two roles in an event (creator and last updater): store each
        # identifier once per event, not once per role.
        seen: set[tuple[str, str, str]] = set()

        def identify(subject_id: str, field: str, value: str) -> None:
            if (subject_id, field, value) in seen:
                return
            seen.add((subject_id, field, value))
            batch.add_identifier((
                subject_id, field, value, tenant, env.event_id, env.event_type, tags.retention_rule, env.occurred_at,
                batch.topic, batch.partition, offset, ingested_at,
            ))  # fmt: skip

        for subject_id, person in zip(ids, env.people, strict=True):
            if not subject_id:
                continue
            if person.email:
                identify(subject_id, "email", person.email)
            if person.phone:
                identify(subject_id, "phone", person.phone)
        if idents:
            primary = next((ids[roles.index(r)] for r in _PRIMARY_ROLES if r in roles), ids[0] if ids else "")
            for name in idents:
                value = getattr(event, name)
                if value is not None and primary:
                    identify(primary, name, _text(value))
