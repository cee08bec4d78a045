"""Simulated false-winner rate and power of the A/B test methods in performance.abstats.

Usage: python bench/quality.py [--sims N] [--json out.json] [--seed S] [--loss absolute|squared]

For each scenario (hourly AR(1) errors with coefficient rho, 14 or 28 days,
A/A or a challenger 10 % better in MAE) it simulates N pairs of error series
and runs every method on the same data.  A/A rows report the false-winner
rate (any winner declared), which a valid method keeps at or below alpha
within the simulation error bar ``2 sqrt(alpha (1 - alpha) / N)``.  Power
rows report the share of tests that declare B the winner, plus the
size-adjusted power of the default method and of daily batch means (p-value
threshold set to the 5 % quantile of that method's A/A p-values in the same
rho/days cell), which compares the methods at equal false-winner rates.
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

from performance import abstats  # noqa: E402

ALPHA = 0.05
RHOS = (0.5, 0.8, 0.9)
DAYS = (14, 28)
SCALE_B = 0.9
SHARED = 0.5
CHUNK = 1000
COMPARED = ("naive_t", "batch_means", "dm_newey_west")


def _simulate_cell(rho: float, days: int, scale_b: float, sims: int, rng: np.random.Generator, loss: str):
    """p-values (per method) and mean loss differences of ``sims`` simulated tests."""
    n = 24 * days
    methods = (abstats.DEFAULT_METHOD, *COMPARED)
    out = {m: [] for m in methods}
    means = []
    done = 0
    while done < sims:
        size = min(CHUNK, sims - done)
        e_a, e_b = abstats.simulate_errors(n, rho, 1.0, rng, scale_b=scale_b, shared=SHARED, n_sims=size)
        la, lb = abstats.pointwise_loss(e_a, loss), abstats.pointwise_loss(e_b, loss)
        for m in methods:
            out[m].append(abstats.p_values(la, lb, method=m, period=24))
        means.append((la - lb).mean(axis=-1))
        done += size
    return {m: np.concatenate(v) for m, v in out.items()}, np.concatenate(means)


def run(sims: int, seed: int, loss: str) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    chosen = abstats.DEFAULT_METHOD
    for rho in RHOS:
        for days in DAYS:
            null_p, _ = _simulate_cell(rho, days, 1.0, sims, rng, loss)
            alt_p, alt_mean = _simulate_cell(rho, days, SCALE_B, sims, rng, loss)
            aa = {m: float(np.mean(p < ALPHA)) for m, p in null_p.items()}
            rows.append(
                {
                    "rho": rho,
                    "days": days,
                    "scenario": "A/A",
                    "metric": "false_winner_rate",
                    "sims": sims,
                    **aa,
                    "error_bar": 2.0 * math.sqrt(ALPHA * (1.0 - ALPHA) / sims),
                    "holds_alpha": aa[chosen] <= ALPHA + 2.0 * math.sqrt(ALPHA * (1.0 - ALPHA) / sims),
                }
            )
            b_wins = {m: float(np.mean((p < ALPHA) & (alt_mean > 0))) for m, p in alt_p.items()}
            adjusted = {}
            for m in (chosen, "batch_means"):
                threshold = np.quantile(null_p[m], ALPHA)
                adjusted[f"{m}_size_adjusted"] = float(np.mean((alt_p[m] <= threshold) & (alt_mean > 0)))
            power = b_wins[chosen]
            rows.append(
                {
                    "rho": rho,
                    "days": days,
                    "scenario": f"B {round((1 - SCALE_B) * 100)} % better",
                    "metric": "power",
                    "sims": sims,
                    **b_wins,
                    **adjusted,
                    "error_bar": 2.0 * math.sqrt(power * (1.0 - power) / sims),
                }
            )
    return rows


def _print_table(rows: list[dict], loss: str) -> None:
    chosen = abstats.DEFAULT_METHOD
    head = (
        f"{'rho':>4} {'days':>4}  {'scenario':<14} {'metric':<18} {'N':>6}  "
        f"{chosen:>8} {'naive_t':>8} {'batch':>8} {'dm_nw':>8} {'±2se':>7}  {'size-adjusted ' + chosen + '/batch':<28}"
    )
    print(f"alpha={ALPHA}, loss={loss}, errors shared {SHARED:.0%} between A and B; rates in %")
    print(head)
    print("-" * len(head))
    for r in rows:
        extra = ""
        if r["metric"] == "power":
            extra = f"{100 * r[chosen + '_size_adjusted']:6.1f} / {100 * r['batch_means_size_adjusted']:.1f}"
        else:
            extra = "holds alpha" if r["holds_alpha"] else "EXCEEDS alpha"
        print(
            f"{r['rho']:>4} {r['days']:>4}  {r['scenario']:<14} {r['metric']:<18} {r['sims']:>6}  "
            f"{100 * r[chosen]:8.1f} {100 * r['naive_t']:8.1f} {100 * r['batch_means']:8.1f} "
            f"{100 * r['dm_newey_west']:8.1f} {100 * r['error_bar']:7.1f}  {extra}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000, help="simulated tests per scenario (default 2000)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--loss", choices=("absolute", "squared"), default="absolute")
    args = parser.parse_args(argv)
    if args.sims < 10:
        parser.error("--sims must be at least 10")
    started = time.perf_counter()
    rows = run(args.sims, args.seed, args.loss)
    _print_table(rows, args.loss)
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
            "seconds": round(elapsed, 2),
            "rows": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
