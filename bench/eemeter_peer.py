"""OpenEEmeter side of bench/accuracy.py; runs inside the peer virtualenv, never in the product's.

    bench/.peers/eemeter/bin/python bench/eemeter_peer.py DIR [--default-cases 6]

DIR holds ``cases.npz`` written by bench/accuracy.py; per case ``i``: ``ts_i`` (UTC epoch seconds),
``y_i`` (kWh, NaN for readings left out of training, such as labelled anomalies), ``t_i`` (°C),
``zone_i`` (IANA time zone) and ``train_i`` (number of training readings; the rest is scored).

The model is eemeter's CalTRACK hourly model (``eemeter.eemeter.models.hourly_caltrack``:
time-of-week and temperature, occupancy from the residuals of a first fit, occupied and
unoccupied temperature bins) fitted on the training readings with the index in the site's local
time, temperature in °F (CalTRACK's bin endpoints are in °F). Its wrapper's default segmentation,
``three_month_weighted`` (one model per calendar month, weighted with its neighbours), is made for
a 12-month baseline: trained on 9 months, the months to be predicted have no data of their own
(and at most one neighbouring month's), and eemeter still returns predictions for them, with
CV(RMSE) of 40-70 % on the first cases here. The peer therefore uses the library's ``single``
segmentation (one model on the whole baseline) for every case, and also runs the default on the
first ``--default-cases`` cases so the bench can show what it gives.

Writes ``DIR/result.json``: ``{"eemeter", "segmentation", "cases": [{"predicted": [...], "fit_s",
"predict_s", "error", "default_predicted", "default_error"}]}``; prints progress on stdout (eemeter
and statsmodels warn on stderr about every rank-deficient segment).
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _frames(npz, i: int):
    ts = pd.to_datetime(npz[f"ts_{i}"], unit="s", utc=True).tz_convert(str(npz[f"zone_{i}"]))
    frame = pd.DataFrame({"observed": npz[f"y_{i}"], "temperature": npz[f"t_{i}"] * 9.0 / 5.0 + 32.0}, index=ts)
    split = int(npz[f"train_{i}"])
    return frame.iloc[:split].copy(), frame.iloc[split:].copy()


def _fit_predict(train: pd.DataFrame, test: pd.DataFrame, segmentation: str | None) -> tuple[list, float, float]:
    from eemeter.eemeter.models.hourly_caltrack import HourlyBaselineData, HourlyModel, HourlyReportingData

    started = time.perf_counter()
    model = HourlyModel()
    if segmentation is not None:
        model.segment_type = segmentation
    model.fit(HourlyBaselineData(train.copy(), is_electricity_data=False))
    fitted = time.perf_counter()
    # Reporting data carry their readings (eemeter infers the frequency from them); the
    # prediction uses only the index and the temperature.
    result = model.predict(HourlyReportingData(test.copy(), is_electricity_data=False))
    predicted = result["predicted"].reindex(test.index).to_numpy()
    return [None if not np.isfinite(v) else float(v) for v in predicted], fitted - started, time.perf_counter() - fitted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--default-cases", type=int, default=6)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import eemeter

    out = {"eemeter": eemeter.__version__, "segmentation": "single", "cases": []}
    with np.load(Path(args.directory) / "cases.npz", allow_pickle=False) as npz:
        count = int(npz["count"])
        for i in range(count):
            train, test = _frames(npz, i)
            case = {"predicted": None, "fit_s": None, "predict_s": None, "error": None,
                    "default_predicted": None, "default_error": None}
            try:
                case["predicted"], case["fit_s"], case["predict_s"] = _fit_predict(train, test, "single")
            except Exception:
                case["error"] = traceback.format_exc(limit=3)[-600:]
            if i < args.default_cases:
                try:
                    case["default_predicted"] = _fit_predict(train, test, None)[0]
                except Exception as exc:
                    case["default_error"] = f"{type(exc).__name__}: {exc}"[:300]
            out["cases"].append(case)
            print(f"eemeter case {i + 1}/{count}", flush=True)
    (Path(args.directory) / "result.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
