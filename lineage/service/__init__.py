"""`lineage serve`: one process that owns the store, consumes, keeps the retention schedule and answers over HTTP."""
