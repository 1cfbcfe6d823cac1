"""Why a policy file cannot be used."""

from __future__ import annotations


class PolicyFileError(Exception):
    """The policy file cannot be loaded: a broken reference, an unknown taxonomy key, a bad term."""
