"""Time-blocked validation and the refit: holdout figures from fits that never saw the holdout,
out-of-sample residuals for every reading, the stored model fitted on every reading."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from baselines.engine.fit import fit_baseline, predict
from baselines.engine.linear import fit_linear
from baselines.engine.validation import blocked_folds, out_of_sample

from .synthetic import building_frame, daily_frame, hourly_frame


def test_blocked_folds_are_contiguous_and_end_with_the_holdout():
    times = pd.Series(pd.date_range("2024-01-01", periods=1000, freq="h", tz="UTC"))
    blocks = blocked_folds(times, 0.2)
    assert len(blocks) == 5
    assert np.array_equal(np.concatenate(blocks), np.arange(1000))
    assert list(blocks[-1]) == list(range(800, 1000))
    assert [b.size for b in blocks[:-1]] == [200, 200, 200, 200]
    assert len(blocked_folds(times, 0.25)) == 4 and blocked_folds(times, 0.0) == []
    # A timestamp repeated across a boundary stays in one block.
    doubled = pd.Series(np.repeat(times.to_numpy(), 2))
    for block in blocked_folds(doubled, 0.2):
        assert doubled.iloc[block[0]] != doubled.iloc[block[0] - 1] if block[0] else True


def test_the_stored_model_is_refit_on_every_row(hourly_df):
    r = fit_baseline(hourly_df)
    assert r.train_metrics["n"] == len(hourly_df) == r.train_index.size
    # The same pipeline, unfitted, fitted on all rows gives the stored model.
    again = clone(r.pipeline).fit(hourly_df, hourly_df["energy_kwh"])
    assert np.allclose(again.predict(hourly_df), r.pipeline.predict(hourly_df))
    # The last reading counts: moving it moves the stored model (but not the holdout fit's
    # predictions of the readings before it).
    moved = hourly_df.copy()
    moved.loc[moved.index[-1], "energy_kwh"] += 5000.0
    r2 = fit_baseline(moved)
    assert not np.allclose(r2.pipeline.predict(hourly_df), r.pipeline.predict(hourly_df))


def test_holdout_metrics_never_come_from_a_model_that_saw_the_holdout(hourly_df):
    r = fit_baseline(hourly_df)
    hold = hourly_df.loc[r.holdout_index]
    predicted = hold["energy_kwh"].to_numpy() - r.holdout_residuals
    # Whatever the holdout readings say, the fit that predicted them never learned from them.
    changed = hourly_df.copy()
    changed.loc[r.holdout_index, "energy_kwh"] *= 3.0
    r2 = fit_baseline(changed)
    assert np.allclose(changed.loc[r.holdout_index, "energy_kwh"].to_numpy() - r2.holdout_residuals, predicted)
    assert r2.holdout_metrics["nmbe"] > 0.5 and r2.ashrae["passes"] is False
    # The holdout predictions are not the stored model's: that one saw the holdout.
    assert not np.allclose(predicted, predict(r.pipeline, hold))


def test_each_out_of_sample_residual_comes_from_a_fit_that_did_not_see_it(hourly_df):
    r = fit_baseline(hourly_df)
    assert np.isfinite(r.oos_residuals).all()
    actual = hourly_df.loc[r.train_index, "energy_kwh"].to_numpy()
    predicted = actual - r.oos_residuals
    for fold in range(r.n_folds):
        rows = r.oos_fold == fold
        changed = hourly_df.copy()
        changed.loc[r.train_index[rows], "energy_kwh"] += 300.0
        r2 = fit_baseline(changed)
        again = changed.loc[r.train_index, "energy_kwh"].to_numpy() - r2.oos_residuals
        assert np.allclose(again[rows], predicted[rows])
        assert not np.allclose(again[~rows], predicted[~rows])


def test_out_of_sample_residuals_are_larger_than_in_sample_on_a_flexible_model():
    df = building_frame(days=150, seed=9, rho=0.5, day_share=0.2)
    r = fit_baseline(df, time_zone="Europe/Berlin")
    ratio = np.sqrt(np.mean(r.oos_residuals**2) / np.mean(r.train_residuals**2))
    # ~172 parameters on 3,600 hours: in-sample residuals understate the noise by a few percent.
    assert 1.02 < ratio < 1.5
    assert r.cv_metrics["rmse"] == pytest.approx(np.sqrt(np.mean(r.oos_residuals**2)))


@pytest.mark.parametrize("algorithm", ["ridge", "linear"])
def test_fold_fits_solved_on_the_design_structure_match_the_pipeline(hourly_df, algorithm):
    r = fit_baseline(hourly_df, hyperparameters={"algorithm": algorithm})
    pipeline: Pipeline = r.pipeline
    features = pipeline.named_steps["features"]
    dense, codes = features.parts(hourly_df)
    alpha = r.hyperparameters["alpha"] if algorithm == "ridge" else None
    solved = fit_linear(dense, codes, 168, hourly_df["energy_kwh"].to_numpy(), alpha=alpha)
    assert np.allclose(solved.predict(dense, codes), pipeline.predict(hourly_df), rtol=1e-9, atol=1e-8)
    daily = daily_frame()
    rd = fit_baseline(daily, hyperparameters={"algorithm": algorithm})
    dense, codes = rd.pipeline.named_steps["features"].parts(daily)
    solved = fit_linear(dense, codes, 7, daily["energy_kwh"].to_numpy(), alpha=alpha)
    assert np.allclose(solved.predict(dense, codes), rd.pipeline.predict(daily), rtol=1e-9, atol=1e-6)


def test_a_fold_that_cannot_be_fitted_leaves_its_rows_without_out_of_sample_residuals():
    blocks = blocked_folds(pd.Series(pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC")), 0.2)

    def fit(train):
        if 12 not in train:  # the fit without block 1 (rows 10-19)
            raise ValueError("too little data")
        return float(len(train))

    result = out_of_sample(50, blocks, fit, lambda model, block: np.full(block.size, model))
    assert np.isnan(result.predicted[10:20]).all() and np.isfinite(np.delete(result.predicted, range(10, 20))).all()
    assert result.errors == {1: "too little data"} and result.holdout_model == 40.0
    assert np.array_equal(result.fold, np.repeat(np.arange(5), 10))

    def fail_holdout(train):
        if 45 not in train:  # the holdout's fit: rows 0-39 only
            raise ValueError("too little data before the holdout")
        return 1.0

    with pytest.raises(ValueError, match="before the holdout"):
        out_of_sample(50, blocks, fail_holdout, lambda model, block: np.zeros(block.size))


def test_small_windows_still_get_folds():
    r = fit_baseline(hourly_frame(days=3).iloc[:60])
    assert r.n_folds == 5 and np.isfinite(r.oos_residuals).all()
    assert r.holdout_metrics["n"] == 12
