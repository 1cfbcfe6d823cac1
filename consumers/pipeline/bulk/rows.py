"""The engine's rows of a settled flush: which wait, and the SELECTs the sink writes them with."""

from __future__ import annotations

from dataclasses import dataclass

from consumers.store.events import EVENT_COLUMNS

from .sql import ROUTE_MESSAGE


@dataclass(frozen=True)
class Candidates:
    """Where a settled flush's rows wait for the sink (in the engine), and which of them it writes."""

    table: str
    excluded: str  # positions (t, p, o) the per-message path or the duplicate check took over
    topics: tuple[str, ...]  # the topic of each _t

    @property
    def keep(self) -> str:
        return (f"_route != {ROUTE_MESSAGE} AND (_t, source_partition, source_offset) NOT IN "
                f"(SELECT t, p, o FROM {self.excluded})")  # fmt: skip


def bulk_events(c: Candidates) -> str:
    return f"SELECT {', '.join(EVENT_COLUMNS)} FROM {c.table} WHERE {c.keep}"


def bulk_identifiers(c: Candidates) -> str:
    """Each person's e-mail and phone, and the payload's identifiers under the event's primary person, once per event.

    The same as the per-message path: a person with an id, a value that is not empty.
    """
    people = ("arrayConcat(arrayFilter(x -> x.1 != '' AND x.3 != '', arrayMap((s, v) -> (s, 'email', v), subject_ids,"
              " _emails)), arrayFilter(x -> x.1 != '' AND x.3 != '', arrayMap((s, v) -> (s, 'phone', v), subject_ids,"
              " _phones)), if(_primary = '', [], arrayMap(x -> (_primary, x.1, x.2), _idents)))")  # fmt: skip
    return (f"SELECT t.1 AS subject_id, t.2 AS field, t.3 AS value, tenant_id, event_type, retention_rule, occurred_at,"
            f" source_topic, source_partition, source_offset, ingested_at FROM {c.table}"
            f" ARRAY JOIN arrayDistinct({people}) AS t WHERE {c.keep}")  # fmt: skip
