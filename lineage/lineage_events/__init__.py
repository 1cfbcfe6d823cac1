"""OpenLineage run events of the consumer, retention, erasure, rectification and access exports.

``client`` builds the client and its transport and sends events off the work's thread;
``naming`` names jobs and datasets by the OpenLineage conventions; ``facets`` builds schemas,
column lineage and counts; ``runs`` turns a block of work into START, RUNNING, COMPLETE or FAIL;
``jobs`` says what each job reads, writes and counts. ``lineage.wiring`` builds them from the
settings (``Parts.lineage_events``).
"""
