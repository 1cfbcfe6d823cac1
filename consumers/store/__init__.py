"""The store: ClickHouse through one clickhouse-connect client, embedded (chDB) or a server, same code.

``driver`` is the only module that touches clickhouse-connect; ``store`` is the small
interface the rest of the code uses; ``tables`` is how each part hands the store its
DDL; ``events`` and ``controls`` are the tables every part shares. Imports nothing
of the pipeline or the jobs.
"""
