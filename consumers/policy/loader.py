"""Reading a policy file: YAML, checked against the model and the fideslang taxonomy."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from consumers.policy.errors import PolicyFileError
from consumers.policy.model import Policy

DEFAULT_POLICY = Path(__file__).parent / "policy.yaml"


def _check_taxonomy(policy: Policy) -> None:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    uses = {d.fides_key for d in DEFAULT_TAXONOMY.data_use}
    categories = {d.fides_key for d in DEFAULT_TAXONOMY.data_category}
    subjects = {d.fides_key for d in DEFAULT_TAXONOMY.data_subject}
    bad = [f"data use {p.data_use!r}" for p in policy.purposes.values() if p.data_use not in uses]
    for rule in policy.rules:
        bad += [f"data category {c!r}" for c in rule.data_categories if c not in categories]
        if rule.data_subject not in subjects:
            bad.append(f"data subject {rule.data_subject!r}")
    if bad:
        raise PolicyFileError("not in the fideslang default taxonomy: " + ", ".join(sorted(set(bad))))


def load_policy(path: Path | None = None) -> Policy:
    """Read and check a policy file; raises PolicyFileError saying what is wrong."""
    path = path or DEFAULT_POLICY
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"cannot read policy file {path}: {exc}") from exc
    try:
        policy = Policy.model_validate(doc)
    except ValidationError as exc:
        raise PolicyFileError(f"policy file {path} is not valid: {exc}") from exc
    _check_taxonomy(policy)
    return policy
