"""Numeric core of the energy-baseline module: plain functions over numpy arrays and pandas
DataFrames, free of Django so that they can be used and tested on their own.

- :mod:`.metrics`: regression and classification metrics, the ASHRAE Guideline 14 check.
- :mod:`.features`: the design-matrix transformer (drivers, degree terms, time of week).
- :mod:`.fit`: balance-point search, pipelines, fitting, prediction, extrapolation flags.
- :mod:`.artifacts`: serialising and loading fitted pipelines, with integrity checks.
- :mod:`.anomaly`: the residual anomaly detector.

Input readings are a DataFrame with a ``timestamp`` column (UTC), an ``energy_kwh`` column and
optional driver columns (:data:`.features.DRIVERS`) plus an optional boolean ``is_anomaly``.

Import names from the module that owns them.
"""

from .features import EnergyFeatures as EnergyFeatures

# Artifacts written before the engine became a package name the transformer
# ``baselines.engine.EnergyFeatures``; this alias keeps them loadable.
