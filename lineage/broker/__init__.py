"""A real single-node Apache Kafka broker (KRaft, broker+controller) run from Maven jars.

No Docker needed: ``jars`` fetches the official broker jars from Maven Central with
the pom beside it (``pom.xml``), ``local`` starts them as a detached ``java
kafka.Kafka`` process on loopback and stops it again, ``process`` holds the
operating-system details (locks, pids, ports, the storage tool).
"""
