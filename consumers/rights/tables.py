"""The tables of the rights office: the request register, the access log, rectifications.

The controls it sets live in the store (``consumers/store/controls.py``): the pipeline reads them too.

None holds a name or an e-mail; people are named by their subject id only.
"""

from __future__ import annotations

from consumers.audit.chains import CHAIN_DDL
from consumers.store.tables import PHYSICAL_ERASURE, TableSet

# Every request with its deadlines (Art. 12(3)-(4)): one row per version, the newest standing. Every
# version is kept (a merge replacing older ones would break the audit chain, consumers/audit).
DSR_REQUESTS = f"""
CREATE TABLE IF NOT EXISTS dsr_requests (
    request_id         String,
    subject_id         String,
    right              LowCardinality(String),
    channel            LowCardinality(String),
    received_at        DateTime64(3, 'UTC'),
    due_at             DateTime64(3, 'UTC'),
    extended_due_at    Nullable(DateTime64(3, 'UTC')),
    extension_reason   String,
    extension_told_at  Nullable(DateTime64(3, 'UTC')),
    status             LowCardinality(String),
    completed_at       Nullable(DateTime64(3, 'UTC')),
    refusal_reason     String,
    outcome            String COMMENT 'what was done, in counts and reasons, never the data',
    updated_at         DateTime64(6, 'UTC'),{CHAIN_DDL}
) ENGINE = MergeTree
ORDER BY (request_id, chain_seq)
"""

# Who did what with personal data, when and for which request. Only appended to:
# the code has no statement that changes or deletes its rows; the TTL the policy gives
# request records (consumers/retention/policy_schema.py) removes them after their term.
ACCESS_LOG = f"""
CREATE TABLE IF NOT EXISTS access_log (
    at          DateTime64(6, 'UTC'),
    operator    LowCardinality(String),
    action      LowCardinality(String),
    request_id  String,
    subject_id  String,
    detail      String,{CHAIN_DDL}
) ENGINE = MergeTree
ORDER BY at
"""

# The history of corrections (Art. 16): the values replaced, and by what.
RECTIFICATIONS = f"""
CREATE TABLE IF NOT EXISTS rectifications (
    subject_id   String,
    field        LowCardinality(String),
    old_values   Array(String),
    new_value    String,
    request_id   String,
    operator     LowCardinality(String),
    at           DateTime64(3, 'UTC'),{CHAIN_DDL}
) ENGINE = MergeTree
ORDER BY (subject_id, at)
SETTINGS {PHYSICAL_ERASURE}
"""

# The register of suspected data breaches (statement section 8; GDPR Art. 33 and 34): one row per
# version of an incident, the newest standing (every version kept, as in the request register); what
# happened is told in counts and words, never the data.
INCIDENTS = f"""
CREATE TABLE IF NOT EXISTS incidents (
    incident_id       String,
    title             String,
    window_from       DateTime64(3, 'UTC'),
    window_to         DateTime64(3, 'UTC'),
    tenants           Array(String),
    services          Array(String),
    categories        Array(String),
    tables            Array(String),
    aware_at          DateTime64(3, 'UTC')  COMMENT 'when the breach became known: the Art. 33 clock starts',
    opened_by         String,
    status            LowCardinality(String),
    situation         String,
    root_causes       String,
    corrections       String,
    management_reported_at  Nullable(DateTime64(3, 'UTC')),
    authority_notified_at   Nullable(DateTime64(3, 'UTC')),
    closed_at         Nullable(DateTime64(3, 'UTC')),
    updated_at        DateTime64(6, 'UTC'),{CHAIN_DDL}
) ENGINE = MergeTree
ORDER BY (incident_id, chain_seq)
"""

# What each erasure removed, in counts and places, never the data. Written before the erasure
# deletes (listing the audit rows it will remove, so that their chain still verifies) and after it.
ERASURES = f"""
CREATE TABLE IF NOT EXISTS erasures (
    at            DateTime64(6, 'UTC'),
    request_id    String,
    subject_id    String,
    operator      LowCardinality(String),
    stage         LowCardinality(String) COMMENT 'started: what it will remove; done: what it removed',
    removed_rows  String COMMENT 'JSON: the audit rows it removes, by chain, place and hash',
    outcome       String COMMENT 'JSON: per place, what was removed and what remains until when',{CHAIN_DDL}
) ENGINE = MergeTree
ORDER BY at
"""

TABLES = TableSet("rights", (DSR_REQUESTS, ACCESS_LOG, RECTIFICATIONS, INCIDENTS, ERASURES))
