"""Drift statistics for energy-baseline regression models.

Plain functions over numpy arrays, free of Django, whose outputs are JSON
serialisable (plain ``float``/``int``/``bool``/``str``/``None``, never NaN or
infinity).

Workflow
--------
1. At training time :func:`.reference.reference_statistics` condenses the training window
   (drivers and in-sample residuals) into a JSON document stored on the model
   version.  Raw training data is never needed again.
2. Every check compares a *current window* with that document:
   :func:`.data.data_drift` for the drivers, :func:`.concept.concept_drift` for the residuals
   ``y - y_hat``, :func:`.verdict.drift_verdict` for the combined decision, and
   :func:`.verdict.check_drift` for all three in one call.

Monitoring scheme
-----------------
The product runs one check per day over the latest 7 days (168 hourly rows).
Every check is self-contained: the change detector is restarted at the start
of the window, so a check needs no state from earlier checks and its
false-alarm probability is a property of the window alone.  The change
detector is calibrated so that one check of a stable window raises an alarm
with probability ``DriftThresholds.cusum_false_alarm`` (default 1 %).
Consecutive daily checks overlap by 6 days, so their alarms are strongly
correlated; the rate that is controlled is the rate per check.  A step that
starts inside the window is seen by up to seven consecutive checks before it
leaves the window; a shift older than the window is still caught by the
window-level mean-shift and error-ratio tests, but it can no longer be located
(``change_point`` is then ``None``).

Modules
-------
* :mod:`.reference`: what is stored at training.
* :mod:`.data`: driver drift on quantile sketches, effective sample size, extrapolation.
* :mod:`.concept`: residual change detection and its calibration.
* :mod:`.thresholds`: the thresholds and how a rule's ratio becomes a score and a level.
* :mod:`.verdict`: the verdict and the check that combines data and concept drift.

Import names from the module that owns them.
"""
