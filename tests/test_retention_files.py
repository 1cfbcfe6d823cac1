"""A retention run reports done only when the values it deleted are gone from the store's files, and its
report says, per place the data lived, what it removed and what remains until when."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pipeline_fixtures import Pipeline
from retention_scenario import retention_scenario
from store_files import files_holding

from consumers.policy.loader import load_policy
from consumers.retention.run import FILED_TABLES, RetentionRun
from lineage.wiring import Parts

pytestmark = pytest.mark.integration
LEFT = b"lea.left@maashaven.nl"  # a contact who left the company ten days ago: her data goes


def _folders(pipeline: Pipeline) -> list[Path]:
    paths = pipeline.store.rows("SELECT data_paths FROM system.tables WHERE database = currentDatabase()"
                                " AND has({t:Array(String)}, name)", {"t": list(FILED_TABLES)})  # fmt: skip
    return [Path(p) for (ps,) in paths for p in ps]


def test_a_run_is_done_when_no_file_of_the_store_holds_what_it_deleted(pipeline: Pipeline) -> None:
    if not pipeline.settings.store_url.startswith("chdb://"):
        pytest.skip("reads the embedded store's files")
    now = dt.datetime.now(dt.UTC)
    events = retention_scenario(now)
    pipeline.produce(events)
    pipeline.consume()
    folders = _folders(pipeline)
    assert files_holding(folders, LEFT), "the scan must find her before the run, or it proves nothing after"

    run = RetentionRun(pipeline.store, load_policy(), "ops@engage.test", Parts(pipeline.settings).topics())
    report = run.execute(now)

    assert report.files_left == []
    assert files_holding(_folders(pipeline), LEFT) == []
    assert pipeline.store.scalar("SELECT count() FROM identifiers WHERE value = {v:String} SETTINGS "
                                 "apply_deleted_mask = 0", {"v": LEFT.decode()}) == 0  # fmt: skip

    places = {p.place: p for p in report.places(run.topics, now)}
    removed = sum(n for s in report.steps for t, n in s.rows.items() if t == "identifiers")
    assert places["store table identifiers"].removed == removed > 0
    assert places["store files"].remaining == 0
    raw = places[f"raw events topic {pipeline.settings.topic('relation')}"]
    assert raw.until == f"the removed rows' messages: until {now + dt.timedelta(days=8):%Y-%m-%d}, topic retention"
    assert places[f"dead-letter topic {pipeline.settings.dead_letters}"].until.endswith("topic retention")
