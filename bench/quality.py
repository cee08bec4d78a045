"""Simulated false-winner rate and power of the A/B test methods in performance.abstats.

Usage: python bench/quality.py [--sims N] [--json out.json] [--seed S] [--loss absolute|squared]
                               [--only arma21,0.9,...]

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

ALPHA = 0.05
PROCESSES: tuple[float | str, ...] = (0.5, 0.8, 0.9, *absim.PROCESSES)
DAYS = (14, 28)
SCALE_B = 0.9
SHARED = 0.5
CHUNK = 1000
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


def _simulate(process, days: int, scale_b: float, sims: int, rng: np.random.Generator, loss: str):
    """p-values (per method) and mean loss differences of ``sims`` simulated tests."""
    n = 24 * days
    out = {m: [] for m in METHODS}
    means = []
    done = 0
    while done < sims:
        size = min(CHUNK, sims - done)
        e_a, e_b = absim.simulate_errors(n, process, 1.0, rng, scale_b=scale_b, shared=SHARED, n_sims=size)
        la, lb = abstats.pointwise_loss(e_a, loss), abstats.pointwise_loss(e_b, loss)
        for m in METHODS:
            out[m].append(abstats.p_values(la, lb, method=m, period=24))
        means.append((la - lb).mean(axis=-1))
        done += size
    return {m: np.concatenate(v) for m, v in out.items()}, np.concatenate(means)


def _bar(rate: float, sims: int) -> float:
    return 2.0 * math.sqrt(rate * (1.0 - rate) / sims)


def run_cell(process, days: int, sims: int, seed: int, loss: str) -> dict:
    key = process if isinstance(process, str) else f"ar1_{process:g}"
    rng = np.random.default_rng([seed, days, *key.encode()])
    null_p, _ = _simulate(process, days, 1.0, sims, rng, loss)
    alt_p, alt_mean = _simulate(process, days, SCALE_B, sims, rng, loss)
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
    return {
        "process": key,
        "label": absim.process_label(process),
        "days": days,
        "sims": sims,
        "size_error_bar": size_bar,
        "holds_alpha": methods[abstats.DEFAULT_METHOD]["false_winners"] <= ALPHA + size_bar,
        "methods": methods,
    }


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


def _parse_process(text: str) -> float | str:
    return text if text in absim.PROCESSES else float(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10000, help="simulated tests per scenario (default 10000)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--loss", choices=("absolute", "squared"), default="absolute")
    parser.add_argument("--only", default=None, help="comma-separated processes, e.g. 0.9,arma21")
    args = parser.parse_args(argv)
    if args.sims < 10:
        parser.error("--sims must be at least 10")
    processes = PROCESSES if not args.only else tuple(_parse_process(p) for p in args.only.split(","))
    started = time.perf_counter()
    rows = []
    cells = [(p, d) for p in processes for d in DAYS]
    for i, (process, days) in enumerate(cells, 1):
        row = run_cell(process, days, args.sims, args.seed, args.loss)
        rows.append(row)
        default = row["methods"][abstats.DEFAULT_METHOD]
        print(
            f"[{i}/{len(cells)}] {row['label']}, {days} days: false winners {100 * default['false_winners']:.1f} %, "
            f"power {100 * default['power']:.1f} % ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    _print_tables(rows, args.loss)
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
