"""Data-subject rights (GDPR Art. 15-21): the privacy officer's part of the store.

``office.RightsOffice`` is the one entry point; the CLI's ``sar`` and ``dsr``
commands are thin layers over it.
"""
