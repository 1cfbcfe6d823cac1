"""The access export (Art. 15) with the portable copy (Art. 20).

One folder, and a zip of it: ``subject.json`` says what is held, why, on which
basis, for whom, for how long, from where and where it is processed, grouped
per purpose, with the person's rights; ``events.jsonl`` and ``events.csv`` hold
every event about the person; ``manifest.json`` the SHA-256 of each file.
Other people in the same events are left out: the person sees their own roles.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from consumers.policy.model import Policy
from consumers.rights.errors import ExportFolderRefused
from consumers.rights.identity import Subject
from consumers.store.store import Store

_EVENT_COLUMNS = (
    "event_id", "event_type", "family", "occurred_at", "tenant_id", "subject_ids", "subject_roles", "components",
    "attributes", "activities", "purposes", "data_uses", "legal_bases", "data_categories", "data_subject",
    "recipients", "retention_rule", "region", "policy_version", "source_topic", "source_partition", "source_offset",
    "schema_id", "producer_service", "producer_version", "consumer_version", "ingested_at",
)  # fmt: skip
CSV_COLUMNS = (
    "event_id", "event_type", "occurred_at", "tenant_id", "your_roles", "components", "purposes", "legal_bases",
    "data_categories", "data_subject", "recipients", "retention_rule", "region", "policy_version", "source_topic",
    "source_partition", "source_offset", "schema_id", "producer_service", "producer_version", "ingested_at",
    "attributes",
)  # fmt: skip
FILES = ("subject.json", "events.jsonl", "events.csv")

RIGHTS = [
    {"right": "access", "article": "GDPR Art. 15", "what": "A copy of your personal data and this information."},
    {"right": "rectification", "article": "GDPR Art. 16", "what": "Correction or completion of your data."},
    {"right": "erasure", "article": "GDPR Art. 17",
     "what": "Erasure of your data, except what a legal obligation requires us to keep (invoicing records)."},
    {"right": "restriction", "article": "GDPR Art. 18", "what": "Keeping your data without otherwise using it."},
    {"right": "portability", "article": "GDPR Art. 20",
     "what": "Your data in a machine-readable form (events.jsonl, events.csv), for you or another party."},
    {"right": "objection", "article": "GDPR Art. 21",
     "what": "Objection to processing based on our legitimate interest, and to direct marketing at any time."},
    {"right": "withdraw consent", "article": "GDPR Art. 7(3)",
     "what": "Withdrawal of consent for direct marketing at any time, through the opt-out link in every e-mail."},
]  # fmt: skip
COMPLAINT = {
    "right": "complaint", "article": "GDPR Art. 77",
    "authority": "Autoriteit Persoonsgegevens (the Dutch Data Protection Authority)",
    "where": "https://autoriteitpersoonsgegevens.nl",
}  # fmt: skip
ANSWER_TERM = "As soon as possible and within one month of receipt (GDPR Art. 12(3); statement section 7)."
NO_AUTOMATED_DECISIONS = (
    "No automated decision-making, including profiling, with legal or similarly significant effects takes place "
    "(GDPR Art. 22). Usage data is used only in aggregate, to develop the product."
)


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    zip_path: Path
    events: int
    identifiers: int
    seconds: float


def check_output(out: Path, base: Path) -> Path:
    """The resolved output folder, or ExportFolderRefused if it is outside ``base`` or in use."""
    base = base.expanduser().resolve()
    folder = out.expanduser().resolve()
    if folder == base or not folder.is_relative_to(base):
        raise ExportFolderRefused(f"{out} is not inside the export folder {base} (LINEAGE_EXPORT_BASE)")
    if (folder / "manifest.json").exists():
        raise ExportFolderRefused(f"{folder} already holds an export; choose a new folder")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ExportFolderRefused(f"{folder} exists and is not an empty folder")
    if zip_of(folder).exists():
        raise ExportFolderRefused(f"{zip_of(folder)} exists already")
    return folder


def zip_of(folder: Path) -> Path:
    return folder.parent / f"{folder.name}.zip"


@cache
def _taxonomy() -> dict[str, str]:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    items = [*DEFAULT_TAXONOMY.data_category, *DEFAULT_TAXONOMY.data_subject]
    return {d.fides_key: d.description or d.name or d.fides_key for d in items}


def _iso(v: dt.datetime) -> str:
    return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).isoformat()


class Exporter:
    def __init__(self, store: Store, policy: Policy) -> None:
        self.store = store
        self.policy = policy

    def events_of(self, subject_id: str | tuple[str, ...]) -> list[dict[str, Any]]:
        """Every stored event about the person (under any of their ids), oldest first, with only their own roles."""
        ids = (subject_id,) if isinstance(subject_id, str) else subject_id
        rows = self.store.rows(
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE hasAny(subject_ids, {{s:Array(String)}})"
            " ORDER BY occurred_at, event_id",
            {"s": list(ids)},
        )
        out = []
        for row in rows:
            r = dict(zip(_EVENT_COLUMNS, row, strict=True))
            ids_, roles = r.pop("subject_ids"), r.pop("subject_roles")
            r["your_roles"] = [role for i, role in zip(ids_, roles, strict=True) if i in ids]
            r["event_id"] = str(r["event_id"])
            r["occurred_at"], r["ingested_at"] = _iso(r["occurred_at"]), _iso(r["ingested_at"])
            r["attributes"] = dict(r["attributes"])
            out.append(r)
        return out

    def identifiers_of(self, subject_id: str | tuple[str, ...]) -> list[dict[str, Any]]:
        """The direct identifiers held, one entry per field and value, with when they were seen."""
        return [
            {"field": f, "value": v, "first_seen": _iso(a), "last_seen": _iso(b), "events": int(n)}
            for f, v, a, b, n in self.store.rows(
                "SELECT field, value, min(occurred_at), max(occurred_at),"
                " uniqExact(source_topic, source_partition, source_offset) FROM identifiers"
                " WHERE has({s:Array(String)}, subject_id) GROUP BY field, value ORDER BY field, value",
                {"s": [subject_id] if isinstance(subject_id, str) else list(subject_id)},
            )
        ]

    def write(self, subject: Subject, request_id: str, folder: Path, extra: dict[str, Any]) -> ExportResult:
        """Write the export into ``folder`` (checked by ``check_output``) and zip it; all or nothing."""
        started = dt.datetime.now(dt.UTC)
        events = self.events_of(subject.ids)
        identifiers = self.identifiers_of(subject.ids)
        info = self.subject_info(subject, request_id, events, identifiers, started, extra)

        folder.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed into place: a crash leaves no half export.
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            (work / "subject.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            with (work / "events.jsonl").open("w", encoding="utf-8") as fh:
                for e in events:
                    fh.write(json.dumps(e, ensure_ascii=False) + "\n")
            with (work / "events.csv").open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(CSV_COLUMNS)
                for e in events:
                    writer.writerow([_cell(e[c]) for c in CSV_COLUMNS])
            manifest = {
                "request_id": request_id,
                "generated_at": _iso(started),
                "files": [
                    {"name": n, "bytes": (work / n).stat().st_size, "sha256": _sha256(work / n)} for n in FILES
                ],
            }
            (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            if folder.exists():
                folder.rmdir()  # check_output allowed only an empty folder
            os.replace(work, folder)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        zip_path = zip_of(folder)
        partial = zip_path.with_name(zip_path.name + ".partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in (*FILES, "manifest.json"):
                zf.write(folder / name, arcname=f"{folder.name}/{name}")
        os.replace(partial, zip_path)
        seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
        return ExportResult(folder, zip_path, len(events), len(identifiers), seconds)

    def subject_info(self, subject: Subject, request_id: str, events: list[dict[str, Any]],
                     identifiers: list[dict[str, Any]], at: dt.datetime, extra: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        held = bool(events or identifiers)
        return {
            "request_id": request_id,
            "generated_at": _iso(at),
            "controller": self.policy.controller,
            "policy_version": self.policy.version,
            "subject": {"phone" if subject.by_phone else "email": subject.contact, "subject_id": subject.subject_id},
            "data_held": held,
            "summary": (
                f"We hold {len(events)} events and {len(identifiers)} identifying details about you, "
                f"for {len({p for e in events for p in e['purposes']})} purposes, listed below."
                if held else "We hold no personal data about you."
            ),
            "personal_data": identifiers,
            "purposes": self._purposes(events),
            "sources": "Events recorded by the services of Engage Process while you applied for, used or were "
                       "informed about the product; each purpose lists the services and each event its source.",
            "territory": {
                "statement": "All data is processed inside the European Union (statement section 5).",
                "processing_countries": sorted({e["region"] for e in events}),
            },
            "rights": RIGHTS,
            "complaint": COMPLAINT,
            "answer_term": ANSWER_TERM,
            "automated_decision_making": {"used": False, "statement": NO_AUTOMATED_DECISIONS},
            "files": {
                "events.jsonl": "Every event about you, one JSON object per line (GDPR Art. 20).",
                "events.csv": "The same events as CSV.",
                "manifest.json": "The SHA-256 of each file, to check the export is complete and unchanged.",
            },
            **extra,
        }  # fmt: skip

    def _purposes(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        groups: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
        for e in events:
            for purpose, basis in zip(e["purposes"], e["legal_bases"], strict=True):
                groups[purpose].append((e, basis))
        out = []
        for key in sorted(groups, key=lambda k: (-len(groups[k]), k)):
            rows = groups[key]
            p = self.policy.purposes.get(key)
            bases = sorted({b for _, b in rows})
            categories = sorted({c for e, _ in rows for c in e["data_categories"]})
            retention = sorted({e["retention_rule"] for e, _ in rows})
            out.append({
                "purpose": key,
                "description": p.description if p else "",
                "activity": p.activity if p else "",
                "legal_basis": [{"key": b, **self.policy.legal_bases[b].model_dump()} for b in bases
                                if b in self.policy.legal_bases],
                "data_categories": [{"key": c, "description": _taxonomy().get(c, "")} for c in categories],
                "data_subject": sorted({e["data_subject"] for e, _ in rows}),
                "recipients": [{"key": r, "description": self.policy.recipients[r].description}
                               for r in sorted({r for e, _ in rows for r in e["recipients"]})
                               if r in self.policy.recipients],
                "retention": [{"rule": r, **self.policy.retention[r].model_dump()} for r in retention
                              if r in self.policy.retention],
                "sources": {
                    "services": sorted({e["producer_service"] for e, _ in rows}),
                    "topics": sorted({e["source_topic"] for e, _ in rows}),
                },
                "events": len(rows),
                "event_types": dict(sorted(Counter(e["event_type"] for e, _ in rows).items())),
                "first_event": min(e["occurred_at"] for e, _ in rows),
                "last_event": max(e["occurred_at"] for e, _ in rows),
                "policy_versions": sorted({e["policy_version"] for e, _ in rows}),
            })  # fmt: skip
        return out


def _cell(v: Any) -> Any:
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    if isinstance(v, list | tuple):
        return "|".join(map(str, v))
    return v


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
