"""Retention (statement section 4): table TTLs for terms that run from a row's own date,
and the retention run for terms that start at a later event."""
