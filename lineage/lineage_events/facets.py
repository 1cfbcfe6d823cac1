"""The facets the run events carry: schemas, column lineage, counts, and what a run removed.

Standard facets come from the client (``openlineage.client.facet_v2``); the two of our own,
``engage_counts`` on a run and ``engage_removal`` on an output, are typed like them. Nothing here
ever holds a value of a row: names of fields and tables, numbers, reasons' codes.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import attr
from openlineage.client.facet_v2 import (
    OutputDatasetFacet,
    RunFacet,
    column_lineage_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    processing_engine_run,
    schema_dataset,
)

from schemas.models import EVENT_MODELS
from schemas.registry import FileSchemaRegistry


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


VERSION = _version("engage-lineage")
# The project has no public address to name its code by; a URN names it and its version all the same.
PRODUCER = f"urn:engage-lineage:{VERSION}"
FACETS_SCHEMA = "urn:engage-lineage:facets:1-0-0"
ENGINE = "engage-lineage"


@attr.define
class CountsRunFacet(RunFacet):
    """What a run did, in counts: never a person, an id or a value."""

    policyVersion: str  # noqa: N815 - the spec's camelCase
    counts: dict[str, int] = attr.field(factory=dict)
    """e.g. consumed, stored, deadLettered, suppressed; rowsDeleted, rowsAnonymised"""
    breakdown: dict[str, dict[str, int]] = attr.field(factory=dict)
    """a count split by its reason's code or by field, e.g. deadLettered: {no_policy: 2}"""

    @staticmethod
    def _get_schema() -> str:
        return f"{FACETS_SCHEMA}#/$defs/CountsRunFacet"


@attr.define
class RemovalOutputDatasetFacet(OutputDatasetFacet):
    """What a retention run or an erasure took out of one dataset."""

    action: str  # delete, anonymise, or both ("delete, anonymise")
    rowsDeleted: int = 0  # noqa: N815
    rowsAnonymised: int = 0  # noqa: N815 - rows kept with the people's ids cleared
    columnsCleared: list[str] = attr.field(factory=list)  # noqa: N815
    rowsKept: int | None = None  # noqa: N815 - a legal obligation keeps them (restricted)
    rowsRebuilt: int | None = None  # noqa: N815 - computed rows counted again without the person

    @staticmethod
    def _get_schema() -> str:
        return f"{FACETS_SCHEMA}#/$defs/RemovalOutputDatasetFacet"


# --- run and job facets ------------------------------------------------------------------


def counts(policy_version: str, done: dict[str, int],
           breakdown: dict[str, dict[str, int]] | None = None) -> dict[str, RunFacet]:  # fmt: skip
    split = {k: {r: int(n) for r, n in v.items()} for k, v in (breakdown or {}).items()}
    return {"engage_counts": CountsRunFacet(policy_version, {k: int(v) for k, v in done.items()}, split,
                                            producer=PRODUCER)}  # fmt: skip


def engine() -> dict[str, RunFacet]:
    return {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version=VERSION, name=ENGINE, openlineageAdapterVersion=_version("openlineage-python"), producer=PRODUCER)}


def error(exc: BaseException) -> dict[str, RunFacet]:
    """The failure by its type and the type's own description: an error's message may name a person."""
    kind = type(exc)
    about = (kind.__doc__ or "").strip().splitlines()[0] if (kind.__doc__ or "").strip() else ""
    message = f"{kind.__name__}: {about}" if about else kind.__name__
    return {"errorMessage": error_message_run.ErrorMessageRunFacet(message=message, programmingLanguage="python",
                                                                   producer=PRODUCER)}  # fmt: skip


def job(description: str, streaming: bool) -> dict[str, Any]:
    return {
        "jobType": job_type_job.JobTypeJobFacet(processingType="STREAMING" if streaming else "BATCH",
                                                integration="ENGAGE_LINEAGE", jobType="JOB", producer=PRODUCER),
        "documentation": documentation_job.DocumentationJobFacet(description=description, producer=PRODUCER),
    }  # fmt: skip


def removal(action: str, deleted: int = 0, anonymised: int = 0, cleared: Sequence[str] = (), kept: int | None = None,
            rebuilt: int | None = None) -> dict[str, OutputDatasetFacet]:  # fmt: skip
    return {"engage_removal": RemovalOutputDatasetFacet(action, int(deleted), int(anonymised), list(cleared),
                                                        kept, rebuilt, producer=PRODUCER)}  # fmt: skip


# --- schemas -------------------------------------------------------------------------------

Field = schema_dataset.SchemaDatasetFacetFields


def _avro_type(t: Any) -> tuple[str, list[Field]]:
    """A field's type as one word, and the nested fields of a record (or of an array's records)."""
    if isinstance(t, list):
        found = [_avro_type(x) for x in t if x != "null"]
        return "|".join(n for n, _ in found), [f for _, fs in found for f in fs]
    if isinstance(t, str):
        return t.rsplit(".", 1)[-1], []
    if "logicalType" in t:
        return t["logicalType"], []
    kind = t["type"]
    if kind == "record":
        return "record", _avro_fields(t["fields"])
    if kind == "array":
        inner, nested = _avro_type(t["items"])
        return f"array<{inner}>", nested
    if kind == "map":
        return f"map<{_avro_type(t['values'])[0]}>", []
    return kind, []


def _avro_fields(fields: Iterable[dict[str, Any]]) -> list[Field]:
    out = []
    for i, f in enumerate(fields, start=1):
        kind, nested = _avro_type(f["type"])
        about = f.get("doc") or ""
        if f.get("pii"):
            about = ("direct identifier, kept apart from the analytics rows. " + about).strip()
        out.append(Field(name=f["name"], type=kind, description=about or None, ordinal_position=i,
                         fields=nested or None))  # fmt: skip
    return out


@lru_cache(maxsize=None)
def _family_schemas(family: str) -> tuple[dict[str, Any], ...]:
    registry = FileSchemaRegistry()
    return tuple(registry.current(m).schema for m in EVENT_MODELS if m.FAMILY == family)


def topic_fields(family: str) -> list[Field]:
    """The fields of a topic's messages: the envelope, then every payload field of the family's schemas."""
    seen: dict[str, Field] = {}
    for schema in _family_schemas(family):
        for f in _avro_fields(schema["fields"]):
            seen.setdefault(f.name, f)
    return [attr.evolve(f, ordinal_position=i) for i, f in enumerate(seen.values(), start=1)]


def identifying_fields(family: str) -> list[str]:
    """Paths of the fields that name a person: the envelope's e-mail and phone, and the payload's own."""
    found = ["envelope.people.email", "envelope.people.phone"]
    for schema in _family_schemas(family):
        found += [f["name"] for f in schema["fields"] if f.get("pii") and f["name"] not in found]
    return found


def plain_fields(family: str) -> list[str]:
    """Payload fields that identify nobody (the events table keeps them as attributes)."""
    out: list[str] = []
    for schema in _family_schemas(family):
        out += [f["name"] for f in schema["fields"] if f["name"] != "envelope" and not f.get("pii")
                and f["name"] not in out]  # fmt: skip
    return out


def schema(fields: list[Field]) -> dict[str, schema_dataset.SchemaDatasetFacet]:
    return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields, producer=PRODUCER)}


def table_fields(columns: Sequence[tuple[str, str]]) -> list[Field]:
    """A table's columns (``Store.columns``) as schema fields."""
    return [Field(name=n, type=t, ordinal_position=i, fields=None) for i, (n, t) in enumerate(columns, start=1)]


# --- column lineage ----------------------------------------------------------------------

Source = tuple[str, str, str]  # (namespace, dataset name, field)


def derived(sources: Iterable[Source], kind: str, subtype: str, description: str,
            masking: bool = False) -> column_lineage_dataset.Fields:  # fmt: skip
    """One output column and the input fields it is computed from, all by the same transformation."""
    how = column_lineage_dataset.Transformation(type=kind, subtype=subtype, description=description, masking=masking)
    # The facet's older, deprecated summary of the same: IDENTITY or MASKED where one of them is true.
    summary = "MASKED" if masking else "IDENTITY" if subtype == "IDENTITY" else None
    return column_lineage_dataset.Fields(
        inputFields=[column_lineage_dataset.InputField(namespace=ns, name=name, field=field, transformations=[how])
                     for ns, name, field in sources],
        transformationDescription=description, transformationType=summary)  # fmt: skip


def lineage(fields: dict[str, column_lineage_dataset.Fields], whole: Iterable[tuple[Source, str, str]] = ()
            ) -> dict[str, column_lineage_dataset.ColumnLineageDatasetFacet]:  # fmt: skip
    """The column lineage facet; ``whole`` is (source, subtype, description) of what filters the whole dataset."""
    dataset = [column_lineage_dataset.InputField(namespace=ns, name=name, field=field, transformations=[
        column_lineage_dataset.Transformation(type="INDIRECT", subtype=subtype, description=about)])
        for (ns, name, field), subtype, about in whole]  # fmt: skip
    return {"columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, dataset=dataset,
                                                                              producer=PRODUCER)}  # fmt: skip
