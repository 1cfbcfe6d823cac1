"""The tables retention keeps: the facts its terms start from, and what each run did.

Neither holds a name or an e-mail. The facts name a tenant, a relation contact
or a subject id; the run records hold counts only.
"""

from __future__ import annotations

from consumers.audit.chains import CHAIN_DDL
from consumers.store.tables import PHYSICAL_ERASURE, TableSet

# When a subscription, a contact or a person's newsletter ended, and when one was
# resumed: copied from the events by a materialised view (consumers/retention/policy_schema.py)
# because the events that say so are deleted with the data whose term they start.
RETENTION_FACTS = f"""
CREATE TABLE IF NOT EXISTS retention_facts (
    scope_kind    LowCardinality(String) COMMENT 'tenant, contact or subject',
    scope         String                 COMMENT 'the tenant id, the contact id or the subject id',
    unit          String                 COMMENT 'what ends within the scope: the subscription of a tenant, else the scope',
    event_type    LowCardinality(String),
    effective_at  DateTime64(3, 'UTC')   COMMENT 'when the term starts (or the end is called off)',
    event_id      UUID
) ENGINE = ReplacingMergeTree
ORDER BY (scope_kind, scope, unit, effective_at, event_type, event_id)
SETTINGS {PHYSICAL_ERASURE}
"""

# One row per step of a retention run: what was removed, in counts, never the data.
RETENTION_RUNS = f"""
CREATE TABLE IF NOT EXISTS retention_runs (
    run_id          String,
    as_of           DateTime64(3, 'UTC'),
    step            LowCardinality(String) COMMENT 'a retention rule, or a clean-up after them',
    action          LowCardinality(String),
    scopes          UInt32                 COMMENT 'tenants, contacts or people whose term had ended',
    rows            Map(LowCardinality(String), UInt64) COMMENT 'table -> rows deleted or anonymised',
    policy_version  LowCardinality(String),
    operator        LowCardinality(String),
    started_at      DateTime64(3, 'UTC'),
    finished_at     DateTime64(3, 'UTC'),{CHAIN_DDL}
) ENGINE = MergeTree
ORDER BY (started_at, run_id, step)
"""

# What the policy last made of the tables (TTLs, the facts view): applied again only
# when the policy changes it, because a new TTL rewrites every part of a table.
POLICY_OBJECTS = """
CREATE TABLE IF NOT EXISTS policy_objects (
    name            String,
    definition      String,
    policy_version  LowCardinality(String),
    applied_at      DateTime64(6, 'UTC')
) ENGINE = ReplacingMergeTree(applied_at)
ORDER BY name
"""

TABLES = TableSet("retention", (RETENTION_FACTS, RETENTION_RUNS, POLICY_OBJECTS))
RUN_COLUMNS = ("run_id", "as_of", "step", "action", "scopes", "rows", "policy_version", "operator", "started_at",
               "finished_at")  # fmt: skip
