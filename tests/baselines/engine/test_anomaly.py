"""The residual anomaly detector."""


import numpy as np
import pytest

from baselines.engine.anomaly import fit_anomaly_threshold, flag_anomalies
from baselines.engine.metrics import classification_metrics


def test_anomaly_threshold_and_flags():
    rng = np.random.default_rng(9)
    r = rng.normal(1.0, 2.0, 5000)
    spikes = np.arange(100, 5000, 500)
    r_spiked = r.copy()
    r_spiked[spikes] += 25.0
    params = fit_anomaly_threshold(r_spiked, z=4.0)
    assert set(params) == {"center", "scale", "z"}
    # median and MAD are barely moved by the ten spikes
    assert params["center"] == pytest.approx(1.0, abs=0.1)
    assert params["scale"] == pytest.approx(2.0, rel=0.05)
    flags = flag_anomalies(r_spiked, params)
    assert flags[spikes].all()
    assert flags.sum() - flags[spikes].sum() <= 2
    m = classification_metrics(np.isin(np.arange(5000), spikes), flags)
    assert m["recall"] == 1.0 and m["precision"] >= 10 / 12
    assert flag_anomalies([np.nan, 1.0], params).tolist() == [False, False]


def test_anomaly_threshold_degenerate_scale():
    params = fit_anomaly_threshold(np.array([0.0] * 10 + [1.0, -1.0]))
    assert params["center"] == 0.0 and params["scale"] == pytest.approx(np.std([0.0] * 10 + [1.0, -1.0]))
    with pytest.raises(ValueError):
        fit_anomaly_threshold(np.array([np.nan]))
