"""Numeric core of the energy-baseline module: plain functions over numpy arrays and pandas
DataFrames, free of Django so that they can be used and tested on their own.

- :mod:`.metrics`: regression and classification metrics, the ASHRAE Guideline 14 check.
- :mod:`.features`: the design-matrix transformer (drivers, degree terms, time of week in
  local time, occupancy).
- :mod:`.balance`: temperature terms as CalTRACK does them (balance points over a fixed
  range, data sufficiency, occupancy segmentation) kept on a robust test.
- :mod:`.hac`: autocorrelation-robust coefficient tests.
- :mod:`.validation`: time-blocked folds and out-of-sample residuals.
- :mod:`.linear`: the linear estimators solved on the design's structure, for folds.
- :mod:`.fit`: pipelines, evaluation on folds, the refit on the whole window, prediction,
  extrapolation flags.
- :mod:`.artifacts`: serialising and loading fitted pipelines, with integrity checks.
- :mod:`.anomaly`: the residual anomaly detector.

Input readings are a DataFrame with a ``timestamp`` column (UTC; time of week is taken in the
machine's IANA time zone), an ``energy_kwh`` column and
optional driver columns (:data:`.features.DRIVERS`) plus an optional boolean ``is_anomaly``.

Import names from the module that owns them.
"""

from .features import EnergyFeatures as EnergyFeatures

# Artifacts written before the engine became a package name the transformer
# ``baselines.engine.EnergyFeatures``; this alias keeps them loadable.
