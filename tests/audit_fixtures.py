"""An audited store: real rows in all six audit chains, sealed, and copies of it to tamper with."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from pipeline_fixtures import TEST_KEY, Pipeline
from scenario import USER1, USER2, known_scenario
from test_rights import office_for

from consumers.audit.chains import CHAINS, terms_of
from consumers.audit.checkpoints import CheckpointBook, Signer
from consumers.audit.seal import Sealer
from consumers.audit.trail import AuditTrail
from consumers.audit.verify import Verification, Verifier
from consumers.policy.loader import load_policy
from consumers.retention.run import RetentionRun
from consumers.rights.access_log import AccessLog, Action
from consumers.rights.office import RightsOffice
from consumers.store.store import Store
from lineage.wiring import open_store

POLICY = load_policy()
_SYNC = {"mutations_sync": 2}


@dataclass
class World:
    """A store and its checkpoint folder: what verification reads."""

    store: Store
    folder: Path
    key_file: Path

    def sealer(self) -> Sealer:
        return Sealer(AuditTrail.of(self.store), Signer(self.key_file), CheckpointBook(self.folder))

    def verify(self, since: dt.datetime | None = None, now: dt.datetime | None = None) -> Verification:
        checkpoints, problems = CheckpointBook(self.folder).read()
        return Verifier(self.store, terms_of(POLICY), Signer(self.key_file).public, checkpoints, now).run(
            since, problems=problems)

    def chained(self, table: str) -> int:
        return int(self.store.scalar(f"SELECT count() FROM {table} WHERE chain_seq > 0"))

    def mutate(self, sql: str) -> None:
        self.store.command(sql, settings=_SYNC)

    def copy(self, tmp_path: Path) -> World:
        """The store's audit tables in a database of their own, and the checkpoint folder copied."""
        name = f"copy_{uuid.uuid4().hex[:8]}"
        copy = open_store(self.store.url, name, POLICY)
        for table in CHAINS:
            copy.command(f"INSERT INTO {name}.{table} SELECT * FROM {self.store.database}.{table}")
        folder = tmp_path / name
        shutil.copytree(self.folder, folder)
        return World(copy, folder, self.key_file)


def audited(pipeline: Pipeline, tmp_path: Path) -> tuple[World, RightsOffice]:
    """The scenario stored, then a privacy officer's and an operator's day: rows in every chain, sealed twice."""
    pipeline.produce(s.event for s in known_scenario())
    pipeline.consume()
    settings = pipeline.settings
    world = World(pipeline.store, settings.audit_folder, settings.audit_key)
    sealer = world.sealer()
    office = office_for(pipeline, tmp_path)
    office.export(USER2, tmp_path / "exports" / "user2")
    office.rectify(USER1, {"last_name": "Jansen-de Boer", "job_title": "Modeller"})
    office.erase(USER1)  # removes USER1's rectification history: two rows of that chain
    office.incidents.open("laptop lost", dt.datetime(2026, 10, 1, tzinfo=dt.UTC), dt.datetime(2026, 10, 2, tzinfo=dt.UTC))
    RetentionRun(pipeline.store, POLICY, "ops@engage.test").execute()
    log = AccessLog(pipeline.store, "auditor@engage.test")
    for i in range(12):
        log.record(Action.read_register, "", "", f"read {i}")
    sealer.seal()
    for i in range(6):
        log.record(Action.read_register, "", "", f"read again {i}")
    sealer.seal()
    return world, office


def env(p: Pipeline) -> dict[str, str]:
    s = p.settings
    return {"LINEAGE_HOME": str(s.home), "CLICKHOUSE_URL": s.store_url,
            "LINEAGE_CLICKHOUSE_DATABASE": s.clickhouse_database, "KAFKA_BOOTSTRAP_SERVERS": p.bootstrap,
            "LINEAGE_TOPIC_PREFIX": s.topic_prefix, "LINEAGE_DEAD_LETTER_TOPIC": s.dead_letters,
            "LINEAGE_PSEUDONYM_KEY": TEST_KEY, "LINEAGE_OPERATOR": "auditor@engage.test", "COLUMNS": "200"}  # fmt: skip
