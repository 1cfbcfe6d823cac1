"""The policy: the privacy statement as data (``policy.yaml``), its model, its loader, retention terms and local time.

The base every other part of ``consumers`` stands on; it imports none of them.
"""
