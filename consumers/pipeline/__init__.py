"""The tagging consumer: from Kafka messages to tagged rows in the store, exactly once.

``consumer`` owns the Kafka clients and the commit loop; ``processing`` turns one
message into rows (decode, validate, pseudonymise, tag with ``tagging`` and
``consent``); ``batch``, ``sink`` and ``recovery`` make every flush idempotent;
``dead_letter`` sends what cannot be stored. ``config`` is all it needs to know.
"""
