"""The one settings object: defaults that follow other settings, and values refused at the edge."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lineage.settings import Settings


def test_the_dead_letter_topic_follows_the_topic_prefix_unless_named(monkeypatch) -> None:
    monkeypatch.delenv("LINEAGE_DEAD_LETTER_TOPIC", raising=False)
    monkeypatch.setenv("LINEAGE_TOPIC_PREFIX", "tenant-b")
    assert Settings().dead_letters == "tenant-b.dead-letter"
    assert Settings().model_copy(update={"topic_prefix": "tenant-c"}).dead_letters == "tenant-c.dead-letter"
    monkeypatch.setenv("LINEAGE_DEAD_LETTER_TOPIC", "shared.dead-letter")
    assert Settings().dead_letters == "shared.dead-letter"


@pytest.mark.parametrize("value", ["3:30pm", "25:00", "daily", ""])
def test_a_retention_schedule_that_is_no_time_of_day_is_refused(monkeypatch, value: str) -> None:
    monkeypatch.setenv("LINEAGE_RETENTION_SCHEDULE", value)
    with pytest.raises(ValidationError, match="a time of day HH:MM or HH:MM:SS, or 'off'"):
        Settings()


@pytest.mark.parametrize(("value", "kept"), [("03:30", "03:30"), ("23:59:30", "23:59:30"), (" OFF ", "off")])
def test_a_retention_schedule_is_a_time_of_day_or_off(monkeypatch, value: str, kept: str) -> None:
    monkeypatch.setenv("LINEAGE_RETENTION_SCHEDULE", value)
    assert Settings().retention_schedule == kept
