"""Alert messages in plain words, written from an alert's stored evidence (no Django).

An alert's message is never typed by hand: it is rewritten from the evidence of the check that
set the alert's current severity, so the badge and the text always tell the same story. Times are
shown in the machine's local time zone, shifts as percentages of consumption and kWh.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

CAUSE_WORDS = {
    "coverage": "the drivers left the ground the version was trained on, so it is extrapolating",
    "consumption_change": "energy use changed and the drivers do not explain it",
    "model_error": "the model's errors grew without a level shift",
}


def _time(value: str | None, tz: str | None) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is not None and tz:
        try:
            moment = moment.astimezone(ZoneInfo(tz))
        except (KeyError, ValueError):
            pass
    return moment.strftime("%a %d %b %Y %H:%M") + (f" ({tz})" if tz and moment.tzinfo is not None else "")


def _day(value: str | None, tz: str | None) -> str | None:
    text = _time(value, tz)
    return text[4:15] if text else None


def _pct(x: float | None, signed: bool = True) -> str | None:
    if x is None:
        return None
    return f"{100.0 * x:+.1f} %" if signed else f"{100.0 * x:.1f} %"


def _kwh(x: float | None) -> str:
    return f"{x:+,.0f} kWh" if abs(x) >= 10 else f"{x:+,.1f} kWh"


def describe_impact(impact: dict[str, Any] | None, tz: str | None) -> str | None:
    """'Since Mon 12 Jan 2026 14:00 energy use is 11.2 % above the baseline: +84 kWh a day,
    +420 kWh so far (cost 63.00, 25 kg CO2).'"""
    if not impact or impact.get("percent") is None:
        return None
    percent = float(impact["percent"])
    word = "above" if impact.get("direction", "up" if percent >= 0 else "down") == "up" else "below"
    since = _time(impact.get("change_point"), tz)
    text = (f"since {since} " if since else "") + f"energy use is {abs(percent):.1f} % {word} the baseline"
    parts = []
    if impact.get("kwh_per_day") is not None:
        parts.append(f"{_kwh(float(impact['kwh_per_day']))} a day")
    if impact.get("kwh_since_change") is not None:
        parts.append(f"{_kwh(float(impact['kwh_since_change']))} so far")
    if parts:
        text += ": " + ", ".join(parts)
    extra = []
    if impact.get("cost") is not None:
        extra.append(f"cost {float(impact['cost']):,.2f}")
    if impact.get("co2_kg") is not None:
        extra.append(f"{float(impact['co2_kg']):,.0f} kg CO2")
    if extra:
        text += f" ({', '.join(extra)})"
    return text


def describe_drift(evidence: dict[str, Any], *, subject: str, severity: str, tz: str | None) -> str:
    """The message of a drift alert from its check's evidence (`evidence_from_metric`)."""
    sentences = [f"{severity.capitalize()} drift on {subject}"]
    cause = evidence.get("cause")
    if cause in CAUSE_WORDS:
        sentences[0] += f": {CAUSE_WORDS[cause]}"
    sentences[0] += "."
    impact = describe_impact(evidence.get("impact"), tz)
    concept = evidence.get("concept_drift") or {}
    if impact:
        sentences.append(impact[0].upper() + impact[1:] + ".")
    else:
        shift = concept.get("shift_relative")
        since = _time(concept.get("change_point"), tz)
        if concept.get("drifted") and shift is not None and since:
            word = "above" if shift >= 0 else "below"
            sentences.append(f"From {since} consumption runs {abs(100 * shift):.1f} % {word} the baseline.")
    start, end = _day(evidence.get("window_start"), tz), _day(evidence.get("window_end"), tz)
    figures = []
    if concept.get("nmbe") is not None:
        figures.append(f"mean bias (NMBE) {_pct(concept['nmbe'])}")
    if concept.get("cv_rmse") is not None:
        figures.append(f"CV(RMSE) {_pct(concept['cv_rmse'], signed=False)}")
    if concept.get("error_ratio") is not None:
        figures.append(f"errors {float(concept['error_ratio']):.1f}× those at training")
    if figures:
        window = f"In the week checked ({start} to {end})" if start and end else "In the window checked"
        sentences.append(f"{window}: " + ", ".join(figures) + ".")
    outside = [f"{name} ({_pct(share, signed=False)} of hours)"
               for name, share in (evidence.get("out_of_range") or {}).items() if share]
    if outside:
        sentences.append("Outside the training range: " + ", ".join(outside) + ".")
    out_of_range = evidence.get("out_of_range") or {}
    drifted = [name for name in evidence.get("drifted_drivers") or [] if name not in out_of_range]
    if drifted:
        sentences.append("Drivers unlike the training period: " + ", ".join(drifted) + ".")
    if evidence.get("in_sample_hours"):
        sentences.append(f"{int(evidence['in_sample_hours'])} of the hours checked lie inside the training "
                         "period and were not judged.")
    return " ".join(sentences)


def describe_degradation(evidence: dict[str, Any], *, subject: str, severity: str, tz: str | None,
                         limits: tuple[float, float] | None = None) -> str:
    """The message of a degradation alert from its evaluation's evidence."""
    start, end = _day(evidence.get("window_start"), tz), _day(evidence.get("window_end"), tz)
    window = f" from {start} to {end}" if start and end else ""
    sentences = [f"{severity.capitalize()}: {subject} predicts worse than when it was trained{window}."]
    figures = []
    if evidence.get("rmse_degradation") is not None:
        figures.append(f"its typical error (RMSE) is {abs(100 * float(evidence['rmse_degradation'])):.0f} % "
                       f"{'above' if evidence['rmse_degradation'] >= 0 else 'below'} the one measured on held-out data")
    if evidence.get("cv_rmse") is not None:
        figures.append(f"CV(RMSE) {_pct(evidence['cv_rmse'], signed=False)}"
                       + (f" (limit {100 * limits[0]:.0f} %)" if limits else ""))
    if evidence.get("nmbe") is not None:
        figures.append(f"mean bias (NMBE) {_pct(evidence['nmbe'])}"
                       + (f" (limit ±{100 * limits[1]:.1f} %)" if limits else ""))
    if figures:
        sentences.append(figures[0][0].upper() + figures[0][1:] + ("; " + "; ".join(figures[1:]) if figures[1:] else "")
                         + ".")
    if evidence.get("ashrae_pass") is False:
        sentences.append("That is outside the ASHRAE Guideline 14 limits.")
    return " ".join(sentences)
