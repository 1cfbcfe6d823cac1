"""The one door the product team's queries go through.

``product_events`` holds only events whose purpose is product insight, and
leaves out every person who is restricted, erased, or objected to that purpose
(the rights office writes those controls). Queries of the product team read this
view, never ``events`` itself, so a person's choice reaches every figure at once.
"""

from __future__ import annotations

PRODUCT_PURPOSE = "product_insight"

# Everyone whose data must not count for product insight: restricted, erased, or objecting to it.
# The rollups are filtered with the same set at query time.
CONTROLLED = f"""(
      SELECT groupArray(subject_id) FROM subject_controls FINAL
      WHERE active AND (kind IN ('restriction', 'erasure')
                        OR (kind = 'objection' AND purpose = '{PRODUCT_PURPOSE}')))"""

PRODUCT_EVENTS = f"""
CREATE OR REPLACE VIEW product_events AS
SELECT event_id, event_type, family, occurred_at, tenant_id, subject_ids, subject_roles, actor_id,
       components, attributes, policy_version, ingested_at
FROM events
WHERE has(purposes, '{PRODUCT_PURPOSE}')
  AND NOT hasAny(subject_ids, {CONTROLLED})
"""
