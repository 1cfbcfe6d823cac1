"""The audit chain: a clean chain verifies; a changed field, a deleted middle row, the newest rows deleted
before the next seal, and a forged checkpoint are each found and named; rows gone at the end of their term
still verify. Real broker, real engine; tampering is done on copies of the store, as an intruder would."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from audit_fixtures import World, audited
from pipeline_fixtures import Pipeline

from consumers.audit.canonical import content, digest, record
from consumers.audit.checkpoints import Checkpoint, Signer
from consumers.audit.trail import AuditTrail
from consumers.rights.access_log import AccessLog, Action

pytestmark = pytest.mark.integration


def test_a_clean_chain_verifies_in_every_table(pipeline: Pipeline, tmp_path: Path) -> None:
    world, _ = audited(pipeline, tmp_path)

    result = world.verify()

    assert result.ok, [f.line() for f in result.findings]
    stored = {t: world.chained(t) for t in ("access_log", "dsr_requests", "rectifications", "erasures",
                                            "retention_runs", "incidents")}  # fmt: skip
    assert all(stored.values()) or stored["rectifications"] == 0, stored
    assert result.rows == sum(stored.values()) and result.chains == 6 and result.checkpoints == 2
    # The erasure removed the person's two rectification rows, and recorded which: they verify as erased.
    assert result.erased == {"rectifications": 2} and stored["rectifications"] == 0
    assert stored["erasures"] == 2 and stored["retention_runs"] >= 1 and stored["incidents"] == 1
    assert not result.unsealed and not result.expired and not result.unchained


def test_a_changed_field_of_an_old_row_is_named(pipeline: Pipeline, tmp_path: Path) -> None:
    world, _ = audited(pipeline, tmp_path)

    # The field alone.
    plain = world.copy(tmp_path)
    plain.mutate("ALTER TABLE access_log UPDATE detail = 'nothing to see' WHERE chain_seq = 3")
    found = plain.verify().findings
    assert len(found) == 1 and found[0].table == "access_log" and found[0].row.startswith("row 3 (")
    assert "content does not match its hash" in found[0].what

    # The field and the row's own hash recomputed: the next row's link gives it away.
    rehashed = world.copy(tmp_path)
    _rewrite(rehashed, "access_log", 3, {"detail": "nothing to see"})
    found = rehashed.verify().findings
    assert [(f.table, f.row.split(" (")[0]) for f in found] == [("access_log", "row 4")]
    assert "link to row 3 does not match" in found[0].what

    # Every row from there to the head rewritten and relinked: the signed checkpoints give it away.
    relinked = world.copy(tmp_path)
    head = relinked.chained("access_log")
    _rewrite(relinked, "access_log", 3, {"detail": "nothing to see"}, through=head)
    found = relinked.verify().findings
    assert found and all(f.table == "access_log" and "checkpoint" in f.what for f in found)
    assert "sealed this place with another hash" in found[0].what

    assert world.verify().ok  # the original is untouched


def test_a_deleted_middle_row_is_named(pipeline: Pipeline, tmp_path: Path) -> None:
    world, _ = audited(pipeline, tmp_path)
    copy = world.copy(tmp_path)
    copy.mutate("ALTER TABLE access_log DELETE WHERE chain_seq = 5")
    copy.mutate("ALTER TABLE dsr_requests DELETE WHERE chain_seq IN (2, 3)")

    found = copy.verify().findings

    assert [(f.table, f.row) for f in found] == [("access_log", "row 5"), ("dsr_requests", "rows 2-3")]
    assert all("missing: deleted, and not by an erasure or at the end of its term" in f.what for f in found)


def test_the_newest_rows_deleted_before_the_next_checkpoint_are_found_by_it(pipeline: Pipeline, tmp_path: Path) -> None:
    world, _ = audited(pipeline, tmp_path)
    # The newest rows of a checkpoint already written: the checkpoint names them.
    sealed = world.copy(tmp_path)
    head = sealed.chained("access_log")
    sealed.mutate(f"ALTER TABLE access_log DELETE WHERE chain_seq >= {head - 1}")
    found = sealed.verify().findings
    assert [(f.table, f.row) for f in found] == [("access_log", f"rows {head - 1}-{head}")]
    assert "sealed by checkpoint 2 but not in the store: the newest rows were deleted" in found[0].what

    # Rows written after the last checkpoint, deleted before the next one is sealed: the next one was
    # made from what the writer appended, not from what the store still holds.
    running = world.copy(tmp_path)
    sealer = running.sealer()
    log = AccessLog(running.store, "officer@engage.test")
    for i in range(3):
        log.record(Action.read_register, "", "", f"after the seal {i}")
    assert running.verify().unsealed == {"access_log": 3}
    running.mutate(f"ALTER TABLE access_log DELETE WHERE chain_seq > {head + 1}")
    sealer.seal()
    found = running.verify().findings
    assert [(f.table, f.row) for f in found] == [("access_log", f"rows {head + 2}-{head + 3}")]
    assert "sealed by checkpoint 3" in found[0].what

    # A new writer on that store goes on from the checkpoint, not from the store's shortened chain.
    fresh = AuditTrail(running.store)
    fresh.sealed = running.sealer().book.sealed_head
    assert fresh.head("access_log").seq == head + 3


def test_a_checkpoint_with_a_bad_signature_is_found(pipeline: Pipeline, tmp_path: Path) -> None:
    world, _ = audited(pipeline, tmp_path)

    forged = world.copy(tmp_path)
    path = forged.folder / "00000001.json"
    doc = json.loads(path.read_text())
    doc["body"]["chains"]["access_log"]["head"]["seq"] = 1  # a shorter chain, as if it had been
    path.write_text(json.dumps(doc))
    found = forged.verify().findings
    assert found[0].line() == (f"checkpoint 1: bad signature: not signed by key {world.verify().key}, or changed "
                               "since it was signed")  # fmt: skip

    # Signed, but with another key: the same.
    other = world.copy(tmp_path)
    impostor = Signer(tmp_path / "impostor.pem")
    impostor.ensure()
    cp = Checkpoint.parse((other.folder / "00000002.json").read_text(), "cp")
    (other.folder / "00000002.json").write_text(impostor.sign(cp.body).file_text())
    assert [f.row for f in other.verify().findings if f.table == "checkpoint"] == ["2"]

    # A checkpoint removed from the folder.
    gone = world.copy(tmp_path)
    gone.sealer().seal(force=True)
    (gone.folder / "00000002.json").unlink()
    assert [f.line() for f in gone.verify().findings] == ["checkpoint 3: checkpoints 2 to 2 are missing"]


def test_rows_removed_at_the_end_of_their_term_still_verify(pipeline: Pipeline, tmp_path: Path) -> None:
    world = World(pipeline.store, pipeline.settings.audit_folder, pipeline.settings.audit_key)
    sealer = world.sealer()
    trail = AuditTrail.of(pipeline.store)
    now = dt.datetime.now(dt.UTC)
    columns = ("at", "operator", "action", "request_id", "subject_id", "detail")
    # Written six years ago, through the same trail: the policy keeps request records five.
    old = [(now - dt.timedelta(days=6 * 366, hours=10 - i), "officer", "export", f"DSR-OLD-{i}", f"s{i}", "")
           for i in range(4)]  # fmt: skip
    trail.append("access_log", columns, old)
    sealer.seal()
    log = AccessLog(pipeline.store, "officer@engage.test")
    for i in range(5):
        log.record(Action.read_register, "", "", f"now {i}")
    sealer.seal()
    assert world.verify().ok

    pipeline.store.command("OPTIMIZE TABLE access_log FINAL")  # a merge applies the TTL
    assert pipeline.store.scalar("SELECT count() FROM access_log WHERE request_id LIKE 'DSR-OLD-%'") == 0

    result = world.verify()
    assert result.ok, [f.line() for f in result.findings]
    assert result.expired == {"access_log": 4} and result.rows == 5

    # The term excuses only rows past it: a recent row deleted is still found.
    copy = world.copy(tmp_path)
    copy.mutate("ALTER TABLE access_log DELETE WHERE chain_seq = 6")
    assert [f.row for f in copy.verify().findings] == ["row 6"]
    # Two years earlier, the same four missing rows would not have been past their term.
    early = world.verify(now=now - dt.timedelta(days=2 * 366))
    assert [(f.table, f.row) for f in early.findings] == [("access_log", "rows 1-4")]


def test_a_time_given_in_another_zone_hashes_as_the_store_reads_it_back(pipeline: Pipeline) -> None:
    world = World(pipeline.store, pipeline.settings.audit_folder, pipeline.settings.audit_key)
    sealer = world.sealer()
    amsterdam = dt.timezone(dt.timedelta(hours=2))
    at = dt.datetime(2026, 7, 1, 14, 30, 15, 123456, tzinfo=amsterdam)  # 12:30:15.123456 UTC
    AuditTrail.of(pipeline.store).append("access_log", ("at", "operator", "action", "request_id", "subject_id",
                                                        "detail"), [(at, "officer", "export", "R", "s", "")])  # fmt: skip
    sealer.seal()
    assert pipeline.store.scalar("SELECT toString(at) FROM access_log") == "2026-07-01 12:30:15.123456"
    assert world.verify().ok


def _rewrite(world: World, table: str, seq: int, changes: dict[str, str], through: int | None = None) -> None:
    """Change a row and recompute its hash (and relink the rows after it, through ``through``), as an intruder
    who knows the canonical form would."""
    kinds = AuditTrail.of(world.store).columns(table)
    names = list(kinds)
    rows = world.store.rows(f"SELECT {', '.join(names)}, chain_seq, chain_prev, chain_prior_at FROM {table}"
                            f" WHERE chain_seq BETWEEN {seq} AND {through or seq} ORDER BY chain_seq")  # fmt: skip
    prev = None
    for row in rows:
        values = dict(zip(names, row[: len(names)], strict=True))
        n, old_prev, prior_at = row[len(names):]
        if n == seq:
            values.update(changes)
        link = prev or old_prev
        new_hash = digest(record(table, n, link, prior_at, content(kinds, values)))
        sets = ", ".join(f"{k} = {{v_{k}:String}}" for k in changes) if n == seq else ""
        sets = ", ".join(x for x in (sets, "chain_prev = {p:String}", "chain_hash = {h:String}") if x)
        world.store.command(f"ALTER TABLE {table} UPDATE {sets} WHERE chain_seq = {n}",
                            {"p": link, "h": new_hash, **{f"v_{k}": v for k, v in changes.items()}},
                            {"mutations_sync": 2})  # fmt: skip
        prev = new_hash

