"""The model-performance policy in force for a machine: settings defaults + staff overrides.

Lives in the lowest layer because machines (in `baselines`) validate their overrides and the
`performance` app applies them. Sections whose rules belong to a higher layer (the drift
thresholds) are validated through `settings.ENMS_POLICY_SECTION_VALIDATORS`: section name ->
dotted path of a callable that raises `ValueError` or `TypeError` on a bad value.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


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


_NUMBERS = ("degradation_margin", "degradation_critical_margin", "promotion_margin")
_SWITCHES = ("auto_retrain_on_critical", "notify_critical")
_OPTIONAL_NUMBERS = ("energy_price_per_kwh", "emission_factor_kg_per_kwh")
_PROMOTION_MODES = ("promote", "ab_test", "keep")


def policy_overrides_errors(overrides: Any) -> list[str]:
    """What is wrong with a machine's `policy_overrides` (empty when it is valid), so staff get
    a form error in the admin instead of a failing drift check later."""
    import math

    if not isinstance(overrides, dict):
        return ["Policy overrides must be a JSON object."]
    errors = []
    known = set(settings.ENMS_POLICY)
    validators = getattr(settings, "ENMS_POLICY_SECTION_VALIDATORS", {})
    for key, value in overrides.items():
        if key not in known:
            errors.append(f"Unknown policy key {key!r}; known: {', '.join(sorted(known))}.")
        elif key in _NUMBERS or key == "retrain_window_days":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                errors.append(f"{key} must be a non-negative number.")
        elif key == "recovery_clean_checks":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                errors.append("recovery_clean_checks must be a whole number from 1 to 1000.")
        elif key in _OPTIONAL_NUMBERS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0):
                errors.append(f"{key} must be a non-negative number or null.")
        elif key in _SWITCHES and not isinstance(value, bool):
            errors.append(f"{key} must be true or false.")
        elif key == "promotion_mode" and value not in _PROMOTION_MODES:
            errors.append(f"promotion_mode must be one of {', '.join(_PROMOTION_MODES)}.")
        elif key in validators:
            try:
                import_string(validators[key])(value)
            except (ValueError, TypeError) as exc:
                errors.append(f"{key}: {exc}")
        elif key == "ashrae_limits":
            if not isinstance(value, dict) or any(
                k not in ("hourly", "daily", "monthly") or not isinstance(v, (list, tuple)) or len(v) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < 10 for x in v)
                for k, v in value.items()
            ):
                errors.append("ashrae_limits maps hourly/daily/monthly to [cv_rmse_limit, nmbe_limit] fractions.")
    return errors
