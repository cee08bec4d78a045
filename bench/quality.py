"""Simulated false-winner rate and power of the A/B test methods in performance.abstats.

Usage: python bench/quality.py [--sims N] [--json out.json] [--seed S] [--loss absolute|squared]
                               [--only arma21,0.9,...] [--pretest]

Cells: every error process of performance.absim (hourly AR(1) with rho 0.5,
0.8 and 0.9; ARMA(2,1); day-level bias; day-to-day amplitude of the
occupied-hours profile; daytime errors twice as large) over 14 and 28 days.
Each cell simulates N A/A tests (two equally good versions) and N tests of a
challenger 10 % better in MAE, and runs every method on the same data.

* false winners: share of A/A tests that declare any winner; a valid method
  stays at or below alpha within the simulation error bar
  ``2 sqrt(alpha (1 - alpha) / N)``;
* power: share of challenger tests that declare B the winner, with its error
  bar ``2 sqrt(power (1 - power) / N)``;
* size-adjusted power: the same with the p-value threshold set to the 5 %
  quantile of that method's A/A p-values in the same cell, so methods are
  compared at an exact 5 % false-winner rate (a method that declares too
  many false winners does not look more powerful for it).

``--pretest`` also scores a data-driven choice between the default test and
``daily_dm_ewc`` on the same simulations: the daily test is taken when the
variance of the ``k`` complete days' means, divided by the variance that the
default's hourly AR(p) fit implies for it (:func:`daily_variance_ratio`),
exceeds ``1 + c sqrt(2 / (k - 1))``, for ``c`` in PRETEST_C.  The figures are
those of the combined procedure, pre-test included (the abstats docstring
quotes them as the reason the default stays hourly).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from performance import absim, abstats  # noqa: E402
from performance.hac import ar_order_cap, autocovariances, yule_walker  # noqa: E402

ALPHA = 0.05
PROCESSES: tuple[float | str, ...] = (0.5, 0.8, 0.9, *absim.PROCESSES)
DAYS = (14, 28)
SCALE_B = 0.9
SHARED = 0.5
CHUNK = 1000
PRETEST_C = (0.0, 1.0, 2.0)
HOURLY, DAILY = "dm_ewc_arp", "daily_dm_ewc"
METHODS = abstats.METHODS
SHORT = {
    "dm_ewc_arp": "arp",
    "dm_ewc": "ar1",
    "dm_ewc_raw": "raw",
    "daily_dm_ewc": "daily",
    "batch_means": "batch",
    "dm_newey_west": "nw",
    "naive_t": "naive",
}


def daily_variance_ratio(d: np.ndarray, period: int = 24) -> np.ndarray:
    """Variance of the complete days' means of ``d`` over the variance its hourly AR(p) fit implies for them.

    The AR(p) is the one the default test prewhitens with (Yule-Walker, order by
    BIC up to ``ar_order_cap(n)``, on ``d`` centred).  The implied value is the
    expected sample variance of ``k`` consecutive day means under that model,
    ``k / (k - 1) (V(period) - V(k period))`` with ``V(L)`` the variance of a
    mean of ``L`` consecutive readings.  Rows along the last axis.
    """
    d = np.asarray(d, dtype=np.float64)
    rows = d.reshape(-1, d.shape[-1])
    x = rows - rows.mean(axis=-1, keepdims=True)
    count, n = x.shape
    k = n // period
    if k < 2:
        raise ValueError("the ratio needs two complete periods")
    cap = ar_order_cap(n)
    gamma = autocovariances(x, cap)
    coefficients, variances = yule_walker(gamma, cap)
    bic = np.log(np.maximum(variances, np.finfo(float).tiny)) + np.arange(cap + 1) * math.log(n) / n
    order = np.argmin(bic, axis=-1)
    a = np.zeros((count, cap))
    for p in range(1, cap + 1):
        a[order == p, :p] = coefficients[p][order == p]
    length = k * period
    # Model autocovariances: the sample ones up to the chosen order, the AR recursion beyond.
    g = np.zeros((count, max(length, cap + 1)))
    g[:, : cap + 1] = gamma
    for h in range(1, length):
        implied = np.einsum("rj,rj->r", a, g[:, np.abs(h - 1 - np.arange(cap))])
        g[:, h] = np.where(h <= order, g[:, h], implied)

    def mean_variance(span: int) -> np.ndarray:
        return (span * g[:, 0] + 2.0 * g[:, 1:span] @ (span - np.arange(1, span))) / span**2

    expected = k / (k - 1) * (mean_variance(period) - mean_variance(length))
    observed = x[:, :length].reshape(count, k, period).mean(axis=-1).var(axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.inf)
    return ratio.reshape(d.shape[:-1])


def pretest_threshold(c: float, days: int) -> float:
    """Ratio above which the pre-test takes the daily test: ``1 + c sqrt(2 / (k - 1))``."""
    return 1.0 + c * math.sqrt(2.0 / (days - 1))


def _simulate(process, days: int, scale_b: float, sims: int, rng: np.random.Generator, loss: str,
              pretest: bool = False):
    """p-values (per method), mean loss differences and (``pretest``) daily variance ratios of ``sims`` tests."""
    n = 24 * days
    out = {m: [] for m in METHODS}
    means, ratios = [], []
    done = 0
    while done < sims:
        size = min(CHUNK, sims - done)
        e_a, e_b = absim.simulate_errors(n, process, 1.0, rng, scale_b=scale_b, shared=SHARED, n_sims=size)
        la, lb = abstats.pointwise_loss(e_a, loss), abstats.pointwise_loss(e_b, loss)
        for m in METHODS:
            out[m].append(abstats.p_values(la, lb, method=m, period=24))
        means.append((la - lb).mean(axis=-1))
        if pretest:
            ratios.append(daily_variance_ratio(la - lb, 24))
        done += size
    ratio = np.concatenate(ratios) if pretest else None
    return {m: np.concatenate(v) for m, v in out.items()}, np.concatenate(means), ratio


def _bar(rate: float, sims: int) -> float:
    return 2.0 * math.sqrt(rate * (1.0 - rate) / sims)


def _pretest(null_p, null_ratio, alt_p, alt_ratio, alt_mean, days: int, sims: int) -> dict:
    """False winners, power and daily-test share of the pre-test choice, for every c in PRETEST_C."""
    out = {}
    for c in PRETEST_C:
        limit = pretest_threshold(c, days)
        null = np.where(null_ratio > limit, null_p[DAILY], null_p[HOURLY])
        alt = np.where(alt_ratio > limit, alt_p[DAILY], alt_p[HOURLY])
        power = float(np.mean((alt < ALPHA) & (alt_mean > 0)))
        out[f"{c:g}"] = {
            "threshold": limit,
            "false_winners": float(np.mean(null < ALPHA)),
            "power": power,
            "power_error_bar": _bar(power, sims),
            "power_size_adjusted": float(np.mean((alt <= np.nanquantile(null, ALPHA)) & (alt_mean > 0))),
            "daily_share_aa": float(np.mean(null_ratio > limit)),
        }
    return out


def run_cell(process, days: int, sims: int, seed: int, loss: str, pretest: bool = False) -> dict:
    key = process if isinstance(process, str) else f"ar1_{process:g}"
    rng = np.random.default_rng([seed, days, *key.encode()])
    null_p, _, null_ratio = _simulate(process, days, 1.0, sims, rng, loss, pretest)
    alt_p, alt_mean, alt_ratio = _simulate(process, days, SCALE_B, sims, rng, loss, pretest)
    methods = {}
    for m in METHODS:
        # Rows with zero variance (never in these simulations) count as no winner.
        false_winners = float(np.mean(null_p[m] < ALPHA))
        power = float(np.mean((alt_p[m] < ALPHA) & (alt_mean > 0)))
        threshold = np.nanquantile(null_p[m], ALPHA)
        adjusted = float(np.mean((alt_p[m] <= threshold) & (alt_mean > 0)))
        methods[m] = {
            "false_winners": false_winners,
            "power": power,
            "power_error_bar": _bar(power, sims),
            "power_size_adjusted": adjusted,
        }
    size_bar = _bar(ALPHA, sims)
    row = {
        "process": key,
        "label": absim.process_label(process),
        "days": days,
        "sims": sims,
        "size_error_bar": size_bar,
        "holds_alpha": methods[abstats.DEFAULT_METHOD]["false_winners"] <= ALPHA + size_bar,
        "methods": methods,
    }
    if pretest:
        row["pretest"] = _pretest(null_p, null_ratio, alt_p, alt_ratio, alt_mean, days, sims)
    return row


def _print_tables(rows: list[dict], loss: str) -> None:
    names = [SHORT[m] for m in METHODS]
    print(f"\nalpha={ALPHA}, loss={loss}, errors shared {SHARED:.0%} between A and B; rates in %")
    print("methods: " + ", ".join(f"{SHORT[m]}={m}" for m in METHODS) + f" (default {abstats.DEFAULT_METHOD})")
    head = f"{'process':<18} {'days':>4} {'N':>6}  " + " ".join(f"{n:>6}" for n in names) + f" {'±2se':>6}"
    print("\nFalse winners in A/A tests")
    print(head)
    print("-" * len(head))
    for r in rows:
        rates = " ".join(f"{100 * r['methods'][m]['false_winners']:6.1f}" for m in METHODS)
        flag = "" if r["holds_alpha"] else "  default EXCEEDS alpha"
        print(f"{r['label']:<18} {r['days']:>4} {r['sims']:>6}  {rates} {100 * r['size_error_bar']:6.1f}{flag}")
    head = f"{'process':<18} {'days':>4}  " + " ".join(f"{n:>13}" for n in names) + f" {'±2se':>6}"
    print(f"\nPower, challenger {round((1 - SCALE_B) * 100)} % better: raw (size-adjusted)")
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = " ".join(
            f"{100 * r['methods'][m]['power']:5.1f} ({100 * r['methods'][m]['power_size_adjusted']:4.1f})"
            for m in METHODS
        )
        bar = r["methods"][abstats.DEFAULT_METHOD]["power_error_bar"]
        print(f"{r['label']:<18} {r['days']:>4}  {cells} {100 * bar:6.1f}")


def _print_pretest(rows: list[dict]) -> None:
    names = [f"c={c:g}" for c in PRETEST_C]
    print(f"\nPre-test choice ({DAILY} when the daily variance ratio > 1 + c sqrt(2/(k-1)), else {HOURLY}):")
    print("false winners / power (size-adjusted) / daily-test share of A/A tests, %")
    head = f"{'process':<18} {'days':>4}  {SHORT[HOURLY]:>18} " + " ".join(f"{n:>25}" for n in names)
    head += f" {SHORT[DAILY]:>18}"
    print(head)
    print("-" * len(head))
    for r in rows:
        def cell(v):
            return f"{100 * v['false_winners']:4.1f} / {100 * v['power']:4.1f} ({100 * v['power_size_adjusted']:4.1f})"
        choices = " ".join(f"{cell(v)} / {100 * v['daily_share_aa']:4.1f}" for v in r["pretest"].values())
        print(f"{r['label']:<18} {r['days']:>4}  {cell(r['methods'][HOURLY])} {choices} {cell(r['methods'][DAILY])}")


def _parse_process(text: str) -> float | str:
    return text if text in absim.PROCESSES else float(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10000, help="simulated tests per scenario (default 10000)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--loss", choices=("absolute", "squared"), default="absolute")
    parser.add_argument("--only", default=None, help="comma-separated processes, e.g. 0.9,arma21")
    parser.add_argument("--pretest", action="store_true",
                        help=f"also score the daily-variance pre-test choice between {HOURLY} and {DAILY}")
    args = parser.parse_args(argv)
    if args.sims < 10:
        parser.error("--sims must be at least 10")
    processes = PROCESSES if not args.only else tuple(_parse_process(p) for p in args.only.split(","))
    started = time.perf_counter()
    rows = []
    cells = [(p, d) for p in processes for d in DAYS]
    for i, (process, days) in enumerate(cells, 1):
        row = run_cell(process, days, args.sims, args.seed, args.loss, args.pretest)
        rows.append(row)
        default = row["methods"][abstats.DEFAULT_METHOD]
        print(
            f"[{i}/{len(cells)}] {row['label']}, {days} days: false winners {100 * default['false_winners']:.1f} %, "
            f"power {100 * default['power']:.1f} % ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    _print_tables(rows, args.loss)
    if args.pretest:
        _print_pretest(rows)
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.1f} s")
    if args.json:
        payload = {
            "alpha": ALPHA,
            "loss": args.loss,
            "shared": SHARED,
            "seed": args.seed,
            "sims": args.sims,
            "chosen_method": abstats.DEFAULT_METHOD,
            "methods": list(METHODS),
            "seconds": round(elapsed, 2),
            "rows": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
