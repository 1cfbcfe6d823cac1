"""Events written as JSON lines, in the JSON form of the event models (one event per line).

Every line is validated before anything is sent, so a file with a bad line
sends nothing at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from schemas.errors import validation_summary
from schemas.models import MODEL_BY_EVENT_TYPE, Event


class JsonLinesError(Exception):
    """One or more lines are not valid events; ``problems`` holds (line number, reason)."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  line {n}: {why}" for n, why in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{path}: {len(problems)} invalid line(s), nothing was sent\n{lines}{more}")


def parse_line(text: str) -> Event:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("a line must be a JSON object")
    event_type = (doc.get("envelope") or {}).get("event_type")
    model = MODEL_BY_EVENT_TYPE.get(event_type)
    if model is None:
        raise ValueError(f"unknown envelope.event_type {event_type!r}")
    return model.model_validate(doc)


def read_events(path: Path) -> list[Event]:
    """All events of a file, or JsonLinesError naming every bad line."""
    events: list[Event] = []
    problems: list[tuple[int, str]] = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append((number, f"not UTF-8 text (byte {exc.start}): is this a JSON-lines file?"))
                if len(problems) > 100:
                    break  # a binary file: every line says the same
                continue
            if not text.strip():
                continue
            try:
                events.append(parse_line(text))
            except json.JSONDecodeError as exc:
                problems.append((number, f"not JSON: {exc.msg} at column {exc.colno}"))
            except ValidationError as exc:
                problems.append((number, validation_summary(exc)))
            except RecursionError:
                problems.append((number, "JSON nested too deeply"))
            except ValueError as exc:
                problems.append((number, str(exc)))
    if problems:
        raise JsonLinesError(path, problems)
    return events


def write_events(path: Path, events: Iterable[Event]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(event.model_dump_json() + "\n")
            n += 1
    return n
