"""The model-performance policy in force for a machine: settings defaults + staff overrides."""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings


def policy_for(machine) -> dict[str, Any]:
    """`settings.ENMS_POLICY` with the machine's `policy_overrides` merged in (nested dicts merge
    key by key, so overriding one drift threshold keeps the others)."""
    policy = copy.deepcopy(settings.ENMS_POLICY)
    overrides = getattr(machine, "policy_overrides", None) or {}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(policy.get(key), dict):
            policy[key] = {**policy[key], **value}
        else:
            policy[key] = value
    return policy


def ashrae_limits(policy: dict[str, Any], interval: str) -> tuple[float, float]:
    limits = policy["ashrae_limits"].get(interval) or policy["ashrae_limits"]["hourly"]
    return float(limits[0]), float(limits[1])


def ashrae_pass(policy: dict[str, Any], interval: str, cv_rmse: float | None, nmbe: float | None) -> bool | None:
    """Whether CV(RMSE) and |NMBE| are within ASHRAE Guideline 14 limits; None when unknown."""
    if cv_rmse is None or nmbe is None:
        return None
    cv_limit, nmbe_limit = ashrae_limits(policy, interval)
    return cv_rmse <= cv_limit and abs(nmbe) <= nmbe_limit
