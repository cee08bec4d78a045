"""The three read-only views, in SQL that runs unchanged on PostgreSQL and SQLite.

`v_latest_model_performance` is driven from the versions table: for each version one
index probe on (model_id, evaluated_at DESC) finds its newest metrics row. This is the portable
spelling of `LATERAL (... ORDER BY evaluated_at DESC LIMIT 1)` and stays fast on millions of
metrics rows, where DISTINCT ON / ROW_NUMBER would sort them all.
"""

from django.db import migrations

LATEST_MODEL_PERFORMANCE = """
CREATE VIEW v_latest_model_performance AS
SELECT
    m.id, m.model_id, m.machine_id, m.model_type,
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

ACTIVE_AB_TESTS = """
CREATE VIEW v_active_ab_tests AS
SELECT
    t.id, t.name, t.machine_id, t.model_type,
    t.model_a_id, a.version AS model_a_version,
    t.model_b_id, b.version AS model_b_version,
    t.traffic_split, t.started_at, t.ends_at, t.duration_days, t.min_samples,
    t.auto_promote, t.confidence, t.decision
FROM model_ab_tests t
JOIN energy_baselines a ON a.id = t.model_a_id
JOIN energy_baselines b ON b.id = t.model_b_id
WHERE t.status = 'running'
"""

UNRESOLVED_MODEL_ALERTS = """
CREATE VIEW v_unresolved_model_alerts AS
SELECT
    al.id, al.model_id, al.machine_id, mc.name AS machine_name, al.model_type,
    al.alert_type, al.severity,
    CASE al.severity WHEN 'critical' THEN 0 ELSE 1 END AS severity_rank,
    al.message, al.details, al.occurrences, al.first_seen, al.last_seen, al.auto_action_taken
FROM model_alerts al
JOIN machines mc ON mc.id = al.machine_id
WHERE al.is_resolved = FALSE
ORDER BY severity_rank, al.last_seen DESC, al.first_seen DESC
"""


class Migration(migrations.Migration):
    dependencies = [("performance", "0001_initial")]

    operations = [
        migrations.RunSQL(LATEST_MODEL_PERFORMANCE, reverse_sql="DROP VIEW v_latest_model_performance"),
        migrations.RunSQL(ACTIVE_AB_TESTS, reverse_sql="DROP VIEW v_active_ab_tests"),
        migrations.RunSQL(UNRESOLVED_MODEL_ALERTS, reverse_sql="DROP VIEW v_unresolved_model_alerts"),
    ]
