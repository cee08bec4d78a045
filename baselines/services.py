"""Writes on machines, readings and baseline versions."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from enms.users import acting_user

from .models import BaselineStatus, EnergyBaseline


def _changed(baseline: EnergyBaseline, event: str) -> EnergyBaseline:
    """Tell the higher layer (the model registry's outbox) about a change, inside its transaction."""
    hook = getattr(settings, "ENMS_BASELINE_CHANGE_HOOK", "")
    if hook:
        import_string(hook)(baseline=baseline, event=event)
    return baseline


def baseline_activate(*, baseline: EnergyBaseline, user=None) -> EnergyBaseline:
    """Make `baseline` the active version of its machine and model type.

    The previous active version is retired in the same transaction, so there is never a moment
    with two active versions (the partial unique constraint would refuse it) or none.
    """
    with transaction.atomic():
        locked = EnergyBaseline.objects.select_for_update().get(pk=baseline.pk)
        if locked.status == BaselineStatus.ACTIVE:
            return locked
        now = timezone.now()
        retired = list(
            EnergyBaseline.objects.select_for_update()
            .filter(machine_id=locked.machine_id, model_type=locked.model_type, status=BaselineStatus.ACTIVE)
            .values_list("pk", flat=True)
        )
        EnergyBaseline.objects.filter(pk__in=retired).update(status=BaselineStatus.RETIRED, retired_at=now)
        locked.status = BaselineStatus.ACTIVE
        locked.activated_at = now
        locked.save(update_fields=["status", "activated_at"])
        # The performance layer closes what belonged to the retired versions (their open alerts).
        hook = getattr(settings, "ENMS_VERSIONS_RETIRED_HOOK", "")
        if hook and retired:
            import_string(hook)(versions=retired)
        return _changed(locked, "activated")


READING_COLUMNS = ("energy_kwh", "production_units", "outdoor_temp_c", "operating_hours", "is_anomaly")


def readings_ingest(*, machine, rows: list[dict]) -> dict[str, int]:
    """Insert or update (on machine + timestamp) a batch of validated readings, all or nothing.

    PostgreSQL: the rows are COPYed into a temporary table; `INSERT ... ON CONFLICT DO NOTHING
    RETURNING` stores the new ones and marks them in the temporary table, then one `UPDATE` writes
    the others. The counts are exact even when two ingests of the same rows race (the second
    insert waits for the first and skips its rows, which its update — a new statement, so a new
    snapshot — then sees). `energy_readings` is partitioned by month there, where the
    `RETURNING (xmax = 0)` trick is refused; the months the rows fall in get their partitions
    first. Elsewhere: one query counts the existing timestamps, one bulk upsert writes.
    """
    from django.db import connection

    from .models import EnergyReading

    values = [
        (machine.pk, row["timestamp"], row["energy_kwh"], row.get("production_units"), row.get("outdoor_temp_c"),
         row.get("operating_hours"), bool(row.get("is_anomaly") or False))
        for row in rows
    ]
    if connection.vendor == "postgresql" and values:
        from .partitions import readings_partitions_ensure

        stamps = [v[1] for v in values]
        readings_partitions_ensure(start=min(stamps), end=max(stamps))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            columns = "machine_id, timestamp, energy_kwh, production_units, outdoor_temp_c, operating_hours, is_anomaly"
            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS reading_ingest_rows (machine_id uuid, timestamp timestamptz, "
                    "energy_kwh double precision, production_units double precision, outdoor_temp_c double precision, "
                    "operating_hours double precision, is_anomaly boolean, inserted boolean NOT NULL DEFAULT false) "
                    "ON COMMIT DELETE ROWS"
                )
                # Emptied at commit, but an ingest nested in a larger transaction must not see the last one.
                cursor.execute("TRUNCATE reading_ingest_rows")
                # Raw psycopg COPY: wrap its errors so a lost connection is django.db's OperationalError.
                with connection.wrap_database_errors, cursor.cursor.copy(
                        f"COPY reading_ingest_rows ({columns}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
                cursor.execute(
                    f"WITH stored AS (INSERT INTO energy_readings ({columns}) "
                    f"SELECT {columns} FROM reading_ingest_rows "
                    "ON CONFLICT (machine_id, timestamp) DO NOTHING RETURNING timestamp) "
                    "UPDATE reading_ingest_rows t SET inserted = true FROM stored WHERE t.timestamp = stored.timestamp"
                )
                created = cursor.rowcount
                if created == len(values):
                    return {"received": len(rows), "created": created, "updated": 0}
                # Statistics of the marked rows, so the update joins through the unique index.
                cursor.execute("ANALYZE reading_ingest_rows")
                cursor.execute(
                    "UPDATE energy_readings r SET " + ", ".join(f"{c} = t.{c}" for c in READING_COLUMNS)
                    + " FROM reading_ingest_rows t WHERE NOT t.inserted AND r.machine_id = t.machine_id "
                    "AND r.timestamp = t.timestamp"
                )
                updated = cursor.rowcount
            return {"received": len(rows), "created": created, "updated": updated}
        objs = [
            EnergyReading(machine_id=m, timestamp=t, energy_kwh=e, production_units=p, outdoor_temp_c=o,
                          operating_hours=h, is_anomaly=a)
            for m, t, e, p, o, h, a in values
        ]
        existing = 0
        timestamps = [o.timestamp for o in objs]
        for start in range(0, len(timestamps), 5000):
            chunk = timestamps[start:start + 5000]
            existing += EnergyReading.objects.filter(machine_id=machine.pk, timestamp__in=chunk).count()
        EnergyReading.objects.bulk_create(
            objs, batch_size=5000, update_conflicts=True, unique_fields=["machine", "timestamp"],
            update_fields=list(READING_COLUMNS),
        )
    return {"received": len(rows), "created": len(rows) - existing, "updated": existing}


DRIVER_FORECAST_COLUMNS = ("production_units", "outdoor_temp_c", "operating_hours")


def driver_forecasts_ingest(*, machine, rows: list[dict], columns: list[str]) -> dict[str, int]:
    """Insert or update (on machine + timestamp) a batch of validated driver forecasts, all or nothing.

    Only `columns` (the drivers the upload names) are replaced on hours already stored, so a
    weather forecast and a production plan for the same hours can be uploaded apart.
    """
    from .models import DriverForecast

    update = [c for c in DRIVER_FORECAST_COLUMNS if c in columns]
    objs = [DriverForecast(machine_id=machine.pk, timestamp=row["timestamp"],
                           **{c: row.get(c) for c in DRIVER_FORECAST_COLUMNS}) for row in rows]
    with transaction.atomic():
        # Lock the machine so two uploads of the same hours count created/updated in turn.
        type(machine).objects.select_for_update().filter(pk=machine.pk).first()
        existing = 0
        timestamps = [o.timestamp for o in objs]
        for start in range(0, len(timestamps), 5000):
            chunk = timestamps[start:start + 5000]
            existing += DriverForecast.objects.filter(machine_id=machine.pk, timestamp__in=chunk).count()
        DriverForecast.objects.bulk_create(
            objs, batch_size=2000, update_conflicts=True, unique_fields=["machine", "timestamp"],
            update_fields=[*update, "updated_at"],
        )
    return {"received": len(rows), "created": len(rows) - existing, "updated": existing}


def baseline_predict(*, baseline: EnergyBaseline, rows: list[dict]) -> dict[str, list]:
    """Predict kWh for driver rows from the stored, signature-verified artifact of `baseline`.
    Rows the version cannot score (a non-finite result) are a `ValidationError`."""
    import numpy as np
    import pandas as pd

    from .artifacts import pipeline_for
    from .engine.features import DRIVERS
    from .engine.fit import extrapolation_flags, predict

    frame = pd.DataFrame(rows)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    for column in DRIVERS:
        if column not in frame:
            frame[column] = float("nan")
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    from django.core.exceptions import ValidationError

    missing = [d for d in baseline.driver_ranges if frame[d].isna().any()]
    if missing:
        raise ValidationError({"rows": [f"Every row needs the model's drivers: {', '.join(missing)}."]})
    pipeline = pipeline_for(baseline)
    try:
        predictions = np.asarray(predict(pipeline, frame), dtype=float)
    except (ValueError, OverflowError) as exc:
        raise ValidationError({"rows": [f"These rows cannot be scored by this version: {exc}"]}) from None
    if not np.isfinite(predictions).all():
        bad = [int(i) for i in np.flatnonzero(~np.isfinite(predictions))[:10]]
        raise ValidationError({"rows": [f"Rows {bad} lie too far outside what this version can score."]})
    flags = extrapolation_flags(frame, baseline.driver_ranges)
    return {"predictions": [float(p) for p in predictions], "extrapolated": [bool(f) for f in flags]}


#: What a version's stored metrics describe (saved with them, so a reader never has to guess).
TRAINING_BASIS = "in-sample: the stored model, fitted on every reading of the training window"
HOLDOUT_BASIS = ("out-of-sample: a fit on the readings before holdout_start only, scored on the readings from "
                 "holdout_start to training_end; blocked_folds: every reading predicted by a fit on the other "
                 "time-ordered blocks of the window")


def _json_time(ts) -> str | None:
    return None if ts is None else ts.isoformat()


def baseline_train(
    *,
    machine,
    model_type: str = "energy_baseline",
    training_start=None,
    training_end=None,
    hyperparameters: dict | None = None,
    user=None,
    parent: EnergyBaseline | None = None,
    notes: str = "",
) -> EnergyBaseline:
    """Fit a new version of a machine's model on its readings in [training_start, training_end).

    Energy baselines fit the regression in the machine's local time: judged on time-ordered
    folds, then refit on every reading of the window. The version stores its window, the
    refit model's in-sample `training_metrics`, the `holdout_metrics` of fits that never saw the
    holdout, the drift reference statistics (computed once, here, from out-of-sample residuals),
    the driver ranges and the signed artifact. Anomaly detectors learn a residual threshold
    on top of the machine's active energy baseline. The new version is a `candidate`; callers
    decide on activation. Raises `ValueError` when the data cannot support a model.
    """
    import numpy as np

    from .artifacts import artifact_sign
    from .engine.artifacts import serialize_pipeline
    from .engine.fit import fit_baseline
    from .engine.metrics import lag1_autocorrelation
    from .selectors import readings_frame

    frame = readings_frame(machine_ids=[machine.pk], start=training_start, end=training_end)
    if frame.empty:
        raise ValueError("No readings in the training window.")
    frame = frame.drop(columns=["machine_id"]).reset_index(drop=True)

    if model_type == "anomaly_detector":
        return _anomaly_detector_train(machine=machine, frame=frame, user=user, notes=notes)

    fit = fit_baseline(frame, hyperparameters=hyperparameters or None, time_zone=machine.time_zone)
    # The drift reference belongs to the performance layer, which fills this hook.
    hook = settings.ENMS_TRAINING_REFERENCE_HOOK
    reference = import_string(hook)(fit=fit, frame=frame) if hook else {}
    forecast_hook = getattr(settings, "ENMS_TRAINING_FORECAST_HOOK", "")
    if forecast_hook:
        reference = {**reference, "forecast": import_string(forecast_hook)(fit=fit, frame=frame)}
    artifact, sha256 = serialize_pipeline(fit.pipeline)
    signature = artifact_sign(artifact)
    summary = fit.summary()
    with transaction.atomic():
        # Lock the machine row so concurrent trainings of one machine number versions in turn.
        type(machine).objects.select_for_update().filter(pk=machine.pk).first()
        last = (
            EnergyBaseline.objects.filter(machine=machine, model_type=model_type)
            .order_by("-version").values_list("version", flat=True).first()
        )
        return _changed(EnergyBaseline.objects.create(
            machine=machine,
            model_type=model_type,
            version=(last or 0) + 1,
            status=BaselineStatus.CANDIDATE,
            algorithm=fit.algorithm,
            features=list(fit.features),
            hyperparameters={**summary["hyperparameters"], "balance_points": summary["balance_points"],
                             "time_zone": fit.time_zone, "selection": summary["selection"]},
            data_interval=fit.interval,
            n_params=fit.n_params,
            training_start=fit.training_start.to_pydatetime(),
            training_end=fit.training_end.to_pydatetime(),
            training_sample_count=int(summary["n_train"]),
            training_metrics={**fit.train_metrics, "lag1_autocorrelation": float(
                lag1_autocorrelation(np.asarray(fit.train_residuals))), "basis": TRAINING_BASIS},
            holdout_metrics={**fit.holdout_metrics, "holdout_start": _json_time(fit.holdout_start),
                             "ashrae": fit.ashrae, "basis": HOLDOUT_BASIS,
                             "blocked_folds": {"k": fit.n_folds, **fit.cv_metrics}},
            reference_stats=reference,
            driver_ranges={k: [float(v[0]), float(v[1])] for k, v in fit.driver_ranges.items()},
            artifact=artifact,
            artifact_sha256=sha256,
            artifact_signature=signature,
            parent=parent,
            notes=notes,
            created_by=acting_user(user),
        ), "trained")


def _anomaly_detector_train(*, machine, frame, user, notes: str) -> EnergyBaseline:
    """An anomaly detector: the active energy baseline's residuals above a learned threshold."""
    import numpy as np

    from .artifacts import pipeline_for
    from .engine.anomaly import fit_anomaly_threshold, flag_anomalies
    from .engine.fit import predict
    from .engine.metrics import classification_metrics

    base = EnergyBaseline.objects.filter(machine=machine, model_type="energy_baseline", status="active").first()
    if base is None:
        raise ValueError("An anomaly detector needs an active energy baseline for this machine first.")
    predicted = predict(pipeline_for(base), frame)
    residuals = frame["energy_kwh"].to_numpy() - predicted
    labelled = frame["is_anomaly"].to_numpy(dtype=bool)
    usable = np.isfinite(residuals)
    threshold = fit_anomaly_threshold(residuals[usable & ~labelled])
    flags = flag_anomalies(residuals[usable], threshold)
    metrics = classification_metrics(labelled[usable], flags)
    with transaction.atomic():
        type(machine).objects.select_for_update().filter(pk=machine.pk).first()
        last = (
            EnergyBaseline.objects.filter(machine=machine, model_type="anomaly_detector")
            .order_by("-version").values_list("version", flat=True).first()
        )
        return _changed(EnergyBaseline.objects.create(
            machine=machine,
            model_type="anomaly_detector",
            version=(last or 0) + 1,
            status=BaselineStatus.CANDIDATE,
            algorithm="residual_robust_z",
            features=list(base.features),
            hyperparameters={"threshold": threshold, "energy_baseline_id": str(base.pk)},
            data_interval=base.data_interval,
            n_params=base.n_params,
            training_start=frame["timestamp"].iloc[0].to_pydatetime(),
            training_end=frame["timestamp"].iloc[-1].to_pydatetime(),
            training_sample_count=int(usable.sum()),
            training_metrics=metrics,
            holdout_metrics=metrics,
            reference_stats=base.reference_stats,
            driver_ranges=base.driver_ranges,
            artifact=bytes(base.artifact) if base.artifact is not None else None,
            artifact_sha256=base.artifact_sha256,
            artifact_signature=base.artifact_signature,
            parent=base,
            notes=notes,
            created_by=acting_user(user),
        ), "trained")
