"""Fixtures shared by the engine tests."""

import pandas as pd
import pytest

from baselines.engine.fit import fit_baseline

from .synthetic import hourly_frame


@pytest.fixture(scope="module")
def hourly_df() -> pd.DataFrame:
    return hourly_frame()


@pytest.fixture(scope="module")
def hourly_fit(hourly_df):
    return fit_baseline(hourly_df)
