"""Alerts carry their evidence: the check that set the current severity (`metric`), the peak
severity and its check, and how the alert was closed (`resolution`). New choices: the
`forecast_degradation` alert, the `rebaseline` trigger and the `stopped` A/B test status.

SQLite rebuilds `model_alerts` to add columns with defaults and refuses while a view names it, so
`v_unresolved_model_alerts` is dropped first and created again afterwards, now with the evidence
columns.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

previous = importlib.import_module("performance.migrations.0004_faster_views_and_leaner_metric_indexes")

UNRESOLVED_MODEL_ALERTS = """
CREATE VIEW v_unresolved_model_alerts AS
SELECT
    al.id, al.model_id, al.machine_id, mc.name AS machine_name, al.model_type,
    al.alert_type, al.severity,
    CASE al.severity WHEN 'critical' THEN 0 ELSE 1 END AS severity_rank,
    al.peak_severity, al.metric_id, al.peak_metric_id,
    al.message, al.details, al.occurrences, al.first_seen, al.last_seen, al.auto_action_taken
FROM model_alerts al
LEFT JOIN machines mc ON mc.id = al.machine_id
WHERE al.is_resolved = FALSE
ORDER BY severity_rank, al.last_seen DESC, al.first_seen DESC
"""


class Migration(migrations.Migration):
    dependencies = [
        ("performance", "0004_faster_views_and_leaner_metric_indexes"),
    ]

    operations = [
        migrations.RunSQL("DROP VIEW v_unresolved_model_alerts", reverse_sql=previous.UNRESOLVED_MODEL_ALERTS),
        migrations.AddField(
            model_name="modelalert",
            name="metric",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="performance.modelperformancemetric",
            ),
        ),
        migrations.AddField(
            model_name="modelalert",
            name="peak_metric",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="performance.modelperformancemetric",
            ),
        ),
        migrations.AddField(
            model_name="modelalert",
            name="peak_severity",
            field=models.CharField(
                blank=True, choices=[("warning", "Warning"), ("critical", "Critical")], default="", max_length=16
            ),
        ),
        migrations.AddField(
            model_name="modelalert",
            name="resolution",
            field=models.CharField(
                blank=True,
                choices=[
                    ("manual", "Resolved by staff"),
                    ("recovered", "Recovered after consecutive clean checks"),
                    ("superseded", "Superseded: its version was retired"),
                    ("rebaselined", "Re-baselined by staff"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="modelabtest",
            name="status",
            field=models.CharField(
                choices=[
                    ("running", "Running"),
                    ("completed", "Completed"),
                    ("cancelled", "Cancelled"),
                    ("stopped", "Stopped by staff"),
                ],
                default="running",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="modelalert",
            name="alert_type",
            field=models.CharField(
                choices=[
                    ("drift", "Drift"),
                    ("degradation", "Degradation"),
                    ("training_failed", "Training failed"),
                    ("ab_test_completed", "A/B test completed"),
                    ("forecast_degradation", "Forecast degradation"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="modeltraininghistory",
            name="trigger_type",
            field=models.CharField(
                choices=[
                    ("manual", "Manual"),
                    ("scheduled", "Scheduled"),
                    ("drift", "Drift"),
                    ("degradation", "Degradation"),
                    ("rebaseline", "Re-baseline decided by staff"),
                ],
                default="manual",
                max_length=16,
            ),
        ),
        migrations.RunSQL(UNRESOLVED_MODEL_ALERTS, reverse_sql="DROP VIEW v_unresolved_model_alerts"),
    ]
