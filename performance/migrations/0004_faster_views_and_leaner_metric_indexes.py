"""Faster views (same rows) and no single-column indexes on metrics' foreign keys.

`v_latest_model_performance` now takes model_id/machine_id/model_type from the versions table, so
a filter on them is applied to `energy_baselines` before the per-version probe instead of after
probing every version. `v_unresolved_model_alerts` joins machines with LEFT JOIN (machine_id is a
NOT NULL foreign key, so the rows are the same), which lets PostgreSQL leave the join out of
COUNT(*); it keeps its ORDER BY, since plain SQL clients rely on "critical first, newest first".
The composite (model, evaluated_at) and (machine, evaluated_at) indexes serve every lookup the
single-column foreign-key indexes did, and each index slows bulk ingest.

SQLite rebuilds a table to alter a column and refuses while a view names it, so the two views
over the metrics table are dropped first and created again afterwards.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

previous = importlib.import_module("performance.migrations.0002_views")

LATEST_MODEL_PERFORMANCE = """
CREATE VIEW v_latest_model_performance AS
SELECT
    m.id, b.id AS model_id, b.machine_id, b.model_type,
    b.version AS model_version, b.status AS model_status, mc.name AS machine_name,
    m.evaluated_at, m.evaluation_start, m.evaluation_end, m.sample_count,
    m.r_squared, m.rmse, m.mae, m.mape, m.cv_rmse, m.nmbe,
    m.precision, m.recall, m.f1_score,
    m.drift_detected, m.drift_score, m.rmse_degradation, m.ashrae_pass
FROM energy_baselines b
JOIN model_performance_metrics m ON m.id = (
    SELECT m2.id FROM model_performance_metrics m2
    WHERE m2.model_id = b.id
    ORDER BY m2.evaluated_at DESC, m2.id DESC
    LIMIT 1
)
JOIN machines mc ON mc.id = b.machine_id
"""

UNRESOLVED_MODEL_ALERTS = """
CREATE VIEW v_unresolved_model_alerts AS
SELECT
    al.id, al.model_id, al.machine_id, mc.name AS machine_name, al.model_type,
    al.alert_type, al.severity,
    CASE al.severity WHEN 'critical' THEN 0 ELSE 1 END AS severity_rank,
    al.message, al.details, al.occurrences, al.first_seen, al.last_seen, al.auto_action_taken
FROM model_alerts al
LEFT JOIN machines mc ON mc.id = al.machine_id
WHERE al.is_resolved = FALSE
ORDER BY severity_rank, al.last_seen DESC, al.first_seen DESC
"""


class Migration(migrations.Migration):
    dependencies = [
        ("baselines", "0001_initial"),
        ("performance", "0003_beat_schedules"),
    ]

    operations = [
        migrations.RunSQL(
            ["DROP VIEW v_latest_model_performance", "DROP VIEW v_unresolved_model_alerts"],
            reverse_sql=[previous.LATEST_MODEL_PERFORMANCE, previous.UNRESOLVED_MODEL_ALERTS],
        ),
        migrations.AlterField(
            model_name="modelperformancemetric",
            name="machine",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="metrics", to="baselines.machine"),
        ),
        migrations.AlterField(
            model_name="modelperformancemetric",
            name="model",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="metrics", to="baselines.energybaseline"),
        ),
        migrations.RunSQL(
            [LATEST_MODEL_PERFORMANCE, UNRESOLVED_MODEL_ALERTS],
            reverse_sql=["DROP VIEW v_latest_model_performance", "DROP VIEW v_unresolved_model_alerts"],
        ),
    ]
