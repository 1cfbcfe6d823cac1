"""The five jobs as lineage: what each reads and writes, and what its result says in counts.

``LineageEvents`` is what the commands and the service hold (``Parts.lineage_events``). Each job
is a context manager around the work; the work tells the handle its result:

    with parts.lineage_events.erasure() as run:
        result = office.erase(who)
        run.done(result)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import nominal_time_run, output_statistics_output_dataset

from consumers.pipeline.stats import ConsumeStats
from consumers.retention.run import FACTS_STEP, RunReport
from consumers.rights.export import ExportResult
from consumers.rights.office import ErasureResult, RectificationResult
from consumers.store.store import Store
from lineage.lineage_events import facets
from lineage.lineage_events.naming import (
    ACCESS_EXPORT,
    CONSUMER,
    ERASURE,
    RECTIFICATION,
    RETENTION,
    Places,
    folder_name,
)  # fmt: skip
from lineage.lineage_events.runs import Datasets, JobSpec, RunHandle, Runs

JOBS = {
    CONSUMER: JobSpec(CONSUMER, "Reads the event topics; validates each event, tags it with its purposes, legal bases "
                      "and retention rule, pseudonymises the people and stores the events and, apart from them, "
                      "their identifiers; a refused message goes to the dead-letter topic.", streaming=True),
    RETENTION: JobSpec(RETENTION, "Deletes or anonymises the rows whose event-triggered retention term has ended."),
    ERASURE: JobSpec(ERASURE, "Erases one person (GDPR Art. 17) from the tables, the rollups and the dead-letter "
                     "topic, keeping restricted what a legal obligation requires."),
    RECTIFICATION: JobSpec(RECTIFICATION, "Corrects or completes one person's identifiers (GDPR Art. 16); the "
                           "replaced values go to the rectification history."),
    ACCESS_EXPORT: JobSpec(ACCESS_EXPORT, "Writes what is held about one person (GDPR Art. 15) and a portable copy "
                           "of their events (Art. 20) into the export folder."),
}  # fmt: skip

_KEYED_HASH = ("keyed hash (HMAC-SHA256) of the person's normalised e-mail, or of their phone number in E.164 "
               "where no e-mail was collected")  # fmt: skip
_TAGS = ("purposes", "data_uses", "legal_bases", "data_categories", "data_subject", "recipients", "retention_rule",
         "activities", "policy_version")  # fmt: skip
_ENVELOPE = {"event_id": "event_id", "event_type": "event_type", "occurred_at": "occurred_at",
             "tenant_id": "tenant_id", "subject_roles": "people.role", "region": "processing_region",
             "producer_service": "producer.service", "producer_version": "producer.version"}  # fmt: skip
_PEOPLE = ("envelope.people.email", "envelope.people.phone")


class Recorder:
    """The handle a job's block holds: it turns the job's result into the run's facets."""

    def __init__(self, events: LineageEvents, handle: RunHandle) -> None:
        self.events = events
        self.handle = handle

    def _counts(self, done: dict[str, int], breakdown: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
        return facets.counts(self.events.policy_version(), done, breakdown)


class ConsumerRun(Recorder):
    def progress(self, stats: ConsumeStats) -> None:
        """The consumer's progress callback: a RUNNING event with the counts so far, now and then."""
        self.handle.running(lambda: self._of(stats))

    def done(self, stats: ConsumeStats) -> None:
        self.handle.record(lambda: self._of(stats))

    def _of(self, s: ConsumeStats) -> dict[str, Any]:
        return self._counts({"consumed": s.consumed, "stored": s.stored, "deadLettered": sum(s.dead_lettered.values()),
                             "suppressed": sum(s.suppressed.values()), "batches": s.batches},
                            {"deadLettered": dict(s.dead_lettered), "suppressed": dict(s.suppressed)})  # fmt: skip


class RetentionRecorder(Recorder):
    def done(self, report: RunReport) -> None:
        rows: dict[str, int] = {}
        anonymised = 0
        for step in report.steps:
            for table, n in step.rows.items():
                rows[table] = rows.get(table, 0) + n
            if step.action == "anonymise":
                anonymised += step.rows.get("events", 0)
        done = {"eventsDeleted": rows.get("events", 0) - anonymised, "eventsAnonymised": anonymised,
                "identifiersDeleted": rows.get("identifiers", 0), "rollupRowsDeleted": rows.get("usage_daily", 0),
                "retentionFactsDeleted": report.removed(FACTS_STEP).get("retention_facts", 0),
                "filesLeft": len(report.files_left)}  # fmt: skip
        steps = {s.step: sum(s.rows.values()) for s in report.steps}
        nominal = {"nominalTime": nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=report.as_of.isoformat(), producer=facets.PRODUCER)}  # fmt: skip
        self.handle.record(lambda: {**self._counts(done, {"rowsByStep": steps}), **nominal},
                           lambda: self.events.retention_outputs(done))  # fmt: skip


class ErasureRecorder(Recorder):
    def done(self, result: ErasureResult) -> None:
        s = result.store
        done = {"eventsDeleted": s.events_deleted, "eventsUnlinked": s.events_unlinked, "eventsKept": s.events_kept,
                "identifiersDeleted": s.identifiers_deleted, "identifiersKept": s.identifiers_kept,
                "rectificationsDeleted": s.rectifications_deleted, "retentionFactsDeleted": s.facts_deleted,
                "rollupCellsRebuilt": s.rollup_cells, "alreadyErased": int(result.already_erased_at is not None),
                "deadLetterTopicPurged": int(result.dead_letters is not None)}  # fmt: skip
        if result.dead_letters is not None:
            done["deadLettersRemoved"] = result.dead_letters.removed
        self.handle.record(lambda: self._counts(done), lambda: self.events.erasure_outputs(done))


class RectificationRecorder(Recorder):
    def done(self, result: RectificationResult) -> None:
        done = {"valuesReplaced": sum(result.fields.values()),
                "fieldsCompleted": sum(1 for n in result.fields.values() if not n)}  # fmt: skip
        self.handle.record(lambda: self._counts(done, {"valuesReplaced": dict(result.fields)}))


class ExportRecorder(Recorder):
    def done(self, result: ExportResult) -> None:
        done = {"eventsExported": result.events, "identifiersExported": result.identifiers}
        size = result.zip_path.stat().st_size if result.zip_path.exists() else None
        self.handle.record(lambda: self._counts(done), lambda: self.events.export_outputs(result.events, size))


class LineageEvents:
    """The run events of the consumer, retention, erasure, rectification and access exports."""

    def __init__(self, runs: Runs, places: Places, store: Callable[[], Store],
                 policy_version: Callable[[], str]) -> None:  # fmt: skip
        self.runs = runs
        self.places = places
        self._store = store
        self.policy_version = policy_version

    @property
    def on(self) -> bool:
        return self.runs.on

    # --- the jobs ----------------------------------------------------------------------------

    def consumer(self, wait: bool = True) -> contextlib.AbstractContextManager[ConsumerRun]:
        return self._job(CONSUMER, self.consumer_datasets, ConsumerRun, wait)

    def retention(self, wait: bool = True) -> contextlib.AbstractContextManager[RetentionRecorder]:
        return self._job(RETENTION, lambda: ([], self.retention_outputs(None)), RetentionRecorder, wait)

    def erasure(self, wait: bool = True) -> contextlib.AbstractContextManager[ErasureRecorder]:
        return self._job(ERASURE, lambda: ([], self.erasure_outputs(None)), ErasureRecorder, wait)

    def rectification(self, wait: bool = True) -> contextlib.AbstractContextManager[RectificationRecorder]:
        return self._job(RECTIFICATION, lambda: ([], self.rectification_outputs()), RectificationRecorder, wait)

    def access_export(self, wait: bool = True) -> contextlib.AbstractContextManager[ExportRecorder]:
        inputs = ("events", "identifiers", "rectifications", "subject_controls", "dsr_requests")
        return self._job(ACCESS_EXPORT, lambda: ([self._table_in(t) for t in inputs], self.export_outputs(None, None)),
                         ExportRecorder, wait)  # fmt: skip

    @contextlib.contextmanager
    def _job(self, name: str, datasets: Callable[[], Datasets], recorder: type, wait: bool) -> Iterator[Any]:
        with self.runs.run(JOBS[name], datasets, wait) as handle:
            yield recorder(self, handle)

    # --- datasets ------------------------------------------------------------------------------

    def consumer_datasets(self) -> Datasets:
        inputs = []
        for family, topic in self.places.topics:
            ns, name = self.places.topic(topic)
            inputs.append(InputDataset(ns, name, facets=facets.schema(facets.topic_fields(family))))
        dead_ns, dead_name = self.places.topic(self.places.dead_letter_topic)
        outputs = [self._table_out("events", self._events_lineage()), self._table_out("identifiers",
                   self._identifiers_lineage()), self._table_out("dead_letters"), OutputDataset(dead_ns, dead_name)]
        return inputs, outputs  # fmt: skip

    def _sources(self, field: str, family_fields: Callable[[str], list[str]] | None = None) -> list[facets.Source]:
        """(namespace, topic, field) of one field in every topic, or of each field ``family_fields`` names."""
        out = []
        for family, topic in self.places.topics:
            ns, name = self.places.topic(topic)
            out += [(ns, name, f) for f in (family_fields(family) if family_fields else [field])]
        return out

    def _people(self) -> list[facets.Source]:
        return [s for f in _PEOPLE for s in self._sources(f)]

    def _events_lineage(self) -> dict[str, Any]:
        fields = {
            "subject_ids": facets.derived(self._people(), "DIRECT", "TRANSFORMATION", _KEYED_HASH, masking=True),
            "actor_id": facets.derived(self._people(), "DIRECT", "TRANSFORMATION", "the acting person's id: "
                                       + _KEYED_HASH, masking=True),
            "attributes": facets.derived(self._sources("", facets.plain_fields), "DIRECT", "TRANSFORMATION",
                                         "the payload's fields that identify nobody, as a map"),
        }  # fmt: skip
        for column, field in _ENVELOPE.items():
            fields[column] = facets.derived(self._sources(f"envelope.{field}"), "DIRECT", "IDENTITY", "as sent")
        for column in _TAGS:
            fields[column] = facets.derived(self._sources("envelope.event_type"), "DIRECT", "TRANSFORMATION",
                                            "the policy's tags for the event type")  # fmt: skip
        whole = [(s, "FILTER", "an event without a policy rule goes to the dead-letter topic")
                 for s in self._sources("envelope.event_type")]  # fmt: skip
        whole += [(s, "FILTER", "an event processed outside the allowed region goes to the dead-letter topic")
                  for s in self._sources("envelope.processing_region")]  # fmt: skip
        return facets.lineage(fields, whole)

    def _identifiers_lineage(self) -> dict[str, Any]:
        fields = {
            "subject_id": facets.derived(self._people(), "DIRECT", "TRANSFORMATION", _KEYED_HASH, masking=True),
            "value": facets.derived(self._sources("", facets.identifying_fields), "DIRECT", "IDENTITY",
                                    "the identifier as sent, kept apart from the events by subject id"),
        }  # fmt: skip
        for column in ("tenant_id", "event_type", "occurred_at"):
            fields[column] = facets.derived(self._sources(f"envelope.{column}"), "DIRECT", "IDENTITY", "as sent")
        return facets.lineage(fields)

    def retention_outputs(self, done: dict[str, int] | None) -> list[OutputDataset]:
        d = done or {}
        if done is None:
            return [self._table_out(t) for t in ("events", "identifiers", "usage_daily", "retention_facts",
                                                 "retention_runs")]  # fmt: skip
        anonymised = d["eventsAnonymised"]
        events_ns, events_name = self.places.table("events")
        lineage = {}
        if anonymised:
            lineage = facets.lineage({c: facets.derived([(events_ns, events_name, c)], "DIRECT", "TRANSFORMATION",
                                                        "cleared ('') for the people whose term ended", masking=True)
                                      for c in ("subject_ids", "actor_id")})  # fmt: skip
        action = ", ".join(a for a, n in (("delete", d["eventsDeleted"]), ("anonymise", anonymised)) if n) or "delete"
        return [
            self._table_out("events", lineage, facets.removal(action, d["eventsDeleted"], anonymised,
                                                              ("subject_ids", "actor_id") if anonymised else ())),
            self._table_out("identifiers", {}, facets.removal("delete", d["identifiersDeleted"])),
            self._table_out("usage_daily", {}, facets.removal("delete", d["rollupRowsDeleted"])),
            self._table_out("retention_facts", {}, facets.removal("delete", d["retentionFactsDeleted"])),
            self._table_out("retention_runs"),
        ]  # fmt: skip

    def erasure_outputs(self, done: dict[str, int] | None) -> list[OutputDataset]:
        dead_ns, dead_name = self.places.topic(self.places.dead_letter_topic)
        written = [self._table_out(t) for t in ("subject_controls", "access_log", "dsr_requests")]
        if done is None:
            tables = ("events", "identifiers", "rectifications", "retention_facts", "usage_daily")
            return [*(self._table_out(t) for t in tables), OutputDataset(dead_ns, dead_name), *written]
        d = done
        ns, name = self.places.table("events")
        unlinked = facets.lineage(
            {c: facets.derived([(ns, name, c)], "DIRECT", "TRANSFORMATION", "the erased person's id cleared ('') in "
                               "the rows they share with others", masking=True) for c in ("subject_ids", "actor_id")},
            [((ns, name, "subject_ids"), "FILTER", "the rows about the erased person alone are deleted"),
             ((ns, name, "purposes"), "FILTER", "rows a legal obligation keeps stay, restricted")])  # fmt: skip
        purged = facets.removal("delete", d["deadLettersRemoved"]) if "deadLettersRemoved" in d else {}
        return [
            self._table_out("events", unlinked, facets.removal("delete, anonymise", d["eventsDeleted"],
                                                               d["eventsUnlinked"], ("subject_ids", "actor_id"),
                                                               kept=d["eventsKept"])),
            self._table_out("identifiers", {}, facets.removal("delete", d["identifiersDeleted"],
                                                              kept=d["identifiersKept"])),
            self._table_out("rectifications", {}, facets.removal("delete", d["rectificationsDeleted"])),
            self._table_out("retention_facts", {}, facets.removal("delete", d["retentionFactsDeleted"])),
            self._table_out("usage_daily", {}, facets.removal("recount", rebuilt=d["rollupCellsRebuilt"])),
            OutputDataset(dead_ns, dead_name, outputFacets=purged),
            *written,
        ]  # fmt: skip

    def rectification_outputs(self) -> list[OutputDataset]:
        ns, name = self.places.table("identifiers")
        replaced = facets.lineage({"value": facets.derived([(ns, name, "value")], "DIRECT", "TRANSFORMATION",
                                                           "replaced by the corrected value")})  # fmt: skip
        history = facets.lineage({"old_values": facets.derived([(ns, name, "value")], "DIRECT", "IDENTITY",
                                                              "the replaced value, kept as history")})  # fmt: skip
        return [self._table_out("identifiers", replaced), self._table_out("rectifications", history),
                *(self._table_out(t) for t in ("access_log", "dsr_requests"))]  # fmt: skip

    def export_outputs(self, rows: int | None, size: int | None) -> list[OutputDataset]:
        ns, name = folder_name(self.places.exports_folder)
        stats = {}
        if rows is not None:
            stats = {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows, size=size, fileCount=1, producer=facets.PRODUCER)}  # fmt: skip
        return [OutputDataset(ns, name, outputFacets=stats), self._table_out("access_log")]

    def _table_in(self, table: str) -> InputDataset:
        ns, name = self.places.table(table)
        return InputDataset(ns, name, facets=facets.schema(facets.table_fields(self._store().columns(table))))

    def _table_out(self, table: str, extra: dict[str, Any] | None = None,
                   output: dict[str, Any] | None = None) -> OutputDataset:  # fmt: skip
        ns, name = self.places.table(table)
        columns = facets.table_fields(self._store().columns(table))
        return OutputDataset(ns, name, facets={**facets.schema(columns), **(extra or {})}, outputFacets=output or {})
